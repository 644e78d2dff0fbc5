"""The static cost model: the checker's bound on what one record can cost.

Runs after type checking (a stage of :mod:`lead_rules.checker`) over every
definition and criterion and reports, at the expression's place:

- E601 value growth: the *degree* of a number (how many factors it multiplies;
  ``a * b`` is 2, a definition chain ``d_i = d_{i-1} * d_{i-1}`` doubles it each
  step) above :data:`~lead_rules.language.limits.VALUE_DEGREE_BUDGET`;
- E602 comprehensions over the record's lists (whose length the data decides)
  nested deeper than :data:`~lead_rules.language.limits.COMPREHENSION_NESTING_BUDGET`
  (n elements k deep cost n**k; lists of the market and parameters are fixed by
  the policy author and do not count);
- E604 integer arithmetic (a product, sum, difference, negation or absolute value)
  whose bound (literals and parameters by value, counts by the step budget,
  years by 9999, an int field of the record by the whole 64-bit range, a
  ``sum(...)`` by the step budget times its element) exceeds 64 bits -- so no
  checked policy makes an SQL engine raise an overflow. A bare ``sum(...)`` of
  record ints is not refused: past 64 bits it is an error row on the
  interpreter, while DuckDB sums in 128 bits (docs/security.md, known gaps);
- E603 an expression whose SQL would grow beyond
  :data:`~lead_rules.language.limits.SQL_WEIGHT_BUDGET` (constructs that repeat an argument,
  such as ``add_months``, multiply its size at every level of nesting).

The runtime budgets (steps and seconds per record, 64-bit integers) are
enforced by the interpreter; the exact SQL size by the compiler.
"""

from __future__ import annotations

from typing import Any

from . import ast
from .errors import Diagnostics
from .limits import (
    COMPREHENSION_NESTING_BUDGET,
    INT_MAX,
    INT_MIN,
    SQL_WEIGHT_BUDGET,
    STEP_BUDGET,
    VALUE_DEGREE_BUDGET,
)
from .types import INT

SQL_GROWTH = {
    "add_months": 16,
    "months_between": 16,
    "year": 4,
    "month_of": 3,
    "first_day": 3,
    "last_day": 3,
    "date": 2,
    "month": 2,
}
"""How many times the SQL of a call repeats its arguments (measured on the compiler)."""

_DIVISION_GROWTH = 4

RECORD_INT_MAGNITUDE = -INT_MIN
"""The bound of an int field of the record: any 64-bit value, so ``-x``, ``abs(x)`` and ``x + 1``
can overflow. The interpreter would make that an error row, but DuckDB raises (the whole
query fails); E604 refuses it statically."""

_ARITHMETIC = {"*": "product", "+": "sum", "-": "difference", "Neg": "negation"}


