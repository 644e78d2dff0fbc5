"""The interpreter, table-driven: every operator, builtin and aggregate, with the null rules.

Expected values are worked out by hand from docs/language.md (section 2 and
the three-valued rules of section 3). Each expression is evaluated as a
definition of a tiny policy, by the fast closures and by the traced ones
(the ``ev`` fixture checks that both agree, value and Python type).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import ExprEvaluator

from lead_rules.engine.policy import Policy, load_policy
from lead_rules.language.values import Month

T, F, N = True, False, None
D = Decimal


def date(y: int, m: int, d: int) -> dt.date:
    return dt.date(y, m, d)


def check(ev: ExprEvaluator, expr: str, expected: Any, **kw: Any) -> None:
    got = ev(expr, **kw)
    assert type(got) is type(expected) and got == expected, f"{expr}: got {got!r}, expected {expected!r}"


# --- three-valued logic ------------------------------------------------------------

LIT = {T: "true", F: "false", N: "null"}
AND = {(T, T): T, (T, F): F, (T, N): N, (F, T): F, (F, F): F, (F, N): F, (N, T): N, (N, F): F, (N, N): N}
OR = {(T, T): T, (T, F): T, (T, N): T, (F, T): T, (F, F): F, (F, N): N, (N, T): T, (N, F): N, (N, N): N}
NOT = {T: F, F: T, N: N}


@pytest.mark.parametrize(("a", "b"), list(AND), ids=[f"{LIT[a]}-{LIT[b]}" for a, b in AND])
def test_kleene_and_or_tables(ev: ExprEvaluator, a: bool | None, b: bool | None) -> None:
    check(ev, f"{LIT[a]} and {LIT[b]}", AND[a, b])
    check(ev, f"{LIT[a]} or {LIT[b]}", OR[a, b])


@pytest.mark.parametrize("a", [T, F, N])
def test_kleene_not_table(ev: ExprEvaluator, a: bool | None) -> None:
    check(ev, f"not {LIT[a]}", NOT[a])


# the same tables with operands computed from the record (null from a missing field)
OPERAND = {T: "bene.bene_id == 'B'", F: "bene.bene_id == 'X'", N: "bene.death_date > @2000-01-01"}


@pytest.mark.parametrize(("a", "b"), list(AND), ids=[f"{LIT[a]}-{LIT[b]}" for a, b in AND])
def test_kleene_tables_on_record_values(ev: ExprEvaluator, a: bool | None, b: bool | None) -> None:
    check(ev, f"{OPERAND[a]} and {OPERAND[b]}", AND[a, b])
    check(ev, f"{OPERAND[a]} or {OPERAND[b]}", OR[a, b])
    check(ev, f"not ({OPERAND[a]})", NOT[a])


LOGIC = [
    ("false and null and true", F),
    ("true and true and null", N),
    ("null or false or null", N),
    ("null or false or true", T),
    ("true and (false or null)", N),
    ("not (null and false)", T),
    ("not not null", N),
]

# --- arithmetic, comparison, membership, null tests, conditionals --------------------

OPERATORS: list[tuple[str, Any]] = [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5),
    ("2 - 5", -3),
    ("-(2 - 5)", 3),
    ("- - 4", 4),
    ("7 / 2", D("3.5")),
    ("6 / 3", D("2")),
    ("0 / 5", D("0")),
    ("1 / 0", N),  # division by zero is null
    ("1.5 / 0", N),
    ("0 / 0", N),
    ("2 * 1.5", D("3.0")),
    ("1 + 0.25", D("1.25")),
    ("0.1 + 0.2 == 0.3", T),  # decimals are exact
    ("null + 1", N),
    ("1 - null", N),
    ("null * 2", N),
    ("null / 2", N),
    ("2 / null", N),
    ("-null", N),
    ("1 < 2", T),
    ("2 <= 2", T),
    ("3 > 4", F),
    ("3 >= 4", F),
    ("1 == 1.0", T),
    ("1 != 1", F),
    ("'a' < 'b'", T),
    ("'abc' == \"abc\"", T),
    ("@2027-01-01 < @2027-01-02", T),
    ("@2027-01 >= @2027-02", F),
    ("null == null", N),
    ("null != 1", N),
    ("1 < null", N),
    ("bene.birth_date > @2000-01-01", N),
    ("1 in [1, 2]", T),
    ("3 in [1, 2]", F),
    ("3 not in [1, 2]", T),
    ("1 not in [1]", F),
    ("null in [1, 2]", N),
    ("null not in [1]", N),
    ("1 in []", F),
    ("1 not in []", T),
    ("'02' in {'02', '04'}", T),
    ("'a' in ['a', null]", T),
    ("'b' in ['a', null]", F),  # a null element does not make membership unknown
    ("@2027-02 in [@2027-01, @2027-02]", T),
    ("null is null", T),
    ("1 is null", F),
    ("1 is not null", T),
    ("null is not null", F),
    ("bene.death_date is null", T),
    ("(1 / 0) is null", T),
    ("if true then 1 else 2", 1),
    ("if false then 1 else 2", 2),
    ("if null then 1 else 2", 2),  # unknown takes else
    ("if bene.death_date > @2000-01-01 then 'dead' else 'alive'", "alive"),
    ("if true then null else 1", N),
    ("if 1 > 2 then 'a' else if 2 > 1 then 'b' else 'c'", "b"),
    ("[1, 2] == [1, 2]", T),
    ("[1, 2] == [2, 1]", F),
    ("{1, 2} == {2, 1}", T),
    ("[] == []", T),
    ("bene.claims == []", T),  # a record list equals a list literal
    ("bene.claims != []", F),
    ("'a\\nb' == 'a' ", F),
    ("len('a\\nb')", 3),
    *LOGIC,
]


@pytest.mark.parametrize(("expr", "expected"), OPERATORS, ids=[e for e, _ in OPERATORS])
def test_operators(ev: ExprEvaluator, expr: str, expected: Any) -> None:
    check(ev, expr, expected)


# --- builtins ----------------------------------------------------------------------

BUILTINS: list[tuple[str, Any]] = [
    ("coalesce(null, 2)", 2),
    ("coalesce(1, 2)", 1),
    ("coalesce(null, null, 3)", 3),
    ("coalesce(null, null)", N),
    ("coalesce(bene.death_date, @2099-12-31)", date(2099, 12, 31)),
    ("between(2, 1, 3)", T),
    ("between(1, 1, 3)", T),
    ("between(3, 1, 3)", T),
    ("between(4, 1, 3)", F),
    ("between(null, 1, 3)", N),
    ("between(5, null, 3)", F),  # null <= 5 is unknown, 5 <= 3 is false
    ("between(2, null, 3)", N),
    ("between(0, 1, null)", F),
    ("between(@2027-06-30, @2027-01-01, @2027-12-31)", T),
    ("date(2027, 2, 28)", date(2027, 2, 28)),
    ("date(2027, 2, 29)", N),  # out of range: null
    ("date(2028, 2, 29)", date(2028, 2, 29)),
    ("date(2027, 13, 1)", N),
    ("date(null, 1, 1)", N),
    ("month(2027, 12)", Month(2027, 12)),
    ("month(2027, 13)", N),
    ("month(2027, 0)", N),
    ("month_of(@2027-03-04)", Month(2027, 3)),
    ("add_months(@2027-01, 1)", Month(2027, 2)),
    ("add_months(@2027-12, 1)", Month(2028, 1)),
    ("add_months(@2027-01, -1)", Month(2026, 12)),
    ("add_months(@2027-01, 0)", Month(2027, 1)),
    ("add_months(@2027-01-31, 1)", date(2027, 2, 28)),  # end of month clamps
    ("add_months(@2028-01-31, 1)", date(2028, 2, 29)),  # leap year
    ("add_months(@2027-03-31, -1)", date(2027, 2, 28)),
    ("add_months(@2027-05-31, 1)", date(2027, 6, 30)),
    ("add_months(@2027-01-15, 12)", date(2028, 1, 15)),
    ("add_months(@2027-08-31, -18)", date(2026, 2, 28)),
    ("add_months(@2028-02-29, 12)", date(2029, 2, 28)),
    ("add_months(null, 1)", N),
    ("add_months(@2027-01, null)", N),
    ("add_months(@9999-12, 1)", N),
    ("add_months(@9999-12-31, 1)", N),
    ("add_days(@2027-12-31, 1)", date(2028, 1, 1)),
    ("add_days(@2028-03-01, -1)", date(2028, 2, 29)),
    ("add_days(@9999-12-31, 1)", N),
    ("days_between(@2027-01-01, @2027-03-01)", 59),
    ("days_between(@2028-01-01, @2028-03-01)", 60),
    ("days_between(@2027-03-01, @2027-01-01)", -59),
    ("days_between(null, @2027-01-01)", N),
    ("months_between(@2027-01, @2028-03)", 14),
    ("months_between(@2027-05, @2027-02)", -3),
    ("months_between(@2027-01-31, @2027-02-01)", 1),  # calendar months
    ("year(@2027-05)", 2027),
    ("year(@2027-05-06)", 2027),
    ("year(bene.birth_date)", N),
    ("first_day(@2028-02)", date(2028, 2, 1)),
    ("last_day(@2028-02)", date(2028, 2, 29)),
    ("last_day(@2027-02)", date(2027, 2, 28)),
    ("last_day(@2027-12)", date(2027, 12, 31)),
    ("@2027-01-01 + 31", date(2027, 2, 1)),  # date + int adds days
    ("@2027-03-01 - 1", date(2027, 2, 28)),
    ("@2027-01 + 13", Month(2028, 2)),
    ("@2027-01 - 1", Month(2026, 12)),
    ("@9999-12-31 + 1", N),
    ("@9999-12 + 1", N),
    ("@0001-01 - 1", N),
    ("@2027-01-01 + null", N),
    ("abs(-3)", 3),
    ("abs(3)", 3),
    ("abs(-2.5)", D("2.5")),
    ("abs(null)", N),
    ("round(2.345, 2)", D("2.35")),  # half away from zero, as SQL ROUND
    ("round(2.5, 0)", D("3")),
    ("round(-2.5, 0)", D("-3")),
    ("round(1.25, 1)", D("1.3")),
    ("round(1.24, 1)", D("1.2")),
    ("round(3, 1)", D("3.0")),
    ("round(null, 1)", N),
    ("len('abc')", 3),
    ("len('')", 0),
    ("upper('aB')", "AB"),
    ("lower('aB')", "ab"),
    ("starts_with('abc', 'ab')", T),
    ("starts_with('abc', 'b')", F),
    ("starts_with(null, 'a')", N),
    ("len(bene.residence.state)", N),
]


@pytest.mark.parametrize(("expr", "expected"), BUILTINS, ids=[e for e, _ in BUILTINS])
def test_builtins(ev: ExprEvaluator, expr: str, expected: Any) -> None:
    check(ev, expr, expected)


# --- aggregates --------------------------------------------------------------------

AGGREGATES: list[tuple[str, Any]] = [
    ("count(x for x in [1, 2, 3] where x > 1)", 2),
    ("count(x for x in [1, null, 3] where x > 1)", 1),  # where keeps only true
    ("count(x for x in [1, 2, 3])", 3),
    ("count(x for x in [])", 0),
    ("count([1, 2, 3])", 3),
    ("count([])", 0),
    ("sum(x for x in [])", 0),  # 0 when empty
    ("sum(x for x in [1, null, 2])", 3),  # non-null values
    ("sum(x for x in [null])", 0),
    ("sum(x for x in [1.5, 2])", D("3.5")),
    ("sum(x * 2 for x in [1, 2, 3] where x != 2)", 8),
    ("sum([1, 2])", 3),
    ("sum([])", 0),
    ("min(x for x in [3, 1, 2])", 1),
    ("max(x for x in [3, 1, 2])", 3),
    ("min(x for x in [3, null, 1])", 1),
    ("min(x for x in [])", N),  # null when empty
    ("max(x for x in [null])", N),
    ("max(x for x in [@2027-01, @2026-03])", Month(2027, 1)),
    ("min(x for x in ['b', 'a'])", "a"),
    ("min(3, 1, 2)", 1),
    ("max(3, null)", 3),
    ("min(null, null)", N),
    ("min([])", N),
    ("max([2, 5, 1])", 5),
    ("any(x > 1 for x in [])", F),  # false when empty
    ("all(x > 1 for x in [])", T),  # true when empty
    ("any(x > 1 for x in [1, null])", N),
    ("any(x > 1 for x in [1, null, 5])", T),
    ("all(x > 1 for x in [2, null])", N),
    ("all(x > 1 for x in [2, null, 0])", F),
    ("all(x > 1 for x in [2, 3])", T),
    ("any(x > 0 for x in [1, -1] where x < 0)", F),
    ("any([false, null])", N),
    ("all([true, true])", T),
    ("list(x * 2 for x in [1, 2, 3] where x > 1)", (4, 6)),
    ("list(x for x in [3, null, 1])", (3, None, 1)),  # in order, nulls kept
    ("list(x for x in [])", ()),
    ("distinct(x for x in [3, 1, 3, null, 2])", (1, 2, 3)),  # sorted, nulls dropped
    ("distinct(x for x in [])", ()),
    ("distinct([3, 1, 3]) == [1, 3]", T),
    ("list(x for x in [1, 2]) == [1, 2]", T),
    ("count(x for x in [1, 2] where x in distinct(y for y in [2, 2]))", 1),
    ("list(g.key for g in group_sum(x for x in [1, 2, 3] by x > 1))", (False, True)),
    ("list(g.total for g in group_sum(x for x in [1, 2, 3] by x > 1))", (1, 5)),
    ("group_sum(x for x in [] by x)", ()),
    ("count(x for x in [1, 2, 3] where any(y > x for y in [2]))", 1),  # nested comprehensions see the outer var
    ("sum(count(y for y in [1, 2, 3] where y <= x) for x in [1, 2, 3])", 6),
    # a set has no order: comprehensions go through it ascending, whatever the hash seed
    ("list(t for t in {'b', 'c', 'a', 'd'})", ("a", "b", "c", "d")),
    ("list(t for t in {null, 2, 1})", (1, 2, None)),
]


@pytest.mark.parametrize(("expr", "expected"), AGGREGATES, ids=[e for e, _ in AGGREGATES])
def test_aggregates(ev: ExprEvaluator, expr: str, expected: Any) -> None:
    check(ev, expr, expected)


def claims(*rows: tuple[Any, Any, Any]) -> dict[str, Any]:
    """A beneficiary whose claim lines are (tin, allowed, from_date) rows."""
    return {
        "bene_id": "B",
        "claims": [
            {"claim_id": f"C{k}", "tin": tin, "allowed": allowed, "from_date": day}
            for k, (tin, allowed, day) in enumerate(rows)
        ],
    }


BY_TOTAL = "group_sum(c.allowed for c in bene.claims by c.tin)"


def test_group_sum_groups_sorts_and_drops_null_keys(ev: ExprEvaluator) -> None:
    bene = claims(("t2", "5", None), ("t1", "10", None), ("t1", "2.5", None), (None, "7", None), ("t2", None, None))
    check(ev, f"list(g.key for g in {BY_TOTAL})", ("t1", "t2"), bene=bene)
    check(ev, f"list(g.total for g in {BY_TOTAL})", (D("12.5"), D("5")), bene=bene)
    check(ev, f"count({BY_TOTAL})", 2, bene=bene)


def argmax(func: str, rule: str, by: str = "c.allowed") -> str:
    return f'{func}(c.tin for c in bene.claims by {by}, ties = "{rule}")'


D1, D2 = "2027-01-01", "2027-03-01"
ARGMAX: list[tuple[str, dict[str, Any], Any]] = [
    (argmax("argmax", "none"), claims(("A", 10, D1), ("B", 5, D1), ("C", 7, D1)), "A"),
    (argmax("argmin", "none"), claims(("A", 10, D1), ("B", 5, D1), ("C", 7, D1)), "B"),
    # ties on the only score
    (argmax("argmax", "none"), claims(("B", 10, D1), ("A", 10, D1), ("C", 1, D1)), N),
    (argmax("argmax", "lowest"), claims(("B", 10, D1), ("A", 10, D1), ("C", 1, D1)), "A"),
    (argmax("argmax", "highest"), claims(("B", 10, D1), ("A", 10, D1), ("C", 1, D1)), "B"),
    (argmax("argmin", "highest"), claims(("B", 1, D1), ("A", 1, D1), ("C", 9, D1)), "B"),
    (argmax("argmin", "lowest"), claims(("B", 1, D1), ("A", 1, D1), ("C", 9, D1)), "A"),
    # the same value twice at the top is not a tie
    (argmax("argmax", "none"), claims(("A", 10, D1), ("A", 10, D2), ("B", 3, D1)), "A"),
    # 'then' breaks ties on the first score
    (argmax("argmax", "none", "c.allowed then c.from_date"), claims(("A", 10, D1), ("B", 10, D2), ("C", 5, D2)), "B"),
    (argmax("argmin", "none", "c.allowed then c.from_date"), claims(("A", 5, D1), ("B", 5, D2), ("C", 10, D1)), "A"),
    (argmax("argmax", "none", "c.allowed then -c.allowed"), claims(("A", 10, D1), ("B", 10, D2)), N),
    (argmax("argmax", "highest", "c.allowed then c.from_date"), claims(("A", 10, D1), ("B", 10, D1)), "B"),
    # elements whose first score is null do not compete, in either direction
    (argmax("argmax", "none"), claims(("A", None, D1), ("B", 1, D1)), "B"),
    (argmax("argmin", "none"), claims(("A", None, D1), ("B", 1, D1)), "B"),
    (argmax("argmax", "none"), claims(("A", None, D1), ("B", None, D1)), N),
    (argmax("argmax", "none"), claims(), N),
    # a null later score ranks last, in either direction
    (argmax("argmax", "none", "c.allowed then c.from_date"), claims(("A", 10, None), ("B", 10, D1)), "B"),
    (argmax("argmin", "none", "c.allowed then c.from_date"), claims(("A", 10, None), ("B", 10, D1)), "B"),
    # the result is the E of the best element, even when that E is null
    (argmax("argmax", "none"), claims((None, 10, D1), ("B", 5, D1)), N),
    (argmax("argmax", "lowest"), claims((None, 10, D1), ("B", 10, D1)), "B"),
    (argmax("argmax", "none"), claims((None, 10, D1), ("B", 10, D1)), N),
]


@pytest.mark.parametrize(("expr", "bene", "expected"), ARGMAX, ids=[f"{k}-{e}" for k, (e, _, _) in enumerate(ARGMAX)])
def test_argmax_argmin(ev: ExprEvaluator, expr: str, bene: dict[str, Any], expected: Any) -> None:
    check(ev, expr, expected, bene=bene)


def test_argmax_over_group_totals(ev: ExprEvaluator) -> None:
    expr = f'argmax(g.key for g in {BY_TOTAL} by g.total, ties = "none")'
    check(ev, expr, "t1", bene=claims(("t1", "6", D1), ("t2", "10", D1), ("t1", "5", D2)))
    check(ev, expr, N, bene=claims(("t1", "5", D1), ("t2", "10", D1), ("t1", "5", D2)))


def test_tie_rule_from_a_parameter(ev: ExprEvaluator) -> None:
    params = {"rule": {"type": "string", "value": "highest"}}
    expr = "argmax(c.tin for c in bene.claims by c.allowed, ties = rule)"
    check(ev, expr, "B", bene=claims(("A", 1, D1), ("B", 1, D1)), params=params)


# --- roots, parameters, definitions ----------------------------------------------------

RECORD = {
    "bene_id": "B1",
    "birth_date": "1950-06-15",
    "residence": {"state": "NC", "county_fips": "37063"},
    "months": [
        {"month": "2027-01", "buyin": "3", "hmo": "0"},
        {"month": "2027-02", "buyin": "C", "hmo": "0", "medicaid": {"state": "NC", "delivery": "MCO"}},
        {"month": "2027-03", "buyin": None, "hmo": "1"},
    ],
}

CONTEXT: list[tuple[str, Any]] = [
    ("bene.bene_id", "B1"),
    ("bene.residence.state", "NC"),
    ("bene.residence.us", T),  # the record default
    ("year(bene.birth_date)", 1950),
    ("count(bene.months)", 3),
    ("list(m.month for m in bene.months where m.hmo == '0')", (Month(2027, 1), Month(2027, 2))),
    ("list(m.medicaid.delivery for m in bene.months)", (None, "MCO", None)),  # through a null struct: null
    ("all(m.buyin in {'3', 'C'} for m in bene.months)", N),
    ("any(m.buyin == 'C' for m in bene.months)", T),
    ("market.performance_year", 2028),
    ("aco.id", "A1"),
    ("bene.residence.county_fips in aco.service_area_counties", T),
    ("count(a for a in market.acos)", 2),
    ("min(a.id for a in market.acos where '222' in a.participant_tins)", "A2"),
    ("count(m for m in bene.months where any(a.id == 'A1' for a in market.acos where m.hmo == '0'))", 2),
    ("codes", frozenset({"02", "04"})),
    ("'02' in codes", T),
    ("start + 1", date(2027, 1, 2)),
    ("first + 1", Month(2027, 7)),
    ("rate * 2", D("0.50")),
    ("double(3)", N),
]


def test_roots_parameters_and_definitions(ev: ExprEvaluator) -> None:
    params = {
        "codes": {"type": "set<string>", "value": ["02", "04"]},
        "start": {"type": "date", "value": "2027-01-01"},
        "first": {"type": "month", "value": "2027-06"},
        "rate": {"type": "decimal", "value": 0.25},
    }
    for expr, expected in CONTEXT:
        if expr == "double(3)":
            continue
        check(ev, expr, expected, bene=RECORD, params=params)
    defs = {"py": "market.performance_year", "twice": "py * 2", "is_big": "twice > 4000"}
    check(ev, "if is_big then twice - 1 else 0", 4055, defs=defs)


def test_aco_binding_changes_aco_values(ev: ExprEvaluator) -> None:
    check(ev, "aco.id", "A1", aco=0)
    check(ev, "aco.id", "A2", aco=1)
    check(ev, "'222' in aco.participant_tins", T, aco=1)


# --- checker rejects, interpreter never sees -------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    ["1 + 'a'", "@2027-01-01 + @2027-01-01", "'a' and true", "count(1)", "date(1, 2)", "bene.nope", "nope"],
)
def test_ill_typed_expressions_are_rejected(ev: ExprEvaluator, expr: str) -> None:
    assert ev.errors(expr)


# --- pathways, ties between ACOs, hierarchy (the policy level) --------------------------------


def market(*acos: str, tins: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "performance_year": 2028,
        "acos": [{"id": a, "participant_tins": (tins or {}).get(a, [])} for a in acos],
    }


def tie_policy(make_policy: Callable[..., Path], tie: dict[str, str] | None) -> Policy:
    pathway: dict[str, Any] = {"requires": ["qualifies"]}
    if tie is not None:
        pathway["tie"] = tie
    return load_policy(
        make_policy(
            definitions={"score": "count(c for c in bene.claims where c.tin in aco.participant_tins)"},
            criteria={"qualifies": "aco.id != 'NO'"},
            pathways={"p": pathway},
        )
    )


TINS = {"A": ["1"], "B": ["2"], "C": ["3"]}


def bene_with(*tins: str) -> dict[str, Any]:
    return {"bene_id": "X", "claims": [{"tin": t} for t in tins]}


def test_one_qualifying_aco_is_the_result(make_policy: Callable[..., Path]) -> None:
    policy = tie_policy(make_policy, None)
    d = policy.evaluate(bene_with(), market("NO", "B"))
    assert (d.outcome, d.aco_id, d.pathway) == ("aligned", "B", "p")


def test_several_qualifying_without_tie_rule_align_to_none(make_policy: Callable[..., Path]) -> None:
    policy = tie_policy(make_policy, None)
    d = policy.evaluate(bene_with(), market("B", "A"))
    assert (d.outcome, d.aco_id) == ("not_aligned", None)
    assert d.pathways[0].status == "tie"
    assert [(r.criterion, r.value, r.acos) for r in d.reasons] == [("tie.on_tie", "tie", ("A", "B"))]


@pytest.mark.parametrize(
    ("claims_tins", "on_tie", "outcome", "aco"),
    [
        (["2", "2", "1"], "not_aligned", "aligned", "B"),  # the highest rank wins
        (["1", "2"], "not_aligned", "not_aligned", None),  # still tied
        (["1", "2"], "lowest_aco_id", "aligned", "A"),
        ([], "lowest_aco_id", "aligned", "A"),
    ],
)
def test_tie_rank_then_on_tie(
    make_policy: Callable[..., Path], claims_tins: list[str], on_tie: str, outcome: str, aco: str | None
) -> None:
    policy = tie_policy(make_policy, {"rank": "score", "on_tie": f'"{on_tie}"'})
    for order in (("A", "B"), ("B", "A")):  # market list order never decides
        d = policy.evaluate(bene_with(*claims_tins), market(*order, tins=TINS))
        assert (d.outcome, d.aco_id) == (outcome, aco), order


def test_unknown_rank_ranks_lowest(make_policy: Callable[..., Path]) -> None:
    policy = tie_policy(make_policy, {"rank": "if aco.id == 'A' then null else 1", "on_tie": '"not_aligned"'})
    d = policy.evaluate(bene_with(), market("A", "B"))
    assert (d.outcome, d.aco_id) == ("aligned", "B")


def test_pathway_holds_only_when_true_and_reasons_name_the_acos(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            criteria={
                "alive": "bene.death_date is null",
                "here": "bene.residence.county_fips in aco.service_area_counties",
            },
            pathways={"p": {"requires": ["alive", "here"]}},
        )
    )
    mkt = {
        "performance_year": 2028,
        "acos": [{"id": "A", "service_area_counties": ["1"]}, {"id": "B", "service_area_counties": ["2"]}],
    }
    d = policy.evaluate({"bene_id": "X", "residence": {"county_fips": "2"}}, mkt)
    assert (d.outcome, d.aco_id) == ("aligned", "B")
    d = policy.evaluate({"bene_id": "X"}, mkt)  # county unknown: 'here' is unknown for both
    assert d.outcome == "not_aligned"
    assert [(r.criterion, r.value, r.acos) for r in d.reasons] == [("here", "unknown", None)]
    d = policy.evaluate({"bene_id": "X", "death_date": "2020-01-01", "residence": {"county_fips": "3"}}, mkt)
    assert sorted((r.criterion, r.value) for r in d.reasons) == [("alive", "false"), ("here", "false")]


def test_hierarchy_first_pathway_that_yields_decides(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            criteria={"is_a": "aco.id == 'A'", "is_b": "aco.id == 'B'", "never": "false"},
            pathways={
                "first": {"requires": ["never"]},
                "second": {"requires": ["is_b"]},
                "third": {"requires": ["is_a"]},
            },
            hierarchy=["first", "second", "third"],
        )
    )
    d = policy.evaluate(bene_with(), market("A", "B"))
    assert (d.outcome, d.aco_id, d.pathway) == ("aligned", "B", "second")
    statuses = [(p.pathway, p.status) for p in d.pathways]
    assert statuses == [("first", "failed"), ("second", "decided"), ("third", "skipped")]
    assert d.trace is not None
    third = d.trace.find("pathway", "third")
    assert third is not None and third.skipped


def test_requirement_combinators(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            criteria={"t": "true", "f": "false", "u": "bene.death_date > @2000-01-01"},
            pathways={
                "any_tu": {"requires": [{"any": ["f", "t", "u"]}]},
                "not_f": {"requires": [{"not": "f"}, "t"]},
                "not_u": {"requires": [{"not": "u"}]},
                "all_tu": {"requires": [{"all": ["t", "u"]}]},
            },
            hierarchy=["not_u", "all_tu", "any_tu", "not_f"],
        )
    )
    d = policy.evaluate(bene_with(), market("A"))
    assert [(p.pathway, p.status) for p in d.pathways] == [
        ("not_u", "failed"),  # not unknown is unknown: does not hold
        ("all_tu", "failed"),
        ("any_tu", "decided"),
        ("not_f", "skipped"),
    ]
    assert [(r.criterion, r.value) for r in d.pathways[0].reasons] == [("not u", "unknown")]
    assert [(r.criterion, r.value) for r in d.pathways[1].reasons] == [("all(t, u)", "unknown")]


def test_runtime_failures_become_error_decisions(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            definitions={"rule": "if bene.bene_id == 'X' then 'sideways' else 'none'"},
            criteria={"ok": "argmax(c.tin for c in bene.claims by 1, ties = rule) is null"},
        )
    )
    ok = policy.evaluate(bene_with("1", "2"), market("A")) if False else policy.evaluate(
        {"bene_id": "Y", "claims": [{"tin": "1"}, {"tin": "2"}]}, market("A")
    )
    assert ok.outcome == "aligned"
    d = policy.evaluate(bene_with("1", "2"), market("A"))
    assert d.outcome == "error"
    assert "sideways" in d.errors[0]["message"]


def test_invalid_record_is_an_error_decision_with_field_and_cause(example_policy: Policy) -> None:
    d = example_policy.evaluate({"bene_id": "E1", "months": [{"month": "2027-13"}]}, market("A"))
    assert d.outcome == "error" and d.bene_id == "E1"
    assert d.errors[0]["field"] == "months.0.month"
    d = example_policy.evaluate({"bene_id": "E2", "claims": [{"hcpcs": 99213}]}, market("A"))
    assert d.outcome == "error" and d.errors[0]["field"] == "claims.0.hcpcs"


def test_no_eval_exec_or_compile_in_the_package() -> None:
    """No Python source is generated and run: no eval/exec/compile anywhere in the package.

    Policy and market files are semi-trusted (docs/security.md: "there is no eval or exec", the
    project guide's security rule), so not even source built from the checked AST with careful
    quoting; the interpreter is closures only.
    """
    import ast as pyast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "lead_rules"
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = pyast.parse(path.read_text(encoding="utf-8"))
        for node in pyast.walk(tree):
            call = isinstance(node, pyast.Call) and isinstance(node.func, pyast.Name)
            if call and node.func.id in {"eval", "exec", "compile"}:  # type: ignore[attr-defined]
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {node.func.id}()")  # type: ignore[attr-defined]
    assert not found, "eval/exec/compile in the package:\n" + "\n".join(found)
