"""The interpreter: checked AST -> Python closures (fifth arrow, Python engine).

Names, types and dependencies are resolved once at load time; each expression
becomes a closure ``fn(env) -> value``. Two closure sets are built from the
same semantic functions: the fast one (no trace) and the traced one, which
wraps every node to build the :class:`~lead_rules.trace.TraceNode` tree, marks
short-circuited branches as skipped, records fields read, the rows of
comprehensions and the candidate table of ``argmax``. Semantics (three-valued
logic, null rules) are those of ``docs/language.md``.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any, NamedTuple

from ..language import ast
from ..language.builtins import BUILTINS, distinct_sorted, kleene_all, kleene_any, list_max, list_min, list_sum
from ..language.checker import Resolution
from ..language.loader import PolicyDoc
from ..language.types import ListT, StructT
from ..language.values import Month, to_json
from .trace import TraceNode, Tracer

Fn = Callable[["Env"], Any]
_MISSING = object()
LEVEL_MARKET, LEVEL_BENE, LEVEL_ACO = 0, 1, 2


class Group(NamedTuple):
    """An element of a ``group_sum`` result."""

    key: Any
    total: Any


class Env:
    """The evaluation state of one record: roots, variables, caches, tracer."""

    __slots__ = ("aco", "bene", "caches", "market", "tracer", "vars")

    def __init__(self, bene: Any, market: Any, market_cache: dict[str, Any], tracer: Tracer | None) -> None:
        self.bene = bene
        self.market = market
        self.aco: Any = None
        self.vars: dict[str, Any] = {}
        self.caches: list[dict[str, Any]] = [market_cache, {}, {}]
        self.tracer = tracer

    def set_aco(self, aco: Any) -> None:
        """Bind the ACO under consideration (clears ACO-level values)."""
        self.aco = aco
        self.caches[LEVEL_ACO] = {}


class EvaluationError(Exception):
    """A runtime failure inside an expression (reported as a decision error)."""


# --- semantic helpers (shared by both modes) --------------------------------

def _arith(op: str) -> Callable[[Any, Any], Any]:
    def add(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, dt.date):
            try:
                return a + dt.timedelta(days=b)
            except OverflowError:
                return None
        if isinstance(a, Month):
            return _shift_month(a, b)
        return a + b

    def sub(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, dt.date):
            try:
                return a - dt.timedelta(days=b)
            except OverflowError:
                return None
        if isinstance(a, Month):
            return _shift_month(a, -b)
        return a - b

    def mul(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        return a * b

    def div(a: Any, b: Any) -> Any:
        if a is None or b is None or b == 0:
            return None
        try:
            return Decimal(a) / Decimal(b)
        except (DivisionByZero, InvalidOperation):
            return None

    return {"+": add, "-": sub, "*": mul, "/": div}[op]


def _shift_month(m: Month, n: int) -> Month | None:
    """``m + n`` months; null out of range (as ``date + n``)."""
    try:
        return Month.from_ordinal(m.ordinal + n)
    except ValueError:
        return None


def _seq(v: Any) -> Any:
    # a list value is a tuple (literals, comprehensions) or a Python list (record
    # fields such as bene.claims); equality must not depend on which
    return tuple(v) if isinstance(v, list) else v


def _compare(op: str) -> Callable[[Any, Any], Any]:
    def eq(a: Any, b: Any) -> Any:
        return None if a is None or b is None else _seq(a) == _seq(b)

    def ne(a: Any, b: Any) -> Any:
        return None if a is None or b is None else _seq(a) != _seq(b)

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
            parts.append((0, 0) if s is None else (1, s if descending else _Neg(s)))
        return tuple(parts)

    return sorted(live, key=key, reverse=True)


class _Neg:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Neg) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Neg) and bool(self.v == other.v)

    def __hash__(self) -> int:  # pragma: no cover - not hashed
        return hash(self.v)


def _null_last(v: Any) -> tuple[bool, Any]:
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


class Compiler:
    """Builds closures for the expressions of one checked policy."""

    def __init__(self, doc: PolicyDoc, res: Resolution, traced: bool) -> None:
        self.doc = doc
        self.res = res
        self.traced = traced
        self.named_fns: dict[str, Fn] = {}
        self.levels: dict[str, int] = {}
        for name, deps in res.depends.items():
            self.levels[name] = LEVEL_ACO if "aco" in deps else LEVEL_BENE if "bene" in deps else LEVEL_MARKET

    def named(self, name: str) -> Fn:
        """The closure that evaluates named item ``name`` once per scope."""
        fn = self.named_fns.get(name)
        if fn is None:
            item = self.doc.named[name]
            body = self.compile(item.expr, in_row=False)
            fn = self._cached_named(name, item.kind, body, self.levels.get(name, LEVEL_ACO))
            self.named_fns[name] = fn
        return fn

    def _cached_named(self, name: str, kind: str, body: Fn, level: int) -> Fn:
        if not self.traced:
            def ref(env: Env) -> Any:
                cache = env.caches[level]
                v = cache.get(name, _MISSING)
                if v is _MISSING:
                    v = body(env)
                    cache[name] = v
                return v
            return ref
        item = self.doc.named[name]

        def ref_traced(env: Env) -> Any:
            cache = env.caches[level]
            tr = env.tracer
            assert tr is not None
            node = TraceNode(kind, name, item.span, item.expr.text)
            node.source = item.source
            node.description = item.description
            v = cache.get(name, _MISSING)
            if v is not _MISSING:
                if tr.row is not None:
                    return v  # once per element of a comprehension: the first evaluation's node is enough
                node.cached = True
                node.value = v
                tr.add(node)
                return v
            saved_row, tr.row = tr.row, None
            tr.open(node)
            try:
                v = body(env)
            finally:
                tr.close()
                tr.row = saved_row
            node.value = v
            cache[name] = v
            return v
        return ref_traced

    # ------------------------------------------------------------------
    def compile(self, e: ast.Expr, in_row: bool) -> Fn:
        """Compile ``e``; ``in_row`` means inside a traced comprehension body."""
        fn = self._compile(e, in_row)
        if not self.traced or in_row or isinstance(e, (ast.Literal,)):
            return fn
        if isinstance(e, ast.Name) and self.res.names.get(id(e), ("", ""))[0] in ("named", "param"):
            return fn  # named items and parameters make their own node
        if isinstance(e, ast.Attr) and self._path_root(e) is not None:
            return fn  # field reads make their own node
        return self._wrap(e, fn)

    def _wrap(self, e: ast.Expr, fn: Fn) -> Fn:
        kind = type(e).__name__.lower()
        short = isinstance(e, (ast.BoolOp, ast.Cond))

        def traced(env: Env) -> Any:
            tr = env.tracer
            assert tr is not None
            node = TraceNode("expr", kind, e.span, e.text, e)
            tr.open(node)
            try:
                v = fn(env)
            finally:
                tr.close()
            node.value = v
            if short:
                for c in _skipped_children(e, node.children):
                    sk = TraceNode("expr", type(c).__name__.lower(), c.span, c.text, c)
                    sk.skipped = True
                    node.children.append(sk)
            return v
        return traced

    def _path_root(self, e: ast.Attr) -> tuple[str, str] | None:
        obj: ast.Expr = e
        while isinstance(obj, ast.Attr):
            obj = obj.obj
        if isinstance(obj, ast.Name):
            kind = self.res.names.get(id(obj), ("", ""))[0]
            if kind in ("root", "var"):
                return self.res.names[id(obj)]
        return None

    def _compile(self, e: ast.Expr, in_row: bool) -> Fn:
        method = getattr(self, "c_" + type(e).__name__.lower())
        result: Fn = method(e, in_row)
        return result

    # --- leaves ---
    def c_literal(self, e: ast.Literal, in_row: bool) -> Fn:
        value = e.value
        return lambda env: value

    def c_collection(self, e: ast.Collection, in_row: bool) -> Fn:
        items = [self.compile(i, in_row) for i in e.items]
        if all(isinstance(i, ast.Literal) for i in e.items):
            values = [i.value for i in e.items if isinstance(i, ast.Literal)]
            const: Any = frozenset(values) if e.kind == "set" else tuple(values)
            return lambda env: const
        if e.kind == "set":
            return lambda env: frozenset(f(env) for f in items)
        return lambda env: tuple(f(env) for f in items)

    def c_name(self, e: ast.Name, in_row: bool) -> Fn:
        kind, name = self.res.names[id(e)]
        if kind == "var":
            return lambda env: env.vars[name]
        if kind == "root":
            if name == "bene":
                return lambda env: env.bene
            if name == "market":
                return lambda env: env.market
            return lambda env: env.aco
        if kind == "param":
            value = self.doc.parameters[name].value
            if self.traced and not in_row:
                p = self.doc.parameters[name]

                def param_traced(env: Env) -> Any:
                    assert env.tracer is not None
                    node = TraceNode("parameter", name, p.span, name)
                    node.value = value
                    node.source = p.source
                    env.tracer.add(node)
                    return value
                return param_traced
            return lambda env: value
        return self.named(name)

    def c_attr(self, e: ast.Attr, in_row: bool) -> Fn:
        obj_t = self.res.type_of(e.obj)
        attr = obj_t.attr(e.name) if isinstance(obj_t, StructT) else e.name
        root = self._path_root(e)
        if root is not None:
            # a whole path such as bene.residence.state: read it in one step
            steps: list[str] = []
            node: ast.Expr = e
            while isinstance(node, ast.Attr):
                t = self.res.type_of(node.obj)
                steps.append(t.attr(node.name) if isinstance(t, StructT) else node.name)
                node = node.obj
            steps.reverse()
            base = self._compile(node, in_row)
            read = _path_reader(base, tuple(steps))
            if not self.traced:
                return read
            text = e.text
            if in_row:
                def read_row(env: Env) -> Any:
                    v = read(env)
                    tr = env.tracer
                    if tr is not None and tr.row is not None:
                        tr.row.setdefault(text, v)
                    return v
                return read_row

            def read_traced(env: Env) -> Any:
                v = read(env)
                assert env.tracer is not None
                n = TraceNode("field", text, e.span, text)
                n.value = v
                env.tracer.add(n)
                return v
            return read_traced
        obj = self.compile(e.obj, in_row)

        def get(env: Env) -> Any:
            o = obj(env)
            return None if o is None else getattr(o, attr)
        return get

    # --- operators ---
    def c_neg(self, e: ast.Neg, in_row: bool) -> Fn:
        f = self.compile(e.operand, in_row)

        def neg(env: Env) -> Any:
            v = f(env)
            return None if v is None else -v
        return neg

    def c_not(self, e: ast.Not, in_row: bool) -> Fn:
        f = self.compile(e.operand, in_row)

        def not_(env: Env) -> Any:
            v = f(env)
            return None if v is None else not v
        return not_

    def c_binary(self, e: ast.Binary, in_row: bool) -> Fn:
        op = _arith(e.op)
        a, b = self.compile(e.left, in_row), self.compile(e.right, in_row)
        return lambda env: op(a(env), b(env))

    def c_compare(self, e: ast.Compare, in_row: bool) -> Fn:
        op = _compare(e.op)
        a, b = self.compile(e.left, in_row), self.compile(e.right, in_row)
        lists = isinstance(self.res.type_of(e.left), ListT) or isinstance(self.res.type_of(e.right), ListT)
        if self.traced or (lists and e.op in ("==", "!=")):
            return lambda env: op(a(env), b(env))
        # fast path: plain Python operators, the right side not evaluated when the left is null
        pyop = _PY_COMPARE[e.op]
        const = self._constant(e.right)
        if const is not _MISSING:
            if const is None:
                return lambda env: None
            value = const

            def compare_const(env: Env) -> Any:
                x = a(env)
                return None if x is None else pyop(x, value)
            return compare_const

        def compare(env: Env) -> Any:
            x = a(env)
            if x is None:
                return None
            y = b(env)
            return None if y is None else pyop(x, y)
        return compare

    def _constant(self, e: ast.Expr) -> Any:
        """The value of a literal or parameter, or ``_MISSING``."""
        if isinstance(e, ast.Literal):
            return e.value
        if isinstance(e, ast.Name) and self.res.names.get(id(e), ("", ""))[0] == "param":
            return self.doc.parameters[e.name].value
        return _MISSING

    def c_isnull(self, e: ast.IsNull, in_row: bool) -> Fn:
        f = self.compile(e.operand, in_row)
        if e.negated:
            return lambda env: f(env) is not None
        return lambda env: f(env) is None

    def c_boolop(self, e: ast.BoolOp, in_row: bool) -> Fn:
        fs = tuple(self.compile(i, in_row) for i in e.items)
        stop = e.op == "or"  # the value that decides: True for or, False for and

        def boolop(env: Env) -> Any:
            unknown = False
            for f in fs:
                v = f(env)
                if v is stop:
                    return stop
                if v is None:
                    unknown = True
            return None if unknown else not stop
        return boolop

    def c_cond(self, e: ast.Cond, in_row: bool) -> Fn:
        t, a, b = (self.compile(x, in_row) for x in (e.test, e.then_, e.else_))
        return lambda env: a(env) if t(env) is True else b(env)

    def c_call(self, e: ast.Call, in_row: bool) -> Fn:
        fn = BUILTINS[e.func]
        impl = fn.impl
        args = tuple(self.compile(a, in_row) for a in e.args)
        if fn.null_propagating and not self.traced and len(args) in (1, 2, 3):
            return _null_propagating_call(impl, args)
        if fn.null_propagating:
            def call(env: Env) -> Any:
                vals = [a(env) for a in args]
                if None in vals:
                    return None
                return impl(*vals)
            return call
        return lambda env: impl(*[a(env) for a in args])

    # --- comprehensions ---
    def c_comprehension(self, e: ast.Comprehension, in_row: bool) -> Fn:
        if not self.traced:
            fast = self._fast_comprehension(e)
            if fast is not None:
                return self._memoized(e, fast)
            return self._memoized(e, self._comprehension(e, in_row))
        return self._comprehension(e, in_row)

    def _memoized(self, e: ast.Comprehension, fn: Fn) -> Fn:
        """Memoize a comprehension that reads only market-level values and outer loop fields.

        ``min(a.id for a in market.acos where c.tin in a.participant_tins)`` inside a loop over
        claims depends on nothing but ``c.tin``: its value is kept per market, keyed by the
        values of those fields. Evaluation is pure, so this changes no result.
        """
        paths = self._invariant_paths(e)
        if not paths:
            return fn
        readers = tuple(_path_reader(_var_reader(var), steps) for var, steps in paths)
        slot = f"memo:{id(e)}"  # cannot clash with a name: names have no ':'
        limit = 200_000

        def memo(env: Env) -> Any:
            cache = env.caches[LEVEL_MARKET]
            table = cache.get(slot)
            if table is None:
                table = cache[slot] = {}
            key = tuple(r(env) for r in readers)
            try:
                return table[key]
            except KeyError:
                value = fn(env)
                if len(table) < limit:
                    table[key] = value
                return value
            except TypeError:  # an unhashable key (a list): just evaluate
                return fn(env)
        return memo

    def _invariant_paths(self, e: ast.Comprehension) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The outer-variable field paths ``e`` reads, when it reads nothing record- or ACO-level."""
        paths: set[tuple[str, tuple[str, ...]]] = set()
        stack: list[tuple[ast.Expr, frozenset[str]]] = [(e, frozenset())]
        while stack:
            node, bound = stack.pop()
            if isinstance(node, ast.Attr):
                root = self._path_root(node)
                if root is not None and root[0] == "var" and root[1] not in bound:
                    steps: list[str] = []
                    cur: ast.Expr = node
                    while isinstance(cur, ast.Attr):
                        t = self.res.type_of(cur.obj)
                        steps.append(t.attr(cur.name) if isinstance(t, StructT) else cur.name)
                        cur = cur.obj
                    paths.add((root[1], tuple(reversed(steps))))
                    continue
            if isinstance(node, ast.Name):
                kind, name = self.res.names.get(id(node), ("", ""))
                if kind == "var" and name not in bound:
                    return ()  # the element itself, not a field of it: no useful key
                if kind == "root" and name in ("bene", "aco"):
                    return ()
                if kind == "named" and self.levels.get(name, LEVEL_ACO) != LEVEL_MARKET:
                    return ()
                continue
            if isinstance(node, ast.Comprehension):
                stack.append((node.source, bound))
                inner = bound | {node.var}
                for child in node.children()[1:]:
                    stack.append((child, inner))
                continue
            for child in node.children():
                stack.append((child, bound))
        return tuple(sorted(paths))

    def _fast_comprehension(self, e: ast.Comprehension) -> Fn | None:
        """Leaner closures for the aggregates without ``by`` (no trace rows to keep)."""
        if e.by or e.func in ("group_sum", "argmax", "argmin"):
            return None
        src = self.compile(e.source, False)
        where = self.compile(e.where, False) if e.where is not None else None
        elem = self.compile(e.element, False)
        var = e.var
        func = e.func
        if func == "count":
            def count(env: Env) -> Any:
                xs = src(env)
                if xs is None:
                    return 0
                if where is None:
                    return len(xs)
                env_vars = env.vars
                n = 0
                for x in xs:
                    env_vars[var] = x
                    if where(env) is True:
                        n += 1
                env_vars.pop(var, None)
                return n
            return count

        def values(env: Env) -> list[Any]:
            xs = src(env)
            if xs is None:
                return []
            if isinstance(xs, frozenset):
                xs = sorted(xs, key=_null_last)
            env_vars = env.vars
            out = []
            if where is None:
                for x in xs:
                    env_vars[var] = x
                    out.append(elem(env))
            else:
                for x in xs:
                    env_vars[var] = x
                    if where(env) is True:
                        out.append(elem(env))
            env_vars.pop(var, None)
            return out

        finish = _FINISHERS[func]
        return lambda env: finish(values(env))

    def _comprehension(self, e: ast.Comprehension, in_row: bool) -> Fn:
        body_row = in_row or self.traced
        src = self.compile(e.source, in_row)
        where = self.compile(e.where, body_row) if e.where is not None else None
        elem = self.compile(e.element, body_row)
        by = tuple(self.compile(b, body_row) for b in e.by)
        ties = self.compile(dict(e.kwargs)["ties"], in_row) if "ties" in dict(e.kwargs) else None
        var = e.var
        func = e.func
        record_rows = self.traced and not in_row

        def rows(env: Env) -> list[tuple[Any, tuple[Any, ...]]]:
            """(element value, by values) of each element kept by ``where``."""
            xs = src(env)
            out: list[tuple[Any, tuple[Any, ...]]] = []
            if xs is None:
                return out
            if isinstance(xs, frozenset):
                # a set has no order: go through it ascending, so that list(...) and the
                # trace rows do not depend on Python's hash seed
                xs = sorted(xs, key=_null_last)
            tr = env.tracer if record_rows else None
            saved = env.vars.get(var, _MISSING)
            for i, x in enumerate(xs):
                env.vars[var] = x
                row: dict[str, Any] | None = None
                if tr is not None:
                    row = {"index": i, "reads": {}}
                    tr.row = row["reads"]
                    tr.stack[-1].rows.append(row)  # type: ignore[union-attr]
                if where is not None:
                    w = where(env)
                    if row is not None:
                        row["where"] = w
                    if w is not True:
                        continue
                if func == "count" and not by:
                    out.append((True, ()))
                    continue
                v = elem(env)
                keys = tuple(b(env) for b in by)
                if row is not None:
                    row["value"] = v
                    if keys:
                        row["by"] = list(keys)
                out.append((v, keys))
            if tr is not None:
                tr.row = None
            if saved is _MISSING:
                env.vars.pop(var, None)
            else:  # pragma: no cover - variables never shadow (checker)
                env.vars[var] = saved
            return out

        def begin(env: Env) -> None:
            if record_rows:
                assert env.tracer is not None
                env.tracer.stack[-1].rows = []

        if func == "count":
            def count(env: Env) -> Any:
                begin(env)
                return len(rows(env))
            return count
        finish = _FINISHERS.get(func)
        if finish is not None:
            combine = finish

            def over_values(env: Env) -> Any:
                begin(env)
                return combine([v for v, _ in rows(env)])
            return over_values
        if func == "group_sum":
            def group_sum(env: Env) -> Any:
                begin(env)
                totals: dict[Any, Any] = {}
                for v, (k,) in rows(env):
                    if k is None:
                        continue
                    cur = totals.get(k)
                    totals[k] = cur if v is None else (v if cur is None else cur + v)
                return tuple(Group(k, totals[k]) for k in sorted(totals))
            return group_sum
        assert ties is not None
        descending = func == "argmax"
        tie_fn = ties

        def argmax(env: Env) -> Any:
            begin(env)
            ranked = rank_candidates(rows(env), descending)
            rule = tie_fn(env)
            winner, top = pick_winner(ranked, rule)
            if record_rows:
                assert env.tracer is not None
                node = env.tracer.stack[-1]
                node.candidates = _candidate_table(ranked)
                if len(top) > 1:
                    tied = ", ".join(str(to_json(t)) for t in top)
                    node.note = f"tie between {tied}; rule '{rule}' gives {to_json(winner)}"
            return winner
        return argmax


def _candidate_table(ranked: list[tuple[Any, tuple[Any, ...]]]) -> list[dict[str, Any]]:
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


def _skipped_children(e: ast.Expr, nodes: list[TraceNode]) -> list[ast.Expr]:
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


_FINISHERS: dict[str, Callable[[list[Any]], Any]] = {
    "sum": list_sum,
    "min": list_min,
    "max": list_max,
    "any": kleene_any,
    "all": kleene_all,
    "list": tuple,
    "distinct": distinct_sorted,
}
"""How an aggregate combines the values of the elements kept by ``where``."""

_PY_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def _null_propagating_call(impl: Callable[..., Any], args: tuple[Fn, ...]) -> Fn:
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


def _var_reader(var: str) -> Fn:
    return lambda env: env.vars[var]


def _path_reader(base: Fn, steps: tuple[str, ...]) -> Fn:
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
