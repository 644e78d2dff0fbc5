"""The interpreter: checked AST -> Python closures (fifth arrow, Python engine).

Names, types and dependencies are resolved once at load time; each expression
becomes a closure ``fn(env) -> value``. Two closure sets are built from the
same semantic functions: the fast one (no trace) and the traced one, which
wraps every node to build the :class:`~lead_rules.engine.trace.TraceNode` tree, marks
short-circuited branches as skipped, records fields read, the rows of
comprehensions and the candidate table of ``argmax``. Semantics (three-valued
logic, null rules) are those of ``docs/language.md``.

The closures of both sets are the hot path and stay together in one class,
:class:`Compiler`; the traced set's own closures (named values making their
nodes, the node wrapper, the traced comparisons, calls and row memo) are in
:mod:`.traced`; the environment they read and the semantic helpers and fused
closure factories they call are in :mod:`.runtime` (re-exported here: ``Env``,
``Fn``, ``Group``, ``EvaluationError``). The fast set is specialised at load
(fused field tests of a loop variable, constants folded, lean aggregate loops;
docs/architecture.md) and never generates source: closures only. The module is
over 600 lines on purpose: the dispatch of both sets, the memo tables and the
lazy tie-break scores of ``argmax`` stay in one class so that a profile reads in
one place.
"""

from __future__ import annotations

from typing import Any

from ..language import ast
from ..language.builtins import BUILTINS
from ..language.checker import Resolution
from ..language.loader import PolicyDoc
from ..language.types import ListT, StructT
from ..language.values import to_json
from .runtime import (
    FINISHERS,
    LEVEL_ACO,
    LEVEL_BENE,
    LEVEL_MARKET,
    MISSING,
    PY_COMPARE,
    Env,
    EvaluationError,
    Fn,
    Group,
    arith_op,
    candidate_table,
    charge,
    compare_op,
    const_compare,
    constant_fn,
    fast_group_sum,
    fit,
    null_last,
    null_propagating_call,
    path_reader,
    pick_winner,
    rank_candidates,
    root_path_reader,
    var_field_between,
    var_field_compare,
    var_field_compare_fn,
    var_field_isnull,
    var_path_reader,
    var_reader,
)
from .trace import TraceNode
from .traced import call_traced, compare_traced, memoized_traced, named_traced, wrap_traced

__all__ = ["Compiler", "Env", "EvaluationError", "Fn", "Group"]


