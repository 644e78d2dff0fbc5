"""The same semantics on Spark (local mode): corpus, tables, invalid records, Hypothesis sample.

Skipped when pyspark or Java is missing; CI installs both (``pip install
pyspark``) and runs these. Spark reads the same files and runs the SQLGlot
transpilation of the same compiled query.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - CI installs Java
    pytest.skip("no Java for Spark", allow_module_level=True)

from conftest import DEFAULT_MARKET, EXAMPLE, EXAMPLE_MARKET, write_policy  # noqa: E402
from test_sql_corpus import CORPUS  # noqa: E402
from test_sql_semantics import ACO_LEVEL, COMPREHENSIONS, DATES, RECORDS, SCALARS, TIE_MARKET  # noqa: E402

from lead_rules.engine.policy import load_market, load_policy  # noqa: E402
from lead_rules.sql.differential import compare  # noqa: E402
from lead_rules.sql.run import align  # noqa: E402


@pytest.mark.parametrize("group", sorted(CORPUS))
def test_corpus_on_spark(tmp_path: Path, group: str) -> None:
    policy, market, cases = CORPUS[group]
    diffs = compare(policy, market, [r for _, r in cases], engine="spark", workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


@pytest.mark.parametrize("table", [SCALARS, DATES, COMPREHENSIONS, ACO_LEVEL], ids=["scalars", "dates", "lists", "aco"])
def test_tables_on_spark(tmp_path: Path, table: dict[str, str]) -> None:
    defs = {f"d{i}": expr for i, expr in enumerate(table.values())}
    policy = load_policy(write_policy(tmp_path / "p", definitions=defs, criteria={"always": "true"}))
    diffs = compare(policy, DEFAULT_MARKET, RECORDS, engine="spark", definitions=True, workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


def test_pathway_ties_on_spark(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "p",
        definitions={"charges": "sum(c.allowed for c in bene.claims where c.tin in aco.participant_tins)"},
        criteria={"here": "count(c for c in bene.claims where c.tin in aco.participant_tins) > 0"},
        pathways={"p": {"requires": ["here"], "tie": {"rank": "charges", "on_tie": '"lowest_aco_id"'}}},
    )
    diffs = compare(load_policy(path), TIE_MARKET, RECORDS, engine="spark", workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


def test_invalid_records_on_spark(tmp_path: Path) -> None:
    from test_sql_semantics import test_invalid_records_are_errors_on_both  # noqa: F401

    bad: list[dict[str, Any]] = [
        {"bene_id": "E1", "birth_date": "1950-13-01"},
        {"bene_id": "E2", "claims": [{"tin": 123}]},
        {"bene_id": "E4", "months": None},
        {"bene_id": ""},
        {"bene_id": "E9", "claims": [5]},
        {"bene_id": "OK1", "residence": {"state": "NC", "us": None}},
        {"bene_id": "OK2", "months": [{"month": "2027-01", "msp": "yes"}]},
        {"bene_id": "OK3", "claims": [{"line": "3", "allowed": "12.5"}]},
    ]
    policy = load_policy(write_policy(tmp_path / "p", criteria={"us": "bene.residence.us == true"}))
    diffs = compare(policy, DEFAULT_MARKET, bad, engine="spark", workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


def test_align_on_spark_matches_duckdb(tmp_path: Path) -> None:
    from lead_rules.synth.generate import write_population

    pop = write_population(tmp_path / "pop", 200, seed=9)
    for src in (pop["jsonl"], pop["parquet"]):
        s_duck = align(EXAMPLE, pop["market"], src, tmp_path / "d.parquet", engine="duckdb", progress=False)
        s_spark = align(EXAMPLE, pop["market"], src, tmp_path / "s.parquet", engine="spark", progress=False)
        for key in ("read", "decided", "errors", "aligned", "not_aligned", "by_pathway"):
            assert s_duck[key] == s_spark[key], key
    # a narrower column set: the same decisions, only the decision columns
    import duckdb

    narrow = tmp_path / "narrow.parquet"
    align(EXAMPLE, pop["market"], pop["parquet"], narrow, engine="spark", progress=False, columns="decisions")
    con = duckdb.connect()
    assert con.sql(f"SELECT * FROM read_parquet('{narrow}') LIMIT 0").columns == [
        "bene_id",
        "outcome",
        "aco_id",
        "pathway",
        "cause",
    ]
    keys = "bene_id, outcome, aco_id, pathway"
    full = tmp_path / "s.parquet"  # the Parquet input's full output, from the loop above
    assert con.sql(f"SELECT {keys} FROM read_parquet('{narrow}')").fetchall() == (
        con.sql(f"SELECT {keys} FROM read_parquet('{full}')").fetchall()
    )
    _ = (EXAMPLE_MARKET, load_market)
