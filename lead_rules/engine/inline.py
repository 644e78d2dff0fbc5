"""The fast closures as generated Python: an untraced expression inlined into one function.

The untraced closures of :mod:`.interpreter` call one Python function per AST
node and per element of a comprehension; on the LEAD policy that is most of
the time (a ``where`` over 22 claim lines is five or six calls a line). For
the fast set, :class:`Inliner` writes the Python source of one function per
expression instead, with the same semantics node by node (the closures of
:class:`~.interpreter.Compiler` are the reference: three-valued ``and`` /
``or`` with the same short-circuit order, nulls propagated the same way,
:func:`~.runtime.fit` on the same results), and the comprehensions as plain
``for`` loops over a local element. What it does not inline it calls: a named
value (its cached closure, the cache lookup inlined), a nested comprehension
(its memoised closure), a builtin (its implementation).

Nothing of the policy's text reaches the generated source but field names that
are Python identifiers (others are read with ``getattr``); every value, name and
closure is bound in the function's own namespace (no builtins), and nesting is
bounded (:data:`MAX_DEPTH`, deeper parts become functions of their own), so a
policy cannot make the generated source fail to compile. The traced closures
are not generated: the trace records every node, which needs the closures.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any, Protocol

from ..language import ast
from ..language.builtins import BUILTINS
from ..language.checker import Resolution
from ..language.loader import PolicyDoc
from ..language.types import ListT, StructT
from .runtime import FINISHERS, MISSING, Fn, Group, arith_op, charge, compare_op, fit, null_last


class Compiler(Protocol):
    """What the inliner needs of :class:`lead_rules.engine.interpreter.Compiler` (which imports this module)."""

    doc: PolicyDoc
    res: Resolution

    def compile(self, e: ast.Expr, in_row: bool) -> Fn: ...
    def closure(self, e: ast.Expr) -> Fn: ...
    def named(self, name: str) -> Fn: ...
    def constant(self, e: ast.Expr) -> Any: ...
    def level_of(self, name: str) -> int: ...

MAX_DEPTH = 120
"""Parentheses nested in one generated function (Python's parser allows 200); deeper parts are called."""
MAX_CHAIN = 8
"""Operands of one ``and`` / ``or`` inlined (each nests the rest two parentheses deeper); longer ones are called."""

PY_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "in", "not in": "not in"}
INLINED = (ast.Neg, ast.Not, ast.Binary, ast.Compare, ast.IsNull, ast.BoolOp, ast.Cond, ast.Call, ast.Collection)
"""The nodes :meth:`Compiler.compile` hands to the inliner (leaves and comprehensions keep their closures)."""


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


