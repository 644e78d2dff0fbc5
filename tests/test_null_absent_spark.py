"""Null and absent agree on Spark too (test_null_absent.py): JSON Lines with absent keys, with
nulls, and Parquet give the interpreter's decisions. Skipped without pyspark or Java, as the
other Spark tests (tests/*spark*)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - CI installs Java
    pytest.skip("no Java for Spark", allow_module_level=True)

from test_null_absent import aligned, assert_same, population  # noqa: E402, F401 - the shared fixture


def test_spark_decides_null_absent_and_parquet_as_the_interpreter(population: dict[str, Any]) -> None:  # noqa: F811
    results = {"interpreter": aligned(population, "interpreter", "absent")}
    results.update({f"spark {s}": aligned(population, "spark", s) for s in ("absent", "null", "parquet")})
    assert_same(population, results)
