"""The traced closures of the interpreter: each node of an expression recorded in the trace.

:class:`~.interpreter.Compiler` builds two closure sets from one AST; the
closures here are the traced set's own (the fast set's stay in
:mod:`.interpreter`, the shared semantics in :mod:`.runtime`): a named value
that makes its node once (market-level subtrees shared across the records of a
market), the node wrapper with its skipped operands, comparisons and
null-propagating calls that evaluate every operand (each leaves its trace), and
the memo of a comprehension inside a row, which replays the reads it saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..language import ast
from ..language.checker import Resolution
from ..language.loader import PolicyDoc
from .runtime import LEVEL_MARKET, MISSING, Env, Fn, path_reader, skipped_children, var_reader
from .trace import TraceNode


class TracedCompiler(Protocol):
    """What these closures read of :class:`~.interpreter.Compiler` (which imports this module)."""

    doc: PolicyDoc
    res: Resolution

    def market_store(self, market: object) -> dict[Any, Any]: ...
    def invariant_paths(self, e: ast.Comprehension) -> tuple[tuple[str, tuple[str, ...]], ...]: ...


def named_traced(comp: TracedCompiler, name: str, kind: str, body: Fn, level: int) -> Fn:
    """Named item ``name`` evaluated once per scope, making its node (a cached one when evaluated before)."""
    item = comp.doc.named[name]
    span, text, source, description = item.span, item.expr.text, item.source, item.description

    market_level = level == LEVEL_MARKET

    def ref_traced(env: Env) -> Any:
        cache = env.caches[level]
        tr = env.tracer
        assert tr is not None
        v = cache.get(name, MISSING)
        if v is not MISSING and tr.row is not None:
            return v  # once per element of a comprehension: the first evaluation's node is enough
        if v is not MISSING:
            node = TraceNode(kind, name, span, text)
            node.source = source
            node.description = description
            node.cached = True
            node.value = v
            tr.add(node)
            return v
        key: Any = None
        if market_level:
            # a market-level value and its subtree are the same for every record of the market, given
            # which market-level values this record has already evaluated (those show as cached)
            store = comp.market_store(env.market)
            key = (name, frozenset(cache))
            shared = store.get(key)
            if shared is not None:
                v, node, filled = shared
                tr.add(node)
                cache.update(filled)
                return v
            before = set(cache)
        node = TraceNode(kind, name, span, text)
        node.source = source
        node.description = description
        saved_row, tr.row = tr.row, None
        tr.open(node)
        try:
            v = body(env)
        finally:
            tr.close()
            tr.row = saved_row
        node.value = v
        cache[name] = v
        if market_level:
            store[key] = (v, node, {k: cache[k] for k in cache.keys() - before})
        return v
    return ref_traced


def wrap_traced(e: ast.Expr, fn: Fn) -> Fn:
    """``fn`` making the node of ``e`` (and of the operands a short-circuit skipped)."""
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
            for c in skipped_children(e, node.children):
                sk = TraceNode("expr", type(c).__name__.lower(), c.span, c.text, c)
                sk.skipped = True
                node.children.append(sk)
        return v
    return traced


def compare_traced(a: Fn, b: Fn, pyop_t: Callable[[Any, Any], Any], const_t: Any) -> Fn:
    """A comparison evaluating both sides (each leaves its reads and nodes in the trace), then plain
    Python operators; ``const_t`` a literal on the right (or a parameter inside a row, which makes no
    node), else ``MISSING``."""
    # both sides evaluated (each leaves its reads and nodes in the trace), then plain Python
    # operators; a literal on the right (or a parameter inside a row, which makes no node) is bound
    if const_t is not MISSING:
        if const_t is None:
            def compare_null(env: Env) -> Any:
                a(env)
                return None
            return compare_null
        value_t = const_t

        def compare_const_traced(env: Env) -> Any:
            x = a(env)
            return None if x is None else pyop_t(x, value_t)
        return compare_const_traced

    def compare_traced(env: Env) -> Any:
        x = a(env)
        y = b(env)
        return None if x is None or y is None else pyop_t(x, y)
    return compare_traced


def call_traced(impl: Callable[..., Any], args: tuple[Fn, ...]) -> Fn:
    """A null-propagating call evaluating every argument (each leaves its trace), then the null test."""
    if len(args) == 1:
        (f1,) = args

        def call1_traced(env: Env) -> Any:
            x = f1(env)
            return None if x is None else impl(x)
        return call1_traced
    if len(args) == 2:
        f2, g2 = args

        def call2_traced(env: Env) -> Any:
            x = f2(env)
            y = g2(env)
            return None if x is None or y is None else impl(x, y)
        return call2_traced
    if len(args) == 3:
        f3, g3, h3 = args

        def call3_traced(env: Env) -> Any:
            x = f3(env)
            y = g3(env)
            z = h3(env)
            return None if x is None or y is None or z is None else impl(x, y, z)
        return call3_traced

    def call(env: Env) -> Any:
        vals = [a(env) for a in args]
        if any(v is None for v in vals):
            return None
        return impl(*vals)
    return call


def memoized_traced(comp: TracedCompiler, e: ast.Comprehension, fn: Fn) -> Fn:
    """``Compiler._memoized`` for the traced closures of a comprehension inside a comprehension row.

    Such a comprehension makes no trace node of its own; what it leaves in the trace are the
    fields it reads, recorded in the enclosing row. The memo keeps those reads with the value
    and replays them on a hit, so the trace is the one a fresh evaluation gives. The table
    lives in the record's market-level cache (fresh per traced evaluation).
    """
    paths = comp.invariant_paths(e)
    if not paths:
        return fn
    readers = tuple(path_reader(var_reader(var), steps) for var, steps in paths)
    slot = f"memo:{id(e)}"
    # with no named value inside, a miss leaves nothing in the trace but the reads it replays:
    # the table can serve every record of the market (a named value's first evaluation in a
    # record makes a node, so with one inside the table is the record's own)
    across = not any(
        isinstance(n, ast.Name) and comp.res.names.get(id(n), ("", ""))[0] == "named" for n in ast.walk(e)
    )
    limit = 200_000

    def memo_traced(env: Env) -> Any:
        tr = env.tracer
        assert tr is not None
        outer = tr.row
        if outer is None:
            return fn(env)
        cache = comp.market_store(env.market) if across else env.caches[LEVEL_MARKET]
        table = cache.get(slot)
        if table is None:
            table = cache[slot] = {}
        key = tuple(r(env) for r in readers)
        try:
            value, reads = table[key]
        except KeyError:
            inner: dict[str, Any] = {}
            tr.row = inner
            try:
                value = fn(env)
            finally:
                tr.row = outer
            reads = tuple(inner.items())
            if len(table) < limit:
                table[key] = (value, reads)
        except TypeError:  # an unhashable key (a list): just evaluate
            return fn(env)
        for k, v in reads:
            outer.setdefault(k, v)
        return value
    return memo_traced
