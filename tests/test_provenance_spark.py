"""Provenance on Spark's outputs too (test_provenance.py): Parquet metadata and the JSON Lines
summary line name the engine ``spark``. Skipped without pyspark or Java, as the other Spark tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - CI installs Java
    pytest.skip("no Java for Spark", allow_module_level=True)

from test_provenance import LEAD, assert_provenance, pop  # noqa: E402, F401 - the shared fixture

from lead_rules.engine.provenance import read_provenance  # noqa: E402
from lead_rules.sql.run import align  # noqa: E402


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_spark_outputs_record_provenance(pop: dict[str, Path], fmt: str) -> None:  # noqa: F811
    out = pop["root"] / f"spark.{fmt}"
    summary = align(LEAD, pop["market"], pop["jsonl"], out, engine="spark", progress=False, columns="decisions")
    assert_provenance(read_provenance(out), "spark", pop, pop["jsonl"])
    assert summary["provenance"]["engine"] == "spark"
