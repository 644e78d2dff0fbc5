"""The SQL compiler: golden SQL, dialect checks, and the shape of the compiled query."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from conftest import EXAMPLE, EXAMPLE_MARKET, REPO, write_policy

from lead_rules.engine.policy import load_market, load_policy
from lead_rules.sql.compiler import DIALECTS, compile_policy

GOLDEN_SQL = Path(__file__).resolve().parent / "golden_sql"
LEAD = REPO / "policies" / "lead"
LEAD_MARKET = LEAD / "markets" / "demo-2028.yaml"


def _rel(text: str) -> str:
    return text.replace(str(REPO) + "/", "")


def _golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN_SQL / name
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (run with --update-golden after review)"


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_golden_sql_example(dialect: str, update_golden: bool) -> None:
    compiled = compile_policy(load_policy(EXAMPLE), load_market(EXAMPLE_MARKET), dialect)
    assert compiled.errors == []
    _golden(f"example.{dialect}.sql", compiled.sql() + "\n", update_golden)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_compiles_or_reports(dialect: str, update_golden: bool) -> None:
    compiled = compile_policy(load_policy(EXAMPLE), load_market(EXAMPLE_MARKET), dialect)
    sqlglot.parse_one(compiled.sql(), read=dialect)  # the output parses back in its dialect
    report = "".join(_rel(str(i)) + "\n" for i in compiled.issues)
    _golden(f"example.{dialect}.issues.txt", report, update_golden)
    if dialect in ("duckdb", "spark", "snowflake"):
        assert compiled.errors == []
    else:  # no higher-order list functions: every comprehension is reported with its place
        assert compiled.errors
        assert all(i.span.line > 0 for i in compiled.errors if i.code == "S101")


@pytest.mark.skipif(not LEAD.exists(), reason="the LEAD policy is not there yet")
@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_lead_policy_compiles(dialect: str) -> None:
    compiled = compile_policy(load_policy(LEAD), load_market(LEAD_MARKET), dialect)
    assert compiled.errors == [], "\n".join(map(str, compiled.errors))
    assert {c.name for c in compiled.columns if c.kind == "criterion"} == set(load_policy(LEAD).criteria())


def test_columns_per_aco(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "p",
        criteria={
            "here": "bene.residence.county_fips in aco.service_area_counties",
            "alive": "bene.death_date is null",
        },
        pathways={"p": {"requires": ["alive", "here"], "tie": {"rank": "1", "on_tie": '"not_aligned"'}}},
    )
    market = {"performance_year": 2028, "acos": [{"id": "X"}, {"id": "Y"}]}
    compiled = compile_policy(load_policy(path), load_market_dict(market))
    cols = [c.column for c in compiled.columns]
    assert cols == ["c:here@X", "c:here@Y", "c:alive", "rank:p@X", "rank:p@Y"]
    assert compiled.criterion_column("here", "Y") == "c:here@Y"
    assert compiled.criterion_column("alive", "Y") == "c:alive"


def load_market_dict(data: dict[str, object]):  # type: ignore[no-untyped-def]
    from lead_rules.language.records import Market

    return Market.model_validate(data)


def test_constants_are_folded(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "p",
        parameters={"codes": {"type": "set<string>", "value": ["b", "a"]}},
        definitions={"py": "market.performance_year", "start": "date(py - 1, 1, 1)"},
        criteria={"recent": "bene.death_date >= start and bene.residence.state in codes"},
    )
    sql = compile_policy(load_policy(path), load_market_dict({"performance_year": 2028})).sql()
    assert "CAST('2027-01-01' AS DATE)" in sql  # evaluated by the interpreter, inlined
    assert "['a', 'b']" in sql  # a set constant, sorted
    assert "performance_year" not in sql


def test_unsupported_constructs_are_reported(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "p",
        definitions={"r": "round(sum(c.allowed for c in bene.claims), count(bene.claims))"},
        criteria={"c1": "r > 0", "c2": '{bene.residence.state} == {"NC"}'},
        pathways={"p": {"requires": ["c1", "c2"]}},
    )
    compiled = compile_policy(load_policy(path), load_market_dict({"performance_year": 2028}))
    codes = {i.code for i in compiled.errors}
    assert {"S103", "S105"} <= codes
    for issue in compiled.errors:
        assert issue.span.file.endswith("policy.yaml") and issue.span.line > 0
    notes = compile_policy(load_policy(EXAMPLE), load_market(EXAMPLE_MARKET), "postgres").errors
    assert any("lambdas" in i.message for i in notes)


def test_division_is_noted(tmp_path: Path) -> None:
    path = write_policy(tmp_path / "p", criteria={"c": "count(bene.claims) / 3 > 1"})
    compiled = compile_policy(load_policy(path), load_market_dict({"performance_year": 2028}))
    assert [i.code for i in compiled.issues] == ["S201"]
    assert compiled.errors == []
