"""Table-driven semantics: every construct, on the interpreter and on DuckDB, must agree.

Each table is one small policy whose definitions are the expressions under
test; a handful of records exercise nulls, missing fields, empty lists, ties
and edge dates. The SQL engine and the interpreter must give the same value
for every definition, criterion, rank and decision (see
``lead_rules.sql.differential.compare``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_MARKET, write_policy

from lead_rules.engine.policy import load_policy
from lead_rules.sql.differential import compare

MONTHS_2027 = [
    {
        "month": f"2027-{m:02d}",
        "buyin": "3",
        "hmo": "0",
        "dual": "02",
        "msp": m == 5,
        "medicaid": {"state": "NC", "delivery": "MCO" if m < 7 else "FFS", "plan_id": "P1" if m < 7 else None},
    }
    for m in range(1, 13)
]

RECORDS: list[dict[str, Any]] = [
    {"bene_id": "B1"},
    {
        "bene_id": "B2",
        "birth_date": "1950-02-28",
        "death_date": "2028-02-29",
        "residence": {"state": "NC", "county_fips": "37063"},
        "months": MONTHS_2027,
        "voluntary": [
            {"date": "2027-03-01", "tin": "111", "npi": "1", "channel": "paper"},
            {"date": "2027-03-01", "tin": "222", "npi": None, "channel": "paper"},
            {"date": "2026-01-01", "tin": "333"},
        ],
        "claims": [
            {"claim_id": "c1", "line": 1, "from_date": "2027-01-31", "tin": "111", "hcpcs": "99213", "allowed": 100.5},
            {"claim_id": "c2", "line": 2, "from_date": "2026-02-28", "tin": "222", "hcpcs": "99214", "allowed": 60.25},
            {"claim_id": "c3", "line": 1, "from_date": "2027-06-30", "tin": "222", "hcpcs": "99214", "allowed": 40.25},
            {"claim_id": "c4", "line": 1, "from_date": "2025-12-31", "tin": "444", "hcpcs": "G0438", "allowed": 0},
        ],
    },
    {
        "bene_id": "B3",
        "birth_date": "2000-02-29",
        "residence": {"state": None, "county_fips": "37183", "us": None},
        "months": [
            {"month": "2027-01", "buyin": None, "hmo": "4", "dual": None, "msp": None, "medicaid": None},
            {"month": "2027-02", "buyin": "C", "hmo": None, "msp": True, "integrated": {"type": "D-SNP"}},
            {"month": "2024-02"},
        ],
        "voluntary": [{"date": None, "tin": "111"}, {"date": "2027-12-31", "tin": None}],
        "claims": [
            {"from_date": None, "tin": "111", "allowed": 10},
            {"from_date": "2024-02-29", "tin": None, "allowed": 20},
            {"from_date": "2027-03-15", "tin": "222", "allowed": None},
            {"from_date": "2027-03-15", "tin": "111", "allowed": 10},
        ],
    },
    {
        "bene_id": "B4",
        "birth_date": "1960-12-31",
        "death_date": "2027-01-01",
        "residence": {"state": "VA", "county_fips": "51710", "us": False},
        "months": [],
        "voluntary": [],
        "claims": [
            {"from_date": "2027-05-01", "tin": "111", "allowed": 50},
            {"from_date": "2027-05-02", "tin": "222", "allowed": 30},
            {"from_date": "2027-05-03", "tin": "222", "allowed": 20},
            {"from_date": "2027-05-03", "tin": "333", "allowed": -5.5},
        ],
    },
]


def check_table(
    tmp_path: Path,
    expressions: Mapping[str, str],
    records: list[dict[str, Any]] | None = None,
    market: Mapping[str, Any] | None = None,
    **kw: Any,
) -> None:
    """Every expression (a definition) gives the same value on both engines, for every record."""
    defs = {f"d{i}": expr for i, expr in enumerate(expressions.values())}
    path = write_policy(tmp_path / "p", definitions=defs, criteria={"always": "true"}, **kw)
    policy = load_policy(path)
    diffs = compare(policy, dict(market or DEFAULT_MARKET), records or RECORDS, definitions=True, workdir=tmp_path)
    names = dict(zip(defs, expressions, strict=True))
    readable = [re.sub(r"d:(d\d+)(?=[:@])", lambda m: f"{names[m.group(1)]!r} [{m.group(1)}]", d) for d in diffs]
    assert not diffs, "\n".join(readable)


SCALARS = {
    "is null": "bene.death_date is null",
    "field through null struct": "bene.residence.state",
    "default true": "bene.residence.us",
    "in list": 'bene.residence.county_fips in ["37063", "37183"]',
    "not in set": 'bene.residence.county_fips not in {"37063"}',
    "in with null left": 'bene.residence.state in {"NC"}',
    "kleene or": 'bene.residence.state == "NC" or bene.residence.us',
    "kleene and": 'bene.residence.state == "NC" and bene.residence.us',
    "kleene and false": 'bene.residence.state == "XX" and bene.residence.us',
    "not unknown": 'not (bene.residence.state == "NC")',
    "if unknown takes else": "if bene.residence.us then 1 else 2",
    "if int or decimal": "if bene.residence.us then 1 else 2.5",
    "coalesce": "coalesce(bene.death_date, @2099-01-01)",
    "between": "between(bene.birth_date, @1940-01-01, @1960-12-31)",
    "between with null bound": "between(@1950-01-01, bene.birth_date, bene.death_date)",
    "compare dates": "bene.birth_date > @1955-01-01",
    "compare strings": 'bene.residence.state < "O"',
    "int arithmetic": "1 + 2 * 3 - 10",
    "decimal arithmetic": "2.50 * 3 + 0.125",
    "negation": "-sum(c.allowed for c in bene.claims)",
    "division": "10 / 4",
    "division repeating": "sum(c.allowed for c in bene.claims) / 3",
    "division by zero": "count(bene.claims) / count(bene.months)",
    "division of null": 'max(c.allowed for c in bene.claims where c.tin == "none") / 2',
    "round half up": "round(2.5, 0)",
    "round half up odd": "round(3.5, 0)",
    "round negative": "round(-2.5, 0)",
    "round two places": "round(sum(c.allowed for c in bene.claims) / 3, 2)",
    "abs": "abs(-3)",
    "abs decimal": "abs(min(c.allowed for c in bene.claims))",
    "len": "len(bene.bene_id)",
    "upper": "upper(bene.residence.state)",
    "lower": 'lower("AbC")',
    "starts_with": 'starts_with(bene.residence.county_fips, "37")',
    "equality of ids": 'bene.bene_id == "B2"',
    "min of values": "min(bene.birth_date, bene.death_date)",
    "max with null": "max(1, null, 3)",
    "coalesce all null": "coalesce(bene.death_date, bene.birth_date)",
}

DATES = {
    "date leap": "date(2028, 2, 29)",
    "date invalid day": "date(2027, 2, 29)",
    "date invalid month": "date(2027, 13, 1)",
    "date from fields": "date(year(bene.birth_date), 2, 29)",
    "month": "month(2027, 12)",
    "month invalid": "month(2027, 13)",
    "month_of": "month_of(bene.birth_date)",
    "add_months date": "add_months(bene.birth_date, 12)",
    "add_months clamps": "add_months(@2024-01-31, 1)",
    "add_months back": "add_months(@2024-03-31, -1)",
    "add_months record": "add_months(bene.death_date, -13)",
    "add_months month": "add_months(month(2027, 12), 1)",
    "add_months month back": "add_months(month_of(bene.death_date), -25)",
    "add_days": "add_days(bene.death_date, 1)",
    "date plus": "bene.death_date + 1",
    "date minus": "bene.death_date - 366",
    "days_between": "days_between(bene.birth_date, bene.death_date)",
    "months_between dates": "months_between(bene.birth_date, bene.death_date)",
    "months_between months": "months_between(month(2020, 1), month(2027, 12))",
    "year of date": "year(bene.birth_date)",
    "year of month": "year(month_of(bene.birth_date))",
    "first_day": "first_day(month_of(bene.death_date))",
    "last_day": "last_day(month_of(bene.birth_date))",
    "last_day leap": "last_day(month(2024, 2))",
    "month plus": "month_of(bene.death_date) + 1",
    "month minus across years": "month_of(bene.death_date) - 13",
    "month compare": "month_of(bene.birth_date) < month(1960, 1)",
    "record months": "list(m.month for m in bene.months where m.month >= @2027-02)",
    "record month arithmetic": "max(m.month + 11 for m in bene.months)",
}

COMPREHENSIONS = {
    "count where": "count(c for c in bene.claims where c.allowed > 50)",
    "count list": "count(bene.months)",
    "sum": "sum(c.allowed for c in bene.claims)",
    "sum empty": 'sum(c.allowed for c in bene.claims where c.tin == "999")',
    "sum ints": "sum(c.line for c in bene.claims)",
    "min": "min(c.from_date for c in bene.claims)",
    "max where": "max(c.allowed for c in bene.claims where c.tin is not null)",
    "any unknown": "any(m.msp for m in bene.months)",
    "all unknown": "all(m.msp for m in bene.months)",
    "any where": 'any(m.buyin in {"3", "C"} for m in bene.months where m.month >= @2027-06)',
    "all empty": 'all(m.hmo == "0" for m in bene.months where m.month > @2030-01)',
    "list": "list(c.tin for c in bene.claims)",
    "list where unknown": "list(c.tin for c in bene.claims where c.allowed > 15)",
    "distinct": "distinct(c.tin for c in bene.claims)",
    "distinct months": "distinct(m.month for m in bene.months)",
    "group_sum": "group_sum(c.allowed for c in bene.claims by c.tin)",
    "group_sum ints by date": "group_sum(c.line for c in bene.claims by c.from_date)",
    "group field": 'sum(g.total for g in group_sum(c.allowed for c in bene.claims by c.tin) where g.key != "444")',
    "argmax none": 'argmax(c.tin for c in bene.claims by c.allowed, ties = "none")',
    "argmax lowest": 'argmax(c.tin for c in bene.claims by c.from_date, ties = "lowest")',
    "argmax highest": 'argmax(c.tin for c in bene.claims by c.from_date, ties = "highest")',
    "argmin": 'argmin(c.tin for c in bene.claims by c.allowed, ties = "lowest")',
    "argmax then": 'argmax(v.tin for v in bene.voluntary by v.date then v.npi, ties = "none")',
    "argmin then": 'argmin(v.tin for v in bene.voluntary by v.date then v.npi, ties = "none")',
    "argmax groups": (
        'argmax(g.key for g in group_sum(c.allowed for c in bene.claims by c.tin) by g.total, ties = "none")'
    ),
    "list functions": "sum([1, 2, null]) + min([3, 1]) + count([null])",
    "any list": "any([true, null])",
    "all list": "all([true, null])",
    "distinct list": "distinct([3, 1, 3, null])",
    "nested struct field": 'count(m for m in bene.months where m.medicaid.delivery == "MCO")',
    "nested lambda": "count(c for c in bene.claims where any(m.month == month_of(c.from_date) for m in bene.months))",
    "nested capture": "all(count(c2 for c2 in bene.claims where c2.tin == c.tin) >= 1 for c in bene.claims)",
    "weighted sum": "sum(c.allowed * (if c.from_date < @2027-01-01 then 1 else 2) for c in bene.claims)",
    "market unrolled": "count(a for a in market.acos where bene.residence.county_fips in a.service_area_counties)",
    "market min": "min(a.id for a in market.acos where any(c.tin in a.participant_tins for c in bene.claims))",
    "market list": 'list(a.id for a in market.acos where bene.residence.state == "NC")',
}

ACO_LEVEL = {
    "service area": "bene.residence.county_fips in aco.service_area_counties",
    "charges here": "sum(c.allowed for c in bene.claims where c.tin in aco.participant_tins)",
    "aco constant": "count(aco.participant_tins)",
    "aco mixed": "if count(c for c in bene.claims where c.tin in aco.participant_tins) > 1 then aco.id else null",
}


@pytest.mark.parametrize(
    "table", [SCALARS, DATES, COMPREHENSIONS, ACO_LEVEL], ids=["scalars", "dates", "comprehensions", "aco"]
)
def test_table_agrees(tmp_path: Path, table: Mapping[str, str]) -> None:
    check_table(tmp_path, table)


def test_parameters_agree(tmp_path: Path) -> None:
    params = {
        "codes": {"type": "set<string>", "value": ["111", "222"]},
        "weight": {"type": "decimal", "value": 0.5},
        "start": {"type": "month", "value": "2027-02"},
        "rule": {"type": "string", "value": "lowest"},
        "empty": {"type": "set<string>", "value": []},
    }
    check_table(
        tmp_path,
        {
            "set param": "count(c for c in bene.claims where c.tin in codes)",
            "decimal param": "sum(c.allowed * weight for c in bene.claims)",
            "month param": "count(m for m in bene.months where m.month >= start)",
            "tie param": "argmax(c.tin for c in bene.claims by c.from_date, ties = rule)",
            "empty set": "bene.residence.state in empty",
        },
        parameters=params,
    )


# --- pathways, ties, hierarchy, reasons ------------------------------------------------

TIE_MARKET = {
    "performance_year": 2028,
    "acos": [
        {"id": "B-ACO", "participant_tins": ["222"], "service_area_counties": ["37063", "37183"]},
        {"id": "A-ACO", "participant_tins": ["111"], "service_area_counties": ["37063"]},
        {"id": "C-ACO", "participant_tins": ["333"], "service_area_counties": ["51710"]},
    ],
}


@pytest.mark.parametrize("on_tie", ["not_aligned", "lowest_aco_id", None])
@pytest.mark.parametrize("rank", ["charges", None])
def test_pathway_ties_agree(tmp_path: Path, on_tie: str | None, rank: str | None) -> None:
    tie: dict[str, Any] = {}
    if on_tie is not None:
        tie["on_tie"] = f'"{on_tie}"'
    if rank is not None:
        tie["rank"] = rank
    claims_pw: dict[str, Any] = {"requires": ["has_claims_here", {"any": ["local", {"not": "far"}]}]}
    if tie:
        tie.setdefault("on_tie", '"not_aligned"')
        claims_pw["tie"] = tie
    path = write_policy(
        tmp_path / "p",
        definitions={"charges": "sum(c.allowed for c in bene.claims where c.tin in aco.participant_tins)"},
        criteria={
            "designated": "any(v.tin in aco.participant_tins for v in bene.voluntary where v.date is not null)",
            "has_claims_here": "count(c for c in bene.claims where c.tin in aco.participant_tins) > 0",
            "local": "bene.residence.county_fips in aco.service_area_counties",
            "far": "bene.residence.us == false",
            "alive": "bene.death_date is null or bene.death_date >= @2028-01-01",
        },
        pathways={"voluntary": {"requires": ["designated", "alive"]}, "claims": claims_pw},
        hierarchy=["voluntary", "claims"],
    )
    policy = load_policy(path)
    diffs = compare(policy, TIE_MARKET, RECORDS, workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


def test_market_without_acos(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "p",
        criteria={
            "here": "bene.residence.county_fips in aco.service_area_counties",
            "alive": "bene.death_date is null",
        },
        pathways={"p": {"requires": ["alive", "here"]}},
    )
    diffs = compare(load_policy(path), {"performance_year": 2028, "acos": []}, RECORDS, workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


def test_bene_level_on_tie_rule(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path / "p",
        definitions={"rule": 'if bene.residence.state == "NC" then "lowest_aco_id" else "not_aligned"'},
        criteria={"has_claims_here": "count(c for c in bene.claims where c.tin in aco.participant_tins) > 0"},
        pathways={"p": {"requires": ["has_claims_here"], "tie": {"on_tie": "rule"}}},
    )
    diffs = compare(load_policy(path), TIE_MARKET, RECORDS, workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


def test_invalid_records_are_errors_on_both(tmp_path: Path) -> None:
    bad = [
        {"bene_id": "E1", "birth_date": "1950-13-01"},
        {"bene_id": "E2", "claims": [{"tin": 123}]},
        {"bene_id": "E3", "months": [{"buyin": "3"}]},
        {"bene_id": "E4", "months": None},
        {"bene_id": ""},
        {"birth_date": "1950-01-01"},
        {"bene_id": "E7", "voluntary": {"tin": "1"}},
        {"bene_id": "E8", "residence": "NC"},
        {"bene_id": "E9", "claims": [5]},
        {"bene_id": "E10", "months": [{"month": "2027-1"}]},
        {"bene_id": "OK1", "residence": {"state": "NC"}, "extra": {"claims": 5}},
        {
            "bene_id": "OK2",
            "months": [{"month": "2027-01", "msp": "yes"}],
            "claims": [{"line": "3", "allowed": "12.5"}],
        },
    ]
    path = write_policy(tmp_path / "p", criteria={"us": "bene.residence.us == true"})
    diffs = compare(load_policy(path), DEFAULT_MARKET, bad, workdir=tmp_path)
    assert not diffs, "\n".join(diffs)


SHARED_TIN_MARKET: dict[str, Any] = {
    "performance_year": 2028,
    "acos": [
        {"id": "A2", "participant_tins": ["111", "222"], "service_area_counties": ["37063"]},
        {"id": "A1", "participant_tins": ["222", "444"], "service_area_counties": ["37183", "37063"]},
        {"id": "A3", "participant_tins": [], "service_area_counties": []},
    ],
}

REWRITES = {  # the one-pass, tabulated and hoisted forms of sql/fused.py, over TINs in several ACOs
    "aco of a tin": "list(min(a.id for a in market.acos where c.tin in a.participant_tins) for c in bene.claims)",
    "highest aco of a tin": (
        "list(max(a.id for a in market.acos where c.tin in a.participant_tins) for c in bene.claims)"
    ),
    "acos of a tin": "list(count(a for a in market.acos where c.tin in a.participant_tins) for c in bene.claims)",
    "hoisted county test": (
        "count(c for c in bene.claims where any(c.tin in a.participant_tins"
        " and coalesce(bene.residence.county_fips in a.service_area_counties, true) for a in market.acos))"
    ),
    "any where unknown": "any(m.msp for m in bene.months where m.buyin is not null)",
    "all where": 'all(m.hmo in {"0", "4"} for m in bene.months where m.month >= @2027-03)',
    "min where": "min(c.from_date for c in bene.claims where c.allowed > 0)",
    "count distinct": "count(distinct(c.tin for c in bene.claims))",
}


def test_rewrites_agree(tmp_path: Path) -> None:
    check_table(tmp_path, REWRITES, market=SHARED_TIN_MARKET)


def test_rewrites_are_used(tmp_path: Path) -> None:
    """The LEAD-shaped expressions take the cheaper forms (else the test above would not exercise them)."""
    from lead_rules.engine.policy import load_market
    from lead_rules.sql.compiler import compile_policy

    defs = {f"d{i}": expr for i, expr in enumerate(REWRITES.values())}
    policy = load_policy(write_policy(tmp_path / "p", definitions=defs, criteria={"always": "true"}))
    sql = compile_policy(policy, load_market(dict(SHARED_TIN_MARKET), policy), "duckdb", definitions=True).sql()
    assert "LIST_POSITION(" in sql  # the ACO of a TIN, tabulated
    assert '"h:1"' in sql  # the county test, once per record
    assert "LIST_COUNT(" in sql  # a count with a where, one pass