class _Source:
    """The source and namespace of one generated function."""

    def __init__(self, comp: Compiler, loop_var: str | None) -> None:
        self.comp = comp
        self.loop_var = loop_var  # the variable held in the local ``x`` (a comprehension's element)
        self.ns: dict[str, Any] = {"__builtins__": {}, "len": len, "tuple": tuple}
        self.temps = 0
        self.calls_out = False  # a called closure may read the loop variable from env.vars

    def bind(self, value: Any) -> str:
        name = f"_k{len(self.ns)}"
        self.ns[name] = value
        return name

    def tmp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def call(self, fn: Fn) -> str:
        self.calls_out = True
        return f"{self.bind(fn)}(env)"

    def finish(self, text: str, name: str) -> Any:
        code = compile(text, f"<lead-rules {name}>", "exec")
        exec(code, self.ns)  # the source is made here from the AST: see the module docstring
        return self.ns[name]

    # --- expressions ---
    def expr(self, e: ast.Expr, depth: int) -> str:
        if depth > MAX_DEPTH:
            return self.call(self.comp.compile(e, False))
        d = depth + 4
        if isinstance(e, ast.Literal):
            return repr(e.value) if e.value is None or isinstance(e.value, bool) else self.bind(e.value)
        if isinstance(e, ast.Name):
            return self.name(e)
        if isinstance(e, ast.Attr):
            obj_t = self.comp.res.type_of(e.obj)
            attr = obj_t.attr(e.name) if isinstance(obj_t, StructT) else e.name
            t = self.tmp()
            read = f"{t}.{attr}" if _identifier(attr) else f"{self.bind(getattr)}({t}, {self.bind(attr)})"
            return f"(None if ({t} := {self.expr(e.obj, d)}) is None else {read})"
        if isinstance(e, ast.Neg):
            t = self.tmp()
            return f"(None if ({t} := {self.expr(e.operand, d)}) is None else {self.bind(fit)}(-{t}))"
        if isinstance(e, ast.Not):
            t = self.tmp()
            return f"(None if ({t} := {self.expr(e.operand, d)}) is None else not {t})"
        if isinstance(e, ast.Binary):
            return f"{self.bind(arith_op(e.op))}({self.expr(e.left, d)}, {self.expr(e.right, d)})"
        if isinstance(e, ast.Compare):
            return self.compare(e, d)
        if isinstance(e, ast.IsNull):
            return f"({self.expr(e.operand, d)} is {'not ' if e.negated else ''}None)"
        if isinstance(e, ast.BoolOp):
            return self.boolop(e, d)
        if isinstance(e, ast.Cond):
            test, a, b = (self.expr(x, d) for x in (e.test, e.then_, e.else_))
            return f"({a} if ({test}) is True else {b})"
        if isinstance(e, ast.Call):
            return self.call_(e, d)
        if isinstance(e, ast.Collection) and not all(isinstance(i, ast.Literal) for i in e.items):
            items = "".join(self.expr(i, d) + ", " for i in e.items)
            return f"{self.bind(frozenset)}(({items}))" if e.kind == "set" else f"({items})"
        if isinstance(e, ast.Collection):
            values = [i.value for i in e.items if isinstance(i, ast.Literal)]  # a constant, as c_collection
            return self.bind(frozenset(values) if e.kind == "set" else tuple(values))
        return self.call(self.comp.compile(e, False))  # a comprehension: its (memoised) closure

    def name(self, e: ast.Name) -> str:
        kind, name = self.comp.res.names[id(e)]
        if kind == "var":
            if name == self.loop_var:
                return "x"
            return f"env.vars[{self.bind(name)}]"
        if kind == "root":
            return "env.bene" if name == "bene" else "env.market" if name == "market" else "env.aco"
        if kind == "param":
            return self.bind(self.comp.doc.parameters[name].value)
        ref = self.comp.named(name)  # a named value: its cache looked up here, evaluated by its closure
        level = self.comp.level_of(name)
        t = self.tmp()
        miss = self.bind(MISSING)
        return (f"({t} if ({t} := env.caches[{level}].get({self.bind(name)}, {miss})) is not {miss} "
                f"else {self.call(ref)})")

    def compare(self, e: ast.Compare, d: int) -> str:
        res = self.comp.res
        lists = isinstance(res.type_of(e.left), ListT) or isinstance(res.type_of(e.right), ListT)
        if lists and e.op in ("==", "!="):
            return f"{self.bind(compare_op(e.op))}({self.expr(e.left, d)}, {self.expr(e.right, d)})"
        op = PY_OPS[e.op]
        const = self.comp.constant(e.right)
        t = self.tmp()
        if const is not MISSING:
            if const is None:
                return "None"  # as the closure: the left side is not evaluated
            return f"(None if ({t} := {self.expr(e.left, d)}) is None else {t} {op} {self.bind(const)})"
        u = self.tmp()
        return (f"(None if ({t} := {self.expr(e.left, d)}) is None else "
                f"(None if ({u} := {self.expr(e.right, d)}) is None else {t} {op} {u}))")

    def boolop(self, e: ast.BoolOp, d: int) -> str:
        stop, go = ("True", "False") if e.op == "or" else ("False", "True")
        if len(e.items) > MAX_CHAIN:
            return self.call(self.comp.closure(e))
        temps = [self.tmp() for _ in e.items]
        items = [self.expr(item, d + 2 * i) for i, item in enumerate(e.items)]
        tail = f"(None if {' or '.join(t + ' is None' for t in temps)} else {go})"
        for t, item in reversed(list(zip(temps, items, strict=True))):
            tail = f"({stop} if ({t} := {item}) is {stop} else {tail})"
        return tail

    def call_(self, e: ast.Call, d: int) -> str:
        fn = BUILTINS[e.func]
        impl = self.bind(fn.impl)
        if fn.null_propagating and len(e.args) in (1, 2, 3):
            temps = [self.tmp() for _ in e.args]
            args = [self.expr(a, d + 2 * i) for i, a in enumerate(e.args)]
            tail = f"{impl}({', '.join(temps)})"
            for t, a in reversed(list(zip(temps, args, strict=True))):
                tail = f"(None if ({t} := {a}) is None else {tail})"
            return tail
        if fn.null_propagating:
            return self.call(self.comp.closure(e))  # every argument evaluated, then the null test
        return f"{impl}({', '.join(self.expr(a, d) for a in e.args)})"

    # --- comprehensions ---
    def loop_head(self, e: ast.Comprehension, none: str, sort: bool, budget: bool) -> list[str]:
        """The start of a generated comprehension: ``xs`` from the source, charged and ordered."""
        lines = ["def comp(env):", f"    xs = {self.bind(self.comp.compile(e.source, False))}(env)"]
        lines.append(f"    if xs is None:\n        {none}")
        if budget:
            lines.append(f"    {self.bind(charge)}(env, len(xs))")
        if sort:
            lines.append(f"    if {self.bind(isinstance)}(xs, {self.bind(frozenset)}):")
            lines.append(f"        xs = {self.bind(sorted)}(xs, key={self.bind(null_last)})")
        return lines

    def loop(self, lines: list[str], body: list[str], e: ast.Comprehension, result: str) -> Any:
        """Close a generated comprehension: the loop over ``xs`` (``body`` indented in it) and the result."""
        var = self.bind(e.var)
        if self.calls_out:  # a closure called in the body reads the element from env.vars
            lines += ["    env_vars = env.vars", "    for x in xs:", f"        env_vars[{var}] = x"]
        else:
            lines.append("    for x in xs:")
        lines += ["        " + b for b in body]
        if self.calls_out:
            lines.append(f"    env_vars.pop({var}, None)")
        lines.append(f"    return {result}")
        return self.finish("\n".join(lines) + "\n", "comp")


