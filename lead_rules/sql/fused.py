"""Aggregates over a filtered list in one pass, for DuckDB.

``count``/``sum``/``min``/``max``/``any``/``all`` of ``f(x) for x in L where w(x)``
compile by default to an aggregate of ``transform(filter(L, w), f)``: the
filter builds a new list of the (often wide, struct) elements, which costs
more than the test itself. These aggregates ignore null elements, so the
same value comes from one ``transform(L, x -> CASE WHEN w(x) THEN f(x) END)``,
which builds only a list of scalars (``count``: ``list_count`` of
``CASE WHEN w THEN 1 END``). ``any``/``all`` map each element to its Kleene
code (2 true, 1 unknown, 0 false) in the same pass. DuckDB only: its
``list_count``/``list_sum``/``list_min``/``list_max`` skip nulls; other
dialects keep the filter (:meth:`.expressions.SqlCompiler.aggregate`).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlglot import exp

from ..language import ast
from ..language.types import BOOL, DECIMAL, INT, STRING
from .builders import case_, lam_, simple_case_
from .compiled import MISSING, Ctx
from .sqltypes import literal, sql_type, value_scale


class SqlCompiler(Protocol):
    """What these rewrites use of :class:`.expressions.SqlCompiler` (which imports this module)."""

    def fresh(self) -> exp.Identifier: ...
    def compile(self, node: ast.Expr, ctx: Ctx) -> exp.Expr: ...
    def scale(self, node: ast.Expr, ctx: Ctx) -> int: ...
    def type_of(self, node: ast.Expr) -> Any: ...
    def free(self, node: ast.Expr) -> frozenset[str]: ...
    def is_const(self, node: ast.Expr, ctx: Ctx) -> bool: ...
    def const_value(self, node: ast.Expr, ctx: Ctx) -> Any: ...
    def sum_list(self, values: exp.Expr, t: Any, scale: int, zero_when_empty: bool) -> exp.Expr: ...

FUSED = ("count", "sum", "min", "max", "any", "all")
"""The comprehension aggregates :func:`fused_aggregate` compiles in one pass."""


def kleene_code(x: exp.Expr) -> exp.Expr:
    """2 when ``x`` is true, 0 when false, 1 when unknown (``any`` is the max, ``all`` the min)."""
    return simple_case_(
        x, (exp.true(), exp.Literal.number(2)), (exp.false(), exp.Literal.number(0)), default=exp.Literal.number(1)
    )


def kleene_result(func: str, codes: exp.Expr) -> exp.Expr:
    """``any``/``all`` of the Kleene codes of :func:`kleene_code` (no code: false for any, true for all)."""
    unknown = exp.cast(exp.Null(), sql_type(BOOL))
    if func == "any":
        return simple_case_(
            exp.ArrayMax(this=codes),
            (exp.Literal.number(2), exp.true()),
            (exp.Literal.number(1), unknown),
            default=exp.false(),
        )
    return simple_case_(
        exp.ArrayMin(this=codes),
        (exp.Literal.number(0), exp.false()),
        (exp.Literal.number(1), unknown),
        default=exp.true(),
    )


def fused_aggregate(sc: SqlCompiler, e: ast.Comprehension, src: exp.Expr, ctx: Ctx, nullable: bool) -> exp.Expr:
    """``e`` (a :data:`FUSED` aggregate with a ``where``) over the compiled source ``src`` in one pass."""
    assert e.where is not None
    param = sc.fresh()
    inner = ctx.bind(e.var, exp.column(param), sc.scale(e.source, ctx))
    where = sc.compile(e.where, inner)
    if e.func == "count":
        counted = exp.Transform(this=src, expression=lam_(case_((where, exp.Literal.number(1))), param))
        got: exp.Expr = exp.Anonymous(this="list_count", expressions=[counted])
        return exp.Coalesce(this=got, expressions=[exp.Literal.number(0)]) if nullable else got
    value = sc.compile(e.element, inner)
    if e.func in ("any", "all"):
        value = kleene_code(value)
    values = exp.Transform(this=src, expression=lam_(case_((where, value)), param))
    if e.func == "sum":
        t = DECIMAL if sc.type_of(e.element) == DECIMAL else INT
        return sc.sum_list(values, t, sc.scale(e, ctx), zero_when_empty=True)
    if e.func == "min":
        return exp.ArrayMin(this=values)
    if e.func == "max":
        return exp.ArrayMax(this=values)
    return kleene_result(e.func, values)


TABLE_MAX = 10_000
"""At most this many keys in a lookup table of :func:`tabulated`."""


def tabulated(sc: SqlCompiler, e: ast.Comprehension, items: list[Any], ctx: Ctx, scale: int) -> exp.Expr | None:
    """``min``/``max``/``count`` of a constant ``f(a) for a in K where x in g(a)`` as one lookup of ``x``.

    ``K`` is a short constant list (the ACOs of the market), ``x`` a text
    value that does not depend on ``a`` (a claim's TIN) and ``g(a)`` and ``f(a)``
    constants for each ``a``: the value only depends on which ``g(a)`` hold
    ``x``, so it is tabulated at compile time over the keys of every ``g(a)``
    and read with one ``list_position`` (instead of one membership test per
    element of ``K``). A text outside every ``g(a)``, or null, holds none:
    null (min, max) or 0 (count), as the written-out comprehension gives.
    None when ``e`` is not of that form.
    """
    w = e.where
    if e.func not in ("min", "max", "count") or not (isinstance(w, ast.Compare) and w.op == "in"):
        return None
    if "var:" + e.var in sc.free(w.left) or sc.is_const(w.left, ctx) or sc.type_of(w.left) != STRING:
        return None
    table: dict[str, list[Any]] = {}
    for v in items:
        inner = ctx.bind_const(e.var, v, scale)
        keys: Any = sc.const_value(w.right, inner) if sc.is_const(w.right, inner) else MISSING
        if keys is MISSING or keys is None or not all(isinstance(k, str) for k in keys):
            return None
        value: Any = 1
        if e.func != "count":
            value = sc.const_value(e.element, inner) if sc.is_const(e.element, inner) else MISSING
            if value is MISSING or value is None or isinstance(value, bool):
                return None
        for k in set(keys):
            table.setdefault(k, []).append(value)
    if not table or len(table) > TABLE_MAX:
        return None
    try:
        results = {
            k: (len(vs) if e.func == "count" else min(vs) if e.func == "min" else max(vs)) for k, vs in table.items()
        }
    except TypeError:  # values that do not compare
        return None
    keys_sorted = sorted(results)
    elem_t = INT if e.func == "count" else sc.type_of(e.element)
    values = exp.Array(expressions=[literal(results[k], elem_t, value_scale(results[k])) for k in keys_sorted])
    position = exp.Anonymous(
        this="list_position",
        expressions=[exp.Array(expressions=[exp.Literal.string(k) for k in keys_sorted]), sc.compile(w.left, ctx)],
    )
    got: exp.Expr = exp.Bracket(this=values, expressions=[position], offset=1)
    return exp.Coalesce(this=got, expressions=[exp.Literal.number(0)]) if e.func == "count" else got


_SAFE = (ast.Compare, ast.BoolOp, ast.Not, ast.IsNull, ast.Cond, ast.Attr, ast.Name, ast.Literal, ast.Collection)
"""Constructs whose SQL cannot fail on any record (no arithmetic that may overflow, no cast)."""


def hoistable(sc: SqlCompiler, node: ast.Expr, ctx: Ctx) -> bool:
    """True when ``node``, met inside a lambda, reads the record but no lambda variable: one column per record.

    DuckDB evaluates a lambda's body once per list element, outer columns
    included (a beneficiary's county tested against each ACO's service area
    for each of his claims); as a column of the CTE before, it is computed
    once per record. Only tests and ``coalesce`` are moved, which give the same
    value (and no error) whether or not the lambda ever runs.
    """
    if not isinstance(node, (ast.Compare, ast.BoolOp, ast.Not, ast.IsNull, ast.Call)):
        return False
    free = sc.free(node)
    if "bene" not in free or any("var:" + v in free for v in ctx.vars):
        return False
    stack: list[ast.Expr] = [node]
    while stack:
        n = stack.pop()
        if not (isinstance(n, _SAFE) or (isinstance(n, ast.Call) and n.func == "coalesce")):
            return False
        stack.extend(n.children())
    return True
