"""Startup: what a command imports and loads before it needs it (issue 12: startup under 0.5 s).

A cached ``lead-rules align`` needs neither SQLGlot (its query text is cached) nor
the bundled schemas at import time; these tests keep it that way.
"""

from __future__ import annotations

import subprocess
import sys


def test_plain_quoting_does_not_import_sqlglot() -> None:
    code = (
        "import sys; from lead_rules.sql.quoting import identifier, literal, scan; "
        "print(identifier('a\"b'), literal(\"it's\"), scan('read_parquet', '/x.parquet'), 'sqlglot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ['"a""b"', "'it''s'", "READ_PARQUET('/x.parquet')", "False"]


def test_importing_the_duckdb_readers_loads_no_schema() -> None:
    code = (
        "import lead_rules.sql.duckdb_io as d; from lead_rules.language.schema import bundled_schemas as b; "
        "before = b.cache_info().currsize; fields = d.BENEFICIARY_FIELDS; "
        "print(before, b.cache_info().currsize, fields is d.record_fields(None), 'bene_id' in [f.name for f in fields])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "1", "True", "True"]