def _totals(rows: list[tuple[Any, Any]]) -> tuple[Group, ...]:
    """The ``group_sum`` of (value, key) rows, as the closure of :mod:`.interpreter` sums them."""
    totals: dict[Any, Any] = {}
    for v, k in rows:
        if k is None:
            continue
        cur = totals.get(k)
        totals[k] = cur if v is None else (v if cur is None else fit(cur + v))
    return tuple(Group(k, totals[k]) for k in sorted(totals))


class Inliner:
    """Generates the fast functions of one :class:`~.interpreter.Compiler` (untraced)."""

    def __init__(self, comp: Compiler) -> None:
        self.comp = comp

    def function(self, e: ast.Expr) -> Fn:
        """``e`` as one generated function ``fn(env) -> value``."""
        src = _Source(self.comp, None)
        body = src.expr(e, 0)
        fn: Fn = src.finish(f"def fn(env):\n    return {body}\n", "fn")
        return fn

    def comprehension(self, e: ast.Comprehension) -> Fn | None:
        """A generated loop for the aggregates without ``by``, ``count`` and ``group_sum``; else None."""
        if e.func == "count" and not e.by:
            return self._count(e)
        if e.func == "group_sum" and len(e.by) == 1:
            return self._group_sum(e)
        if e.by or e.func not in FINISHERS:
            return None
        src = _Source(self.comp, e.var)
        where = src.expr(e.where, 1) if e.where is not None else None
        elem = src.expr(e.element, 1)
        finish = src.bind(FINISHERS[e.func])
        lines = src.loop_head(e, f"return {finish}([])", sort=True, budget=True)
        lines.append("    out = []")
        body = [f"out.append({elem})"] if where is None else [f"if ({where}) is True:", f"    out.append({elem})"]
        fn: Fn = src.loop(lines, body, e, f"{finish}(out)")
        return fn

    def _count(self, e: ast.Comprehension) -> Fn:
        src = _Source(self.comp, e.var)
        if e.where is None:
            lines = src.loop_head(e, "return 0", sort=False, budget=False)
            fn0: Fn = src.finish("\n".join(lines) + "\n    return len(xs)\n", "comp")
            return fn0
        where = src.expr(e.where, 1)
        lines = src.loop_head(e, "return 0", sort=False, budget=True)
        lines.append("    n = 0")
        fn: Fn = src.loop(lines, [f"if ({where}) is True:", "    n += 1"], e, "n")
        return fn

    def _group_sum(self, e: ast.Comprehension) -> Fn:
        src = _Source(self.comp, e.var)
        where = src.expr(e.where, 1) if e.where is not None else None
        elem, key = src.expr(e.element, 1), src.expr(e.by[0], 1)
        lines = src.loop_head(e, "return ()", sort=True, budget=True)
        lines.append("    rows = []")
        body = [f"rows.append(({elem}, {key}))"]
        if where is not None:
            body = [f"if ({where}) is True:"] + ["    " + b for b in body]
        src.ns["totals_of"] = _totals
        fn: Fn = src.loop(lines, body, e, "totals_of(rows)")
        return fn

    def argmax_candidates(self, e: ast.Comprehension) -> Callable[[Any], list[tuple[Any, Any, Any]]]:
        """The (element, value, first score) of the elements kept by ``where`` whose first score is known.

        The first loop of :meth:`~.interpreter.Compiler.fast_argmax` generated; it leaves the variable
        bound (the tie-break scores are evaluated after it, for the tied elements).
        """
        src = _Source(self.comp, e.var)
        where = src.expr(e.where, 1) if e.where is not None else None
        elem, first = src.expr(e.element, 1), src.expr(e.by[0], 1)
        src.calls_out = True  # the tie-break scores read the element from env.vars
        lines = src.loop_head(e, "xs = ()", sort=True, budget=False)
        lines.append("    live = []")
        body = [f"v = {elem}", f"k = {first}", "if k is not None:", "    live.append((x, v, k))"]
        if where is not None:
            body = [f"if ({where}) is True:"] + ["    " + b for b in body]
        lines_done = "\n".join(lines)
        var = src.bind(e.var)
        text = (lines_done + "\n    env_vars = env.vars\n    for x in xs:\n"
                + f"        env_vars[{var}] = x\n" + "".join("        " + b + "\n" for b in body)
                + "    return live\n")
        fn: Callable[[Any], list[tuple[Any, Any, Any]]] = src.finish(text, "comp")
        return fn