class _Costs:
    def __init__(self, named: dict[str, Any], res: Any, diags: Diagnostics) -> None:
        self.named = named
        self.res = res
        self.diags = diags
        self.degrees: dict[str, int] = {}
        self.magnitudes: dict[str, int] = {}
        self.open: set[str] = set()

    def named_degree(self, name: str) -> int:
        if name in self.degrees:
            return self.degrees[name]
        if name in self.open:  # a cycle: reported by the checker
            return 1
        self.open.add(name)
        d = self.degree(self.named[name].expr)
        self.open.discard(name)
        self.degrees[name] = d
        return d

    def degree(self, e: ast.Expr) -> int:
        """How many factors the number ``e`` multiplies (saturating above the budget)."""
        cap = VALUE_DEGREE_BUDGET * 4
        if isinstance(e, ast.Binary):
            left, right = self.degree(e.left), self.degree(e.right)
            return min(cap, left + right) if e.op in ("*", "/") else max(left, right)
        if isinstance(e, ast.Name):
            kind, name = self.res.names.get(id(e), ("", e.name))
            return self.named_degree(name) if kind == "named" and name in self.named else 1
        if isinstance(e, ast.Comprehension):
            return self.degree(e.element)
        kids = e.children()
        return max((self.degree(k) for k in kids), default=1)

    def on_record(self, e: ast.Expr, record_vars: frozenset[str]) -> bool:
        """Whether the list ``e`` comes from the record (untrusted length), not the market or parameters."""
        for node in ast.walk(e):
            if isinstance(node, ast.Name):
                kind, name = self.res.names.get(id(node), ("", node.name))
                if kind == "root" and name == "bene":
                    return True
                if kind == "var" and name in record_vars:
                    return True
                if kind == "named" and "bene" in self.res.depends.get(name, frozenset()):
                    return True
        return False

    def nesting(self, e: ast.Expr, record_vars: frozenset[str] = frozenset()) -> int:
        """The deepest nesting, inside ``e``, of comprehensions over lists of the record."""
        if isinstance(e, ast.Comprehension):
            over_record = self.on_record(e.source, record_vars)
            inner_vars = record_vars | {e.var} if over_record else record_vars
            body = [k for k in e.children() if k is not e.source]
            inner = max((self.nesting(k, inner_vars) for k in body), default=0)
            return max(self.nesting(e.source, record_vars), inner + (1 if over_record else 0))
        return max((self.nesting(k, record_vars) for k in e.children()), default=0)

    def record_vars(self, e: ast.Expr) -> frozenset[str]:
        """The comprehension variables of ``e`` that range over lists of the record (nested ones too)."""
        found: set[str] = set()
        changed = True
        while changed:  # an inner source such as ``m.items`` is on the record when ``m`` is
            changed = False
            for node in ast.walk(e):
                if (
                    isinstance(node, ast.Comprehension)
                    and node.var not in found
                    and self.on_record(node.source, frozenset(found))
                ):
                    found.add(node.var)
                    changed = True
        return frozenset(found)

    def magnitude(self, e: ast.Expr, params: dict[str, Any], rv: frozenset[str] = frozenset()) -> int:
        """A bound of ``|e|`` from what the policy fixes: literals, int parameters, counts (lists at most
        :data:`STEP_BUDGET` long), years. An int field of the record (``rv``: the comprehension variables
        over the record's lists) can hold any 64-bit value: :data:`RECORD_INT_MAGNITUDE`."""
        if isinstance(e, ast.Attr):
            return RECORD_INT_MAGNITUDE if self.res.type_of(e) == INT and self.on_record(e, rv) else 1
        if isinstance(e, ast.Literal):
            return abs(e.value) if isinstance(e.value, int) and not isinstance(e.value, bool) else 0
        if isinstance(e, ast.Name):
            kind, name = self.res.names.get(id(e), ("", e.name))
            value = params[name].value if kind == "param" and name in params else None
            if isinstance(value, int) and not isinstance(value, bool):
                return abs(value)
            if kind == "named" and name in self.named:
                if name not in self.magnitudes:  # memoized: a chain of definitions is walked once
                    self.magnitudes[name] = 1  # a cycle is reported by the checker
                    expr = self.named[name].expr
                    self.magnitudes[name] = self.magnitude(expr, params, self.record_vars(expr))
                return self.magnitudes[name]
            return 1  # a record field: its size is the data's (an overflow is an error row at run time)
        if isinstance(e, ast.Binary):
            a, b = self.magnitude(e.left, params, rv), self.magnitude(e.right, params, rv)
            return min(a * b, INT_MAX * 2) if e.op == "*" else min(a + b, INT_MAX * 2)
        if isinstance(e, ast.Neg):
            return self.magnitude(e.operand, params, rv)
        if isinstance(e, ast.Call):
            if e.func in ("year",):
                return 9999
            if e.func in ("count", "len"):
                return STEP_BUDGET
            if e.func in ("days_between",):
                return 3_652_059
            if e.func in ("months_between",):
                return 119_988
            if e.func in ("abs", "coalesce", "min", "max"):
                return max((self.magnitude(a, params, rv) for a in e.args), default=0)
        if isinstance(e, ast.Comprehension) and e.func == "count":
            return STEP_BUDGET
        if isinstance(e, ast.Comprehension) and e.func == "sum":
            return min(STEP_BUDGET * self.magnitude(e.element, params, rv), INT_MAX * 2)
        if isinstance(e, ast.Comprehension) and e.func in ("min", "max"):
            return self.magnitude(e.element, params, rv)
        if isinstance(e, ast.Cond):
            return max(self.magnitude(e.then_, params, rv), self.magnitude(e.else_, params, rv))
        return 1  # unknown to the bound: only what is known can prove an overflow


