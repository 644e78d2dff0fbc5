"""Spark's JSON fast path gives the interpreter's verdict on corrupted input (issue 8).

Every corruption class of :mod:`corrupt_lines` once, a repeated ``bene_id``, then a
bounded fuzzed file (fixed seed, as :mod:`test_fuzz_differential`): on Spark each line
is one row, ``read = decided + errors``, and the outcome, ACO, pathway *and cause*
equal the interpreter engine's -- duplicate keys at any depth, money range and scale,
strict JSON, ASCII digits, year range, dates that are not datetimes, bytes that are not
UTF-8, deep nesting, record ints beyond 64 bits. A repeated ``bene_id`` in Parquet is an error row naming the first row.
Skipped without pyspark or Java, like tests/test_sql_spark.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - CI installs Java
    pytest.skip("no Java for Spark", allow_module_level=True)

from corrupt_lines import MUTATIONS, corrupted_cases, corrupted_lines  # noqa: E402
from test_security_overflow import INT_TEXTS, int_lines  # noqa: E402

from lead_rules.sql.run import align  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"
MARKET = EXAMPLE / "markets" / "example-2028.yaml"
SEED, N = 11, 120


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(src: Path, tmp_path: Path, engine: str) -> list[dict[str, Any]]:
    out = tmp_path / f"{engine}.jsonl"
    summary = align(EXAMPLE, MARKET, src, out, engine=engine, progress=False)
    rows = _rows(out)
    assert summary["read"] == summary["decided"] + summary["errors"] == len(rows)
    return rows


def test_spark_gives_the_interpreters_verdict_and_cause_on_every_corruption(tmp_path: Path) -> None:
    names = sorted(MUTATIONS)
    lines = corrupted_lines(seed=8, n=len(names))
    lines.append(lines[names.index("valid")])  # a repeated bene_id
    names.append("repeated-id")
    names += [f"int:{text}" for text in INT_TEXTS]  # record ints around the 64-bit range
    lines += int_lines()
    fuzzed = corrupted_cases(SEED, N)
    names += [f"fuzz:{name}" for name, _ in fuzzed]
    lines += [line for _, line in fuzzed]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n\n".join(lines) + b"\n")  # blank lines between: numbering counts them, as files do
    spark, interpreter = _run(src, tmp_path, "spark"), _run(src, tmp_path, "interpreter")
    assert len(spark) == len(interpreter) == len(lines)
    keys = ("bene_id", "outcome", "aco_id", "pathway", "cause")
    diffs = [
        f"{name}: spark {[s[k] for k in keys]} != interpreter {[i[k] for k in keys]}"
        for name, s, i in zip(names, spark, interpreter, strict=True)
        if any(s[k] != i[k] for k in keys)
    ]
    assert not diffs, "\n".join(d[:300] for d in diffs[:20])
    by_name = dict(zip(names, spark, strict=True))
    for name in ("duplicate-key", "nested-duplicate-key", "money-too-large", "invalid-utf8", "deep-nesting"):
        assert by_name[name]["outcome"] == "error", name
    first = 2 * names.index("valid") + 1  # the line of the first copy, blank lines counted
    assert by_name["repeated-id"]["cause"] == f"bene_id: duplicate, first decided at line {first}"


def test_a_repeated_bene_id_in_parquet_is_an_error_row_on_spark(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lead_rules.synth.generate import write_population

    pop = write_population(tmp_path / "pop", 6, seed=3)
    table = pq.read_table(pop["parquet"])
    src = tmp_path / "repeated.parquet"
    pq.write_table(pa.concat_tables([table, table.slice(1, 1)]), src)
    spark, interpreter = _run(src, tmp_path, "spark"), _run(src, tmp_path, "interpreter")
    assert [(r["outcome"], r["cause"]) for r in spark] == [(r["outcome"], r["cause"]) for r in interpreter]
    assert spark[-1]["cause"] == "bene_id: duplicate, first decided at line 2"
