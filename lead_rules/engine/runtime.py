"""The runtime the interpreter's closures run on: the environment of one record and the shared semantics.

:class:`Env` (the record, the market, the ACO under consideration, variables,
the value caches per level and the tracer), the three-valued operators
(:func:`arith_op`, :func:`compare_op`), month shifting, the ranking of
``argmax`` candidates (:func:`rank_candidates`, :func:`pick_winner`), the
aggregate finishers and the small closure factories (calls that propagate
null, variable and path readers). :mod:`.interpreter` builds its fast and
traced closures from these; the closures themselves stay in one class there.
Calling these helpers from another module costs nothing per record: the
closures bind them when they are built, at policy load.
"""

from __future__ import annotations

import datetime as dt
import operator
import time
from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any, NamedTuple

from ..language import ast
from ..language.builtins import distinct_sorted, kleene_all, kleene_any, list_max, list_min, list_sum
from ..language.limits import DECIMAL_MAX_DIGITS, INT_MAX, INT_MIN, RECORD_SECONDS, STEP_BUDGET, STRING_MAX_CHARS
from ..language.values import Month, to_json
from .trace import TraceNode, Tracer

Fn = Callable[["Env"], Any]
MISSING = object()
LEVEL_MARKET, LEVEL_BENE, LEVEL_ACO = 0, 1, 2


class Group(NamedTuple):
    """An element of a ``group_sum`` result."""

    key: Any
    total: Any


class Env:
    """The evaluation state of one record: roots, variables, caches, tracer."""

    __slots__ = ("aco", "bene", "caches", "deadline", "market", "steps", "tracer", "vars")

    def __init__(self, bene: Any, market: Any, market_cache: dict[str, Any], tracer: Tracer | None) -> None:
        self.bene = bene
        self.market = market
        self.aco: Any = None
        self.vars: dict[str, Any] = {}
        self.caches: list[dict[str, Any]] = [market_cache, {}, {}]
        self.tracer = tracer
        self.steps = 0  # list elements visited: the per-record budgets (limits.STEP_BUDGET, RECORD_SECONDS)
        self.deadline = time.monotonic() + RECORD_SECONDS

    def set_aco(self, aco: Any) -> None:
        """Bind the ACO under consideration (clears ACO-level values)."""
        self.aco = aco
        self.caches[LEVEL_ACO] = {}


class EvaluationError(Exception):
    """A runtime failure inside an expression (reported as a decision error)."""


def charge(env: Env, n: int) -> None:
    """Count ``n`` list elements against the record's step and time budgets."""
    env.steps += n
    if env.steps > STEP_BUDGET:
        raise EvaluationError(f"the record exceeds the step budget ({STEP_BUDGET:,} list elements)")
    if time.monotonic() > env.deadline:
        raise EvaluationError(f"the record exceeds the time budget ({RECORD_SECONDS:g} s)")


def fit(v: Any) -> Any:
    """``v`` when it is within the value limits (64-bit integers, DECIMAL(38), string length)."""
    if isinstance(v, int) and not isinstance(v, bool):
        if not INT_MIN <= v <= INT_MAX:
            raise EvaluationError("integer overflow: the result is outside the 64-bit range")
    elif isinstance(v, Decimal):
        if v.is_finite() and v and v.adjusted() >= DECIMAL_MAX_DIGITS:
            raise EvaluationError(f"decimal overflow: the result has more than {DECIMAL_MAX_DIGITS} digits")
    elif isinstance(v, str) and len(v) > STRING_MAX_CHARS:
        raise EvaluationError(f"a string longer than {STRING_MAX_CHARS:,} characters")
    return v


# --- semantic helpers (shared by both modes) --------------------------------