def sql_weight(e: ast.Expr) -> int:
    """A static estimate of the size of the SQL of ``e`` (saturating far above the budget)."""
    kids = sum(sql_weight(k) for k in e.children())
    if isinstance(e, ast.Call):
        kids *= SQL_GROWTH.get(e.func, 1)
    elif isinstance(e, ast.Binary) and e.op == "/":
        kids *= _DIVISION_GROWTH
    return min(1 + kids, SQL_WEIGHT_BUDGET * 100)


def check_costs(named: dict[str, Any], res: Any, diags: Diagnostics, params: dict[str, Any] | None = None) -> None:
    """Report the definitions and criteria of ``named`` beyond the static budgets."""
    costs = _Costs(named, res, diags)
    params = params or {}
    # a definition that reads one already reported is a consequence, not a root: one diagnostic per chain
    blamed: dict[str, set[str]] = {"E601": set(), "E604": set()}
    for name, item in named.items():
        expr = item.expr
        refs = {res.names.get(id(n), ("", ""))[1] for n in ast.walk(expr) if isinstance(n, ast.Name)
                and res.names.get(id(n), ("", ""))[0] == "named"}
        inherited = {code for code, names in blamed.items() if refs & names}
        if blamed["E601"] & refs:
            inherited.add("E604")  # a product over a refused chain: the chain is the root
        for code in inherited:
            blamed[code].add(name)
        degree = costs.named_degree(name)
        if degree > VALUE_DEGREE_BUDGET and "E601" not in inherited:
            blamed["E601"].add(name)
            diags.error(
                "E601",
                f"'{name}' multiplies {degree if degree < VALUE_DEGREE_BUDGET * 4 else 'too many'} factors "
                f"(budget {VALUE_DEGREE_BUDGET}): its value can outgrow 64 bits",
                expr.span,
                "a chain of products squares the value at each step; compute with fewer factors",
            )
        depth = costs.nesting(expr)
        if depth > COMPREHENSION_NESTING_BUDGET:
            diags.error(
                "E602",
                f"comprehensions over the record's lists nested {depth} deep (budget "
                f"{COMPREHENSION_NESTING_BUDGET}): the cost grows as the list length to that power",
                expr.span,
                "name the inner aggregate as a definition, computed once per record",
            )
        rv = costs.record_vars(expr)
        for node in ast.walk(expr):
            what = _ARITHMETIC.get(node.op if isinstance(node, ast.Binary) else type(node).__name__)
            if isinstance(node, ast.Call | ast.Comprehension):  # a bare sum(...) is bounded at run time only
                what = "absolute value" if isinstance(node, ast.Call) and node.func == "abs" else None
            if "E604" in inherited:
                break
            if what is not None and res.type_of(node) == INT and costs.magnitude(node, params, rv) > INT_MAX:
                blamed["E604"].add(name)
                diags.error(
                    "E604",
                    f"this integer {what} can exceed the 64-bit range",
                    node.span,
                    "bound the operands (a count is at most the list length; an int field of the record "
                    "can hold any 64-bit value, so compare it rather than compute with it) or compute with decimals",
                )
                break
        weight = sql_weight(expr)
        if weight > SQL_WEIGHT_BUDGET:
            diags.error(
                "E603",
                f"the SQL of '{name}' would grow beyond the budget ({SQL_WEIGHT_BUDGET:,} nodes estimated)",
                expr.span,
                "nested date arithmetic repeats its argument at each level; name the inner value as a definition",
            )