class Compiler:
    """Builds closures for the expressions of one checked policy."""

    def __init__(self, doc: PolicyDoc, res: Resolution, traced: bool) -> None:
        self.doc = doc
        self.res = res
        self.traced = traced
        self.named_fns: dict[str, Fn] = {}
        self._stores: dict[int, tuple[object, dict[Any, Any]]] = {}
        self.levels: dict[str, int] = {}
        for name, deps in res.depends.items():
            self.levels[name] = LEVEL_ACO if "aco" in deps else LEVEL_BENE if "bene" in deps else LEVEL_MARKET

    def market_store(self, market: object) -> dict[Any, Any]:
        """Traced values kept across the records of one market (market-level subtrees, memo tables)."""
        found = self._stores.get(id(market))
        if found is not None and found[0] is market:
            return found[1]
        if len(self._stores) > 16:
            self._stores.clear()
        store: dict[Any, Any] = {}
        self._stores[id(market)] = (market, store)
        return store

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
                v = cache.get(name, MISSING)
                if v is MISSING:
                    v = body(env)
                    cache[name] = v
                return v
            return ref
        return named_traced(self, name, kind, body, level)

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
        return wrap_traced(e, fn)

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
            root_kind, root_name = self.res.names.get(id(node), ("", ""))
            special = (
                var_path_reader(root_name, tuple(steps)) if root_kind == "var"
                else root_path_reader(root_name, tuple(steps)) if root_kind == "root" else None
            )
            read = special if special is not None else path_reader(base, tuple(steps))
            if not self.traced:
                return read
            text = e.text
            if in_row:
                base_kind = self.res.names.get(id(node), ("", ""))
                if isinstance(node, ast.Name) and base_kind[0] == "var" and len(steps) == 1:
                    var_name, (step,) = base_kind[1], steps

                    def read_row1(env: Env) -> Any:  # the common case, c.tin: one call, not three
                        o = env.vars[var_name]
                        v = None if o is None else getattr(o, step)
                        tr = env.tracer
                        if tr is not None:
                            row = tr.row
                            if row is not None:
                                row.setdefault(text, v)
                        return v
                    return read_row1

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
            return None if v is None else fit(-v)
        return neg

    def c_not(self, e: ast.Not, in_row: bool) -> Fn:
        f = self.compile(e.operand, in_row)

        def not_(env: Env) -> Any:
            v = f(env)
            return None if v is None else not v
        return not_

    def c_binary(self, e: ast.Binary, in_row: bool) -> Fn:
        op = arith_op(e.op)
        a, b = self.compile(e.left, in_row), self.compile(e.right, in_row)
        return lambda env: op(a(env), b(env))

    def _folded(self, e: ast.Expr) -> Any:
        """The value of ``e`` when the fast set can know it at load (literals, parameters, their
        comparisons and negations), else ``MISSING``; the traced set folds nothing (its trace shows
        every node)."""
        if self.traced:
            return MISSING
        if isinstance(e, ast.Not):
            v = self._folded(e.operand)
            return v if v is MISSING or v is None else not v
        if isinstance(e, ast.Compare):
            res = self.res
            if isinstance(res.type_of(e.left), ListT) or isinstance(res.type_of(e.right), ListT):
                return MISSING
            a, b = self._folded(e.left), self._folded(e.right)
            if a is MISSING or b is MISSING:
                return MISSING
            if a is None or b is None:
                return None
            try:
                return PY_COMPARE[e.op](a, b)
            except Exception:  # left to fail at run time, as it would
                return MISSING
        return self._constant(e)

    def c_compare(self, e: ast.Compare, in_row: bool) -> Fn:
        folded = self._folded(e)
        if folded is not MISSING:
            return lambda env: folded
        op = compare_op(e.op)
        a, b = self.compile(e.left, in_row), self.compile(e.right, in_row)
        lists = isinstance(self.res.type_of(e.left), ListT) or isinstance(self.res.type_of(e.right), ListT)
        if lists and e.op in ("==", "!="):
            return lambda env: op(a(env), b(env))
        if self.traced:
            const_t = self._constant(e.right) if in_row or isinstance(e.right, ast.Literal) else MISSING
            return compare_traced(a, b, PY_COMPARE[e.op], const_t)
        # fast path: plain Python operators, the right side not evaluated when the left is null
        pyop = PY_COMPARE[e.op]
        const = self._constant(e.right)
        if const is not MISSING:
            if const is None:
                return lambda env: None
            field = self._var_field(e.left)  # c.hcpcs in codes: the read and the test in one closure
            return var_field_compare(*field, e.op, const) if field else const_compare(a, e.op, const)
        field = self._var_field(e.left)
        if field is not None:  # c.from_date <= ay1_end: the field read in the compare's closure
            return var_field_compare_fn(*field, pyop, b)

        def compare(env: Env) -> Any:
            x = a(env)
            if x is None:
                return None
            y = b(env)
            return None if y is None else pyop(x, y)
        return compare

    def _constant(self, e: ast.Expr) -> Any:
        """The value of a literal or parameter, or ``MISSING``."""
        if isinstance(e, ast.Literal):
            return e.value
        if isinstance(e, ast.Name) and self.res.names.get(id(e), ("", ""))[0] == "param":
            return self.doc.parameters[e.name].value
        return MISSING

    def _var_field(self, e: ast.Expr) -> tuple[str, str] | None:
        """(variable, attribute) when ``e`` reads one field of a loop variable (``c.tin``), else None."""
        if not isinstance(e, ast.Attr) or not isinstance(e.obj, ast.Name):
            return None
        kind, name = self.res.names.get(id(e.obj), ("", ""))
        t = self.res.type_of(e.obj)
        return (name, t.attr(e.name) if isinstance(t, StructT) else e.name) if kind == "var" else None

    def c_isnull(self, e: ast.IsNull, in_row: bool) -> Fn:
        field = None if self.traced else self._var_field(e.operand)
        if field is not None:
            return var_field_isnull(*field, e.negated)
        f = self.compile(e.operand, in_row)
        if e.negated:
            return lambda env: f(env) is not None
        return lambda env: f(env) is None

    def c_boolop(self, e: ast.BoolOp, in_row: bool) -> Fn:
        stop = e.op == "or"  # the value that decides: True for or, False for and
        kept: list[Fn] = []
        for item in e.items:  # fast set: a constant operand that cannot decide is left out, after one that
            v = self._folded(item)  # decides nothing more is evaluated (it returns `stop` either way)
            if v is not (not stop):
                kept.append(self.compile(item, in_row) if v is MISSING else constant_fn(v))
            if v is stop:
                break
        if not kept:
            return lambda env: not stop
        fs = tuple(kept)
        if len(fs) == 2:
            f, g = fs

            def boolop2(env: Env) -> Any:  # the common case, unrolled
                v = f(env)
                if v is stop:
                    return stop
                w = g(env)
                if w is stop:
                    return stop
                return None if v is None or w is None else not stop
            return boolop2

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
        test = self._folded(e.test)  # fast set: `if candidate_aggregation == "each_tin" then ...` chosen once
        if test is not MISSING:
            return self.compile(e.then_ if test is True else e.else_, in_row)
        t, a, b = (self.compile(x, in_row) for x in (e.test, e.then_, e.else_))
        return lambda env: a(env) if t(env) is True else b(env)

    def c_call(self, e: ast.Call, in_row: bool) -> Fn:
        fn = BUILTINS[e.func]
        impl = fn.impl
        args = tuple(self.compile(a, in_row) for a in e.args)
        field = self._var_field(e.args[0]) if e.func == "between" and not self.traced and len(args) == 3 else None
        if field is not None:  # between(m.month, lo, hi) over a loop's rows: one closure a row
            return var_field_between(*field, args[1], args[2], impl)
        if fn.null_propagating and not self.traced and len(args) in (1, 2, 3):
            return null_propagating_call(impl, args)
        if fn.null_propagating:  # traced: every argument is evaluated (each leaves its trace), then the null test
            return call_traced(impl, args)
        if len(args) == 2:
            f, g = args
            return lambda env: impl(f(env), g(env))
        if len(args) == 3:
            f, g, h = args
            return lambda env: impl(f(env), g(env), h(env))
        return lambda env: impl(*[a(env) for a in args])

    # --- comprehensions ---
    def c_comprehension(self, e: ast.Comprehension, in_row: bool) -> Fn:
        if not self.traced:
            fast = self._fast_comprehension(e)
            if fast is None and e.func in ("argmax", "argmin") and len(e.by) > 1:
                fast = self._fast_argmax(e)
            if fast is not None:
                return self._memoized(e, fast)
            return self._memoized(e, self._comprehension(e, in_row))
        if in_row:
            return memoized_traced(self, e, self._comprehension(e, in_row))
        return self._comprehension(e, in_row)

    def _fast_argmax(self, e: ast.Comprehension) -> Fn:
        """``argmax``/``argmin`` with tie-break scores (``then``), computed only for the tied candidates.

        The later scores can only order candidates whose first scores are equal and highest
        (lowest for ``argmin``): a candidate alone at the top wins whatever they are. So they
        are evaluated for the candidates tied at the top only; the ranking is
        :func:`rank_candidates` / :func:`pick_winner` over those, which gives the same winner.
        """
        src = self.compile(e.source, False)
        where = self.compile(e.where, False) if e.where is not None else None
        elem = self.compile(e.element, False)
        first, rest = self.compile(e.by[0], False), tuple(self.compile(b, False) for b in e.by[1:])
        ties = self.compile(dict(e.kwargs)["ties"], False)
        var = e.var
        descending = e.func == "argmax"

        def fast_argmax(env: Env) -> Any:
            xs = src(env)
            if xs is None:
                xs = ()
            elif isinstance(xs, frozenset):
                xs = sorted(xs, key=null_last)
            env_vars = env.vars
            live: list[tuple[Any, Any, Any]] = []
            for x in xs:
                env_vars[var] = x
                if where is not None and where(env) is not True:
                    continue
                v = elem(env)
                k = first(env)
                if k is not None:
                    live.append((x, v, k))
            rule = ties(env)
            if not live:
                env_vars.pop(var, None)
                return pick_winner([], rule)[0]
            best = max(c[2] for c in live) if descending else min(c[2] for c in live)
            top = [c for c in live if c[2] == best]
            if len(top) == 1:
                env_vars.pop(var, None)
                return top[0][1]
            rows: list[tuple[Any, tuple[Any, ...]]] = []
            for x, v, k in top:
                env_vars[var] = x
                rows.append((v, (k, *(b(env) for b in rest))))
            env_vars.pop(var, None)
            return pick_winner(rank_candidates(rows, descending), rule)[0]
        return fast_argmax

    def _memoized(self, e: ast.Comprehension, fn: Fn) -> Fn:
        """Memoize a comprehension that reads only market-level values and outer loop fields.

        ``min(a.id for a in market.acos where c.tin in a.participant_tins)`` inside a loop over
        claims depends on nothing but ``c.tin``: its value is kept per market, keyed by the
        values of those fields. Evaluation is pure, so this changes no result.
        """
        paths = self.invariant_paths(e)
        if not paths:
            return fn
        readers = tuple(path_reader(var_reader(var), steps) for var, steps in paths)
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

    def invariant_paths(self, e: ast.Comprehension) -> tuple[tuple[str, tuple[str, ...]], ...]:
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
        """Leaner closures for the aggregates without ``by`` and ``group_sum`` (no trace rows to keep)."""
        if e.func == "group_sum" and len(e.by) == 1:
            where_g = self.compile(e.where, False) if e.where is not None else None
            src_g, elem_g, key_g = (self.compile(x, False) for x in (e.source, e.element, e.by[0]))
            return fast_group_sum(src_g, elem_g, key_g, where_g, e.var)
        if e.by or e.func in ("group_sum", "argmax", "argmin"):
            return None
        src = self.compile(e.source, False)
        where = self.compile(e.where, False) if e.where is not None else None
        elem = self.compile(e.element, False)
        var = e.var
        func = e.func
        itself = isinstance(e.element, ast.Name) and self.res.names.get(id(e.element)) == ("var", var)
        if func == "count":
            def count(env: Env) -> Any:
                xs = src(env)
                if xs is None:
                    return 0
                if where is None:
                    return len(xs)
                charge(env, len(xs))
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
            charge(env, len(xs))
            if isinstance(xs, frozenset):
                xs = sorted(xs, key=null_last)
            env_vars = env.vars
            out = []
            if where is None:
                for x in xs:
                    env_vars[var] = x
                    out.append(x if itself else elem(env))
            elif itself:  # list(c for c in L where ...): the element is the variable
                for x in xs:
                    env_vars[var] = x
                    if where(env) is True:
                        out.append(x)
            else:
                for x in xs:
                    env_vars[var] = x
                    if where(env) is True:
                        out.append(elem(env))
            env_vars.pop(var, None)
            return out

        finish = FINISHERS[func]
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
        count_only = func == "count" and not by

        def rows(env: Env) -> list[tuple[Any, tuple[Any, ...]]]:
            """(element value, by values) of each element kept by ``where``."""
            xs = src(env)
            out: list[tuple[Any, tuple[Any, ...]]] = []
            if xs is None:
                return out
            charge(env, len(xs))
            if isinstance(xs, frozenset):
                # a set has no order: go through it ascending, so that list(...) and the
                # trace rows do not depend on Python's hash seed
                xs = sorted(xs, key=null_last)
            tr = env.tracer if record_rows else None
            trace_rows = tr.stack[-1].rows if tr is not None else None
            env_vars = env.vars
            saved = env_vars.get(var, MISSING)
            for i, x in enumerate(xs):
                env_vars[var] = x
                row: dict[str, Any] | None = None
                if trace_rows is not None:
                    assert tr is not None
                    reads: dict[str, Any] = {}
                    row = {"index": i, "reads": reads}
                    tr.row = reads
                    trace_rows.append(row)
                if where is not None:
                    w = where(env)
                    if row is not None:
                        row["where"] = w
                    if w is not True:
                        continue
                if count_only:
                    out.append((True, ()))
                    continue
                v = elem(env)
                keys = () if not by else (by[0](env),) if len(by) == 1 else tuple(b(env) for b in by)
                if row is not None:
                    row["value"] = v
                    if keys:
                        row["by"] = list(keys)
                out.append((v, keys))
            if tr is not None:
                tr.row = None
            if saved is MISSING:
                env_vars.pop(var, None)
            else:  # pragma: no cover - variables never shadow (checker)
                env_vars[var] = saved
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
        finish = FINISHERS.get(func)
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
                    totals[k] = cur if v is None else (v if cur is None else fit(cur + v))
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
                node.candidates = candidate_table(ranked)
                if len(top) > 1:
                    tied = ", ".join(str(to_json(t)) for t in top)
                    node.note = f"tie between {tied}; rule '{rule}' gives {to_json(winner)}"
            return winner
        return argmax