def arith_op(op: str) -> Callable[[Any, Any], Any]:
    def add(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, dt.date):
            try:
                return a + dt.timedelta(days=b)
            except OverflowError:
                return None
        if isinstance(a, Month):
            return shift_month(a, b)
        return fit(a + b)

    def sub(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, dt.date):
            try:
                return a - dt.timedelta(days=b)
            except OverflowError:
                return None
        if isinstance(a, Month):
            return shift_month(a, -b)
        return fit(a - b)

    def mul(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        return fit(a * b)

    def div(a: Any, b: Any) -> Any:
        if a is None or b is None or b == 0:
            return None
        try:
            return Decimal(a) / Decimal(b)
        except (DivisionByZero, InvalidOperation):
            return None

    return {"+": add, "-": sub, "*": mul, "/": div}[op]


def shift_month(m: Month, n: int) -> Month | None:
    """``m + n`` months; null out of range (as ``date + n``)."""
    try:
        return Month.from_ordinal(m.ordinal + n)
    except ValueError:
        return None


def seq_of(v: Any) -> Any:
    # a list value is a tuple (literals, comprehensions) or a Python list (record
    # fields such as bene.claims); equality must not depend on which
    return tuple(v) if isinstance(v, list) else v


def compare_op(op: str) -> Callable[[Any, Any], Any]:
    def eq(a: Any, b: Any) -> Any:
        return None if a is None or b is None else seq_of(a) == seq_of(b)

    def ne(a: Any, b: Any) -> Any:
        return None if a is None or b is None else seq_of(a) != seq_of(b)

    def lt(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a < b

    def le(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a <= b

    def gt(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a > b

    def ge(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a >= b

    def in_(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a in b

    def not_in(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a not in b

    return {"==": eq, "!=": ne, "<": lt, "<=": le, ">": gt, ">=": ge, "in": in_, "not in": not_in}[op]


def rank_candidates(
    cands: list[tuple[Any, tuple[Any, ...]]], descending: bool
) -> list[tuple[Any, tuple[Any, ...]]]:
    """Candidates with a non-null first score, best first (null later scores rank last).

    A candidate whose value is null still competes: when it ranks first, the
    result is null (docs/language.md: "the E of the element with the highest S1").
    """
    live = [c for c in cands if c[1][0] is not None]

    def key(c: tuple[Any, tuple[Any, ...]]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for s in c[1]:
            parts.append((0, 0) if s is None else (1, s if descending else Neg(s)))
        return tuple(parts)

    return sorted(live, key=key, reverse=True)


class Neg:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: Neg) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Neg) and bool(self.v == other.v)

    def __hash__(self) -> int:  # pragma: no cover - not hashed
        return hash(self.v)


def null_last(v: Any) -> tuple[bool, Any]:
    return (v is None, v)


def pick_winner(ranked: list[tuple[Any, tuple[Any, ...]]], ties: Any) -> tuple[Any, list[Any]]:
    """The winner of a ranked candidate list and the tied values at the top."""
    if not ranked:
        return None, []
    best = ranked[0][1]
    tied = {c[0] for c in ranked if c[1] == best}
    known = sorted(v for v in tied if v is not None)
    top = known + [None] * (None in tied)
    if len(top) == 1:
        return top[0], top
    # like min/max, "lowest"/"highest" pass over a null value among the tied ones
    if ties == "lowest":
        return (known[0] if known else None), top
    if ties == "highest":
        return (known[-1] if known else None), top
    if ties == "none":
        return None, top
    raise EvaluationError(f"unknown tie rule {ties!r}")



def candidate_table(ranked: list[tuple[Any, tuple[Any, ...]]]) -> list[dict[str, Any]]:
    table: list[dict[str, Any]] = []
    seen: set[Any] = set()
    rank = 0
    prev: tuple[Any, ...] | None = None
    for position, (value, scores) in enumerate(ranked, start=1):
        if value in seen:
            continue
        seen.add(value)
        if scores != prev:
            rank = position
            prev = scores
        table.append({"value": to_json(value), "scores": [to_json(s) for s in scores], "rank": rank})
    return table


def skipped_children(e: ast.Expr, nodes: list[TraceNode]) -> list[ast.Expr]:
    """The operands of a short-circuiting ``e`` (and/or, if) that were not evaluated.

    Every evaluated operand that is not a literal leaves exactly one trace node
    (an expression, field, parameter or named-item node), in evaluation order;
    so the nodes tell, by position, how far evaluation went.
    """
    if isinstance(e, ast.BoolOp):
        operands = [c for c in e.items if not isinstance(c, ast.Literal)]
        return operands[len(nodes):]
    assert isinstance(e, ast.Cond)
    test = e.test.value if isinstance(e.test, ast.Literal) else nodes[0].value if nodes else None
    not_taken = e.else_ if test is True else e.then_
    return [] if isinstance(not_taken, ast.Literal) else [not_taken]


FINISHERS: dict[str, Callable[[list[Any]], Any]] = {
    "sum": list_sum,
    "min": list_min,
    "max": list_max,
    "any": kleene_any,
    "all": kleene_all,
    "list": tuple,
    "distinct": distinct_sorted,
}
"""How an aggregate combines the values of the elements kept by ``where``."""

PY_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def null_propagating_call(impl: Callable[..., Any], args: tuple[Fn, ...]) -> Fn:
    """A call of ``impl`` that is null when an argument is, specialised by arity."""
    if len(args) == 1:
        (f,) = args

        def call1(env: Env) -> Any:
            x = f(env)
            return None if x is None else impl(x)
        return call1
    if len(args) == 2:
        f, g = args

        def call2(env: Env) -> Any:
            x = f(env)
            if x is None:
                return None
            y = g(env)
            return None if y is None else impl(x, y)
        return call2
    f, g, h = args

    def call3(env: Env) -> Any:
        x = f(env)
        if x is None:
            return None
        y = g(env)
        if y is None:
            return None
        z = h(env)
        return None if z is None else impl(x, y, z)
    return call3


def var_reader(var: str) -> Fn:
    return lambda env: env.vars[var]


def var_path_reader(var: str, steps: tuple[str, ...]) -> Fn | None:
    """``var.a`` / ``var.a.b`` read in one closure (the common field reads of a loop variable), else None."""
    if len(steps) == 1:
        (a,) = steps

        def read_var1(env: Env) -> Any:
            o = env.vars[var]
            return None if o is None else getattr(o, a)
        return read_var1
    if len(steps) == 2:
        a, b = steps

        def read_var2(env: Env) -> Any:
            o = env.vars[var]
            if o is None:
                return None
            o = getattr(o, a)
            return None if o is None else getattr(o, b)
        return read_var2
    return None


def root_path_reader(root: str, steps: tuple[str, ...]) -> Fn | None:
    """``bene.a`` / ``aco.a`` / ``market.a`` (and two steps) read in one closure, else None."""
    if root not in ("bene", "aco", "market") or len(steps) > 2:
        return None
    return path_reader(operator.attrgetter(root), steps)  # the root is read by a C attrgetter


def path_reader(base: Fn, steps: tuple[str, ...]) -> Fn:
    if len(steps) == 1:
        (a,) = steps

        def read1(env: Env) -> Any:
            o = base(env)
            return None if o is None else getattr(o, a)
        return read1
    if len(steps) == 2:
        a, b = steps

        def read2(env: Env) -> Any:
            o = base(env)
            if o is None:
                return None
            o = getattr(o, a)
            return None if o is None else getattr(o, b)
        return read2

    def read_n(env: Env) -> Any:
        o = base(env)
        for s in steps:
            if o is None:
                return None
            o = getattr(o, s)
        return o
    return read_n


# --- fused closures of the fast set: a loop variable's field compared, in one call -------------

def var_field_compare(var: str, attr: str, op: str, value: Any) -> Fn:
    """``var.attr <op> value`` (a literal or parameter), null when the field is: one closure, not three.

    The fast closures of ``c.hcpcs in codes`` were the compare, the field reader and, for ``in``,
    :data:`PY_COMPARE`'s lambda; this is the same test in one call.
    """
    if op == "in":
        def field_in(env: Env) -> Any:
            o = env.vars[var]
            x = None if o is None else getattr(o, attr)
            return None if x is None else x in value
        return field_in
    if op == "not in":
        def field_not_in(env: Env) -> Any:
            o = env.vars[var]
            x = None if o is None else getattr(o, attr)
            return None if x is None else x not in value
        return field_not_in
    if op == "==":
        def field_eq(env: Env) -> Any:
            o = env.vars[var]
            x = None if o is None else getattr(o, attr)
            return None if x is None else x == value
        return field_eq
    pyop = PY_COMPARE[op]

    def field_compare(env: Env) -> Any:
        o = env.vars[var]
        x = None if o is None else getattr(o, attr)
        return None if x is None else pyop(x, value)
    return field_compare


def const_compare(left: Fn, op: str, value: Any) -> Fn:
    """``left <op> value`` for a constant ``value``, null when ``left`` is (``in`` without a lambda)."""
    if op == "in":
        def compare_in(env: Env) -> Any:
            x = left(env)
            return None if x is None else x in value
        return compare_in
    if op == "not in":
        def compare_not_in(env: Env) -> Any:
            x = left(env)
            return None if x is None else x not in value
        return compare_not_in
    pyop = PY_COMPARE[op]

    def compare_const(env: Env) -> Any:
        x = left(env)
        return None if x is None else pyop(x, value)
    return compare_const


def var_field_isnull(var: str, attr: str, negated: bool) -> Fn:
    """``var.attr is null`` / ``is not null`` in one closure."""
    if negated:
        def field_is_not_null(env: Env) -> bool:
            o = env.vars[var]
            return o is not None and getattr(o, attr) is not None
        return field_is_not_null

    def field_is_null(env: Env) -> bool:
        o = env.vars[var]
        return o is None or getattr(o, attr) is None
    return field_is_null


def var_field_compare_fn(var: str, attr: str, pyop: Callable[[Any, Any], Any], right: Fn) -> Fn:
    """``var.attr <op> right`` (the right side evaluated only when the field is known), in one closure."""

    def field_compare_fn(env: Env) -> Any:
        o = env.vars[var]
        x = None if o is None else getattr(o, attr)
        if x is None:
            return None
        y = right(env)
        return None if y is None else pyop(x, y)
    return field_compare_fn


def var_field_between(var: str, attr: str, lo: Fn, hi: Fn, impl: Callable[[Any, Any, Any], Any]) -> Fn:
    """``between(var.attr, lo, hi)``: every argument evaluated, as the call's closure does; ``impl``
    (builtins' ``between``) decides the null cases, the known ones are ``lo <= x <= hi``."""

    def field_between(env: Env) -> Any:
        o = env.vars[var]
        x = None if o is None else getattr(o, attr)
        a = lo(env)
        b = hi(env)
        if x is None or a is None or b is None:
            return impl(x, a, b)
        return bool(a <= x <= b)
    return field_between


def constant_fn(value: Any) -> Fn:
    """A closure of a value known at load."""
    return lambda env: value


def fast_group_sum(src: Fn, elem: Fn, key: Fn, where: Fn | None, var: str) -> Fn:
    """``group_sum(elem for var in src where ... by key)`` without trace rows: the rows (value, key)
    of the kept elements first, then their totals by key, as the interpreter's general closure."""

    def group_sum_fast(env: Env) -> Any:
        xs = src(env)
        if xs is None:
            return ()
        charge(env, len(xs))
        if isinstance(xs, frozenset):
            xs = sorted(xs, key=null_last)
        env_vars = env.vars
        rows = []
        for x in xs:
            env_vars[var] = x
            if where is None or where(env) is True:
                rows.append((elem(env), key(env)))
        env_vars.pop(var, None)
        totals: dict[Any, Any] = {}
        for v, k in rows:
            if k is None:
                continue
            cur = totals.get(k)
            totals[k] = cur if v is None else (v if cur is None else fit(cur + v))
        return tuple(Group(k, totals[k]) for k in sorted(totals))
    return group_sum_fast
