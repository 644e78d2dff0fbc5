"""The fast closures against the traced ones on the shapes the fast set specialises.

``ev`` (conftest.ExprEvaluator) evaluates each expression with the fast closures
and with the traced ones and checks both agree; test_interpreter.py covers the
semantics node by node. Here: every aggregate with and without ``where``,
argmax's tie-break loop, the fused field comparisons of a loop variable, long
``and`` / ``or`` chains and deep nesting, with nulls on each side.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from conftest import ExprEvaluator

CLAIMS = [
    {"claim_id": "A", "tin": "111", "allowed": 10.5, "from_date": "2026-01-03", "hcpcs": "99213"},
    {"claim_id": "A", "tin": "111", "allowed": -4, "from_date": "2026-01-03", "hcpcs": "99213"},
    {"claim_id": "B", "tin": "222", "allowed": 6.5, "from_date": "2026-02-01", "hcpcs": "99214"},
    {"claim_id": None, "tin": None, "allowed": None, "from_date": None, "hcpcs": None},
    {"claim_id": "C", "tin": "333", "allowed": 6.5, "from_date": "2026-03-01", "hcpcs": "99214"},
]
BENE = {"bene_id": "B", "claims": CLAIMS, "death_date": None}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sum(c.allowed for c in bene.claims)", Decimal("19.5")),
        ("sum(c.allowed for c in bene.claims where c.tin != '111')", Decimal("13.0")),
        ("min(c.from_date for c in bene.claims)", dt.date(2026, 1, 3)),
        ("max(c.tin for c in bene.claims where c.allowed > 0)", "333"),
        ("count(c for c in bene.claims)", 5),
        ("count(c for c in bene.claims where c.allowed is null or c.allowed < 0)", 2),
        ("any(c.allowed < 0 for c in bene.claims)", True),
        ("all(c.allowed > 0 for c in bene.claims where c.tin is not null)", False),
        ("all(c.allowed > -10 for c in bene.claims)", None),
        ("list(c.claim_id for c in bene.claims where c.hcpcs in {'99214'})", ("B", "C")),
        ("distinct(c.hcpcs for c in bene.claims)", ("99213", "99214")),
        ("count(group_sum(c.allowed for c in bene.claims by c.claim_id))", 3),
        ("list(g.total for g in group_sum(c.allowed for c in bene.claims by c.claim_id))",
         (Decimal("6.5"), Decimal("6.5"), Decimal("6.5"))),
        ("argmax(c.claim_id for c in bene.claims by c.allowed then c.from_date, ties = 'lowest')", "A"),
        ("argmax(c.claim_id for c in bene.claims where c.tin != '111' by c.allowed then c.from_date, ties = 'lowest')",
         "C"),
        ("argmin(c.claim_id for c in bene.claims where c.allowed > 0 by c.allowed then c.tin, ties = 'none')", "B"),
        ("argmax(c.claim_id for c in bene.claims where c.tin != '111' by c.allowed then null, ties = 'none')", None),
        ("argmax(c.claim_id for c in bene.claims where c.tin != '111' by c.allowed then null, ties = 'highest')", "C"),
        ("argmax(c.claim_id for c in bene.claims where false by c.allowed, ties = 'lowest')", None),
        ("sum(c.allowed * (if c.from_date <= date(2026, 1, 31) then 2 else 1) for c in bene.claims)", Decimal("26.0")),
        ("count(c for c in bene.claims where count(e for e in bene.claims where e.tin == c.tin) > 1)", 2),
        ("list(-c.allowed for c in bene.claims where not (c.tin == '222') or c.tin is null)",
         (Decimal("-10.5"), Decimal("4"), None, Decimal("-6.5"))),
        ("list(add_days(c.from_date, 1) for c in bene.claims where c.tin in [c.tin, '1'])",
         (dt.date(2026, 1, 4), dt.date(2026, 1, 4), dt.date(2026, 2, 2), dt.date(2026, 3, 2))),
        ("coalesce(bene.death_date, date(2026, 1, 1)) + 1", dt.date(2026, 1, 2)),
    ],
)
def test_aggregates_agree_with_the_traced_closures(ev: ExprEvaluator, expr: str, expected: Any) -> None:
    got = ev(expr, bene=BENE)
    assert type(got) is type(expected) and got == expected, f"{expr}: {got!r}"


def _kleene(op: str, values: list[bool | None]) -> bool | None:
    stop = op == "or"
    if stop in values:
        return stop
    return None if None in values else not stop


@pytest.mark.parametrize("n", [3, 8, 9, 40])
@pytest.mark.parametrize("op", ["and", "or"])
def test_long_chains_follow_kleene_logic(ev: ExprEvaluator, op: str, n: int) -> None:
    for pattern in ([None] * n, [True] * n, [False] * n, [True] * (n - 1) + [None], [None] + [False] * (n - 1)):
        text = f" {op} ".join({True: "true", False: "false", None: "null"}[v] for v in pattern)
        # a record field keeps the checker from folding the chain: read through bene
        expr = f"(bene.death_date is null) and ({text})"
        assert ev(expr, bene=BENE) == _kleene(op, pattern), expr


@pytest.mark.parametrize("depth", [5, 12, 23])
def test_deep_nesting_compiles_and_agrees(ev: ExprEvaluator, depth: int) -> None:
    # four nodes a level: 23 levels nest 92 deep, near the language's 100 (E102)
    expr = "count(c for c in bene.claims where c.allowed > 0)"
    for i in range(depth):
        expr = f"(if bene.death_date is null then -(-{expr}) + {i % 3} else 0)"
    assert ev(expr, bene=BENE) == 3 + sum(i % 3 for i in range(depth))
    negations = "not " * (4 * depth) + "(bene.death_date is null)"
    assert ev(negations, bene=BENE) is True


PARAMS = {"rule": {"type": "string", "value": "drop"}, "flag": {"type": "bool", "value": False}}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("if rule == 'drop' then 1 else 2", 1),
        ("if rule != 'drop' then 1 else count(c for c in bene.claims)", 5),
        ("if not (rule == 'drop') then 1 else 2", 2),
        ("bene.death_date is null and rule == 'drop'", True),
        ("bene.death_date is not null or rule == 'drop'", True),
        ("(bene.death_date is null and rule == 'keep') or flag", False),
        ("bene.death_date is null and not flag and null", None),
        ("rule == 'drop' and bene.death_date is null and true", True),
        ("rule == 'keep' and count(c for c in bene.claims) > 1", False),
        ("count(c for c in bene.claims) > 1 or rule == 'drop' or null", True),
        ("null or rule == 'keep' or flag", None),
        ("not (rule == null)", None),
        ("count(c for c in bene.claims where rule == 'drop' and c.allowed > 0)", 3),
        ("count(c for c in bene.claims where rule == 'keep' or c.tin is null)", 1),
    ],
)
def test_constant_operands_fold_as_evaluated(ev: ExprEvaluator, expr: str, expected: Any) -> None:
    # the fast set folds comparisons of parameters and literals at load; the traced set folds nothing
    got = ev(expr, bene=BENE, params=PARAMS)
    assert type(got) is type(expected) and got == expected, f"{expr}: {got!r}"
