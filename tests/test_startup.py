"""Startup: what a command imports and loads before it needs it (issue 12: startup under 0.5 s).

A cached ``lead-rules align`` needs neither SQLGlot (its query text is cached) nor
the bundled schemas at import time; these tests keep it that way.
"""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path


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


def _parse_in_subprocess(cache_home: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    code = "from lead_rules.language.parser import parse_text; print(parse_text('a and b').data)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip()


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_the_grammar_cache_is_unpickled_only_from_a_private_folder(tmp_path: Path) -> None:
    _parse_in_subprocess(tmp_path)  # the first run writes the parse tables
    folder = tmp_path / "lead-rules"
    [cache] = folder.glob("expr-*.lark-cache")
    assert not folder.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    marker = tmp_path / "pwned"
    cache.write_bytes(b"0\n" + pickle.dumps(_Payload(marker)))  # what another account could plant
    for mode in (0o777, 0o770):
        folder.chmod(mode)
        _parse_in_subprocess(tmp_path)
        assert not marker.exists()
    folder.chmod(0o700)
    cache.chmod(0o666)  # the file itself writable by others
    _parse_in_subprocess(tmp_path)
    assert not marker.exists()
