"""The SQL compiler: a checked policy and a market -> one SQLGlot query.

:func:`compile_policy` turns the checked AST of a :class:`~lead_rules.policy.Policy`
into a SQLGlot expression tree (built with SQLGlot's builders, never from SQL
text) that decides a whole population read from the relation
:data:`~lead_rules.sql.sqltypes.POPULATION_TABLE`. The market is small and
known at compile time, so it is folded in: every part of an expression that
reads no beneficiary data (parameters, market- and ACO-level definitions, the
fields of ``aco``) is evaluated once by the reference interpreter and inlined as
a typed literal, and each ACO-dependent criterion becomes one column per ACO of
the market. Named items become columns of a chain of CTEs ordered by
dependency depth; comprehensions become higher-order list functions
(``filter``/``transform``/``aggregate``); the pathway, tie and hierarchy rules of
:meth:`lead_rules.policy.Policy._evaluate` and its reasons become CASE and
ARRAY expressions. The result has one row per beneficiary: ``bene_id``,
``outcome``, ``aco_id``, ``pathway``, ``reasons`` and one column per criterion
(per ACO where it depends on the ACO) and per tie rank. Constructs a dialect
cannot express are reported as :class:`SqlIssue` values with the policy
location; nothing is approximated silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from ..engine.interpreter import Compiler, Env
from ..engine.policy import Policy, requirement_label
from ..language import ast
from ..language.errors import NO_SPAN, Span
from ..language.records import Market
from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, NULL, STRING, ListT, Type
from .sqltypes import (
    DIV_SCALE,
    MONEY_SCALE,
    POPULATION_TABLE,
    array_type,
    decimal_type,
    literal,
    month_ordinal,
    month_text,
    ordinal_text,
    sql_type,
    struct_type,
    value_scale,
)

DIALECTS = ("duckdb", "spark", "snowflake", "bigquery", "postgres")
"""Dialects :func:`compile_policy` knows; DuckDB and Spark are the engines that run."""

_NO_LAMBDAS = {"postgres", "bigquery"}
_NO_STRUCT_LITERALS = {"postgres"}
_ON_TIE_RULES = ("not_aligned", "lowest_aco_id")
_UNROLL = ("count", "sum", "any", "all", "min", "max")
_UNROLL_MAX = 64
_TIE_RULES = ("none", "lowest", "highest")

REASON_TYPE = struct_type(
    [
        ("pathway", sql_type(STRING)),
        ("criterion", sql_type(STRING)),
        ("value", sql_type(STRING)),
        ("acos", array_type(sql_type(STRING))),
    ]
)
"""The SQL type of one element of the ``reasons`` column."""


@dataclass(frozen=True)
class SqlIssue:
    """A construct the SQL target cannot express ("error") or expresses with a documented difference ("note")."""

    severity: str
    code: str
    message: str
    span: Span
    dialect: str

    def __str__(self) -> str:
        return f"{self.span}: {self.severity} {self.code} [{self.dialect}]: {self.message}"


@dataclass(frozen=True)
class OutputColumn:
    """A per-beneficiary column of the batch output beyond the decision itself."""

    column: str
    kind: str  # "criterion" | "rank" | "definition" | "on_tie"
    name: str  # the criterion, definition or pathway
    aco_id: str | None  # None: the value does not depend on the ACO


@dataclass
class CompiledSQL:
    """The compiled query for one policy, market and dialect."""

    dialect: str
    query: exp.Select
    columns: list[OutputColumn]
    issues: list[SqlIssue]
    policy: Policy
    market: Market
    input_table: str = POPULATION_TABLE
    reason_texts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Every ``pathway``, ``criterion`` and ``value`` text the ``reasons`` column can hold."""

    @property
    def errors(self) -> list[SqlIssue]:
        """The issues that make the query unusable on its dialect."""
        return [i for i in self.issues if i.severity == "error"]

    def sql(self, dialect: str | None = None, pretty: bool = True) -> str:
        """The query as SQL text in ``dialect`` (default: the dialect compiled for)."""
        return self.query.sql(dialect=dialect or self.dialect, pretty=pretty)

    def criterion_column(self, name: str, aco_id: str | None = None) -> str:
        """The output column of criterion ``name`` (for ``aco_id`` when it depends on the ACO)."""
        for c in self.columns:
            if c.kind == "criterion" and c.name == name and c.aco_id in (aco_id, None):
                return c.column
        raise KeyError(f"no column for criterion {name!r} ({aco_id})")


def criterion_column_name(name: str, aco_id: str | None) -> str:
    """``c:name`` or ``c:name@ACO``."""
    return f"c:{name}" if aco_id is None else f"c:{name}@{aco_id}"


def definition_column_name(name: str, aco_id: str | None) -> str:
    """``d:name`` or ``d:name@ACO``."""
    return f"d:{name}" if aco_id is None else f"d:{name}@{aco_id}"


def rank_column_name(pathway: str, aco_id: str) -> str:
    """``rank:pathway@ACO``."""
    return f"rank:{pathway}@{aco_id}"


# --- small builders ------------------------------------------------------------


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _p(e: exp.Expr) -> exp.Expr:
    """Parenthesise a compound operand."""
    if isinstance(e, (exp.Column, exp.Literal, exp.Paren, exp.Null, exp.Boolean, exp.Dot, exp.Bracket)):
        return e
    if isinstance(e, exp.Func) and not isinstance(e, exp.Binary):
        return e
    return exp.Paren(this=e)


def _num(n: int) -> exp.Expr:
    return exp.Literal.number(n) if n >= 0 else exp.Paren(this=exp.Neg(this=exp.Literal.number(-n)))


def _lam(body: exp.Expr, *params: exp.Identifier) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=list(params))


def _case(*whens: tuple[exp.Expr, exp.Expr], default: exp.Expr | None = None) -> exp.Case:
    c = exp.Case()
    for cond, value in whens:
        c = c.when(cond, value, copy=False)
    if default is not None:
        c = c.else_(default, copy=False)
    return c


def _simple_case(subject: exp.Expr, *whens: tuple[exp.Expr, exp.Expr], default: exp.Expr) -> exp.Case:
    c = exp.Case(this=subject)
    for value, result in whens:
        c = c.when(value, result, copy=False)
    return c.else_(default, copy=False)


def _is_bool(e: exp.Expr, value: bool) -> bool:
    return isinstance(e, exp.Boolean) and e.this is value


def _and(*items: exp.Expr) -> exp.Expr:
    """Kleene AND, with TRUE operands dropped and a FALSE operand deciding."""
    if any(_is_bool(i, False) for i in items):
        return exp.false()
    kept = [i for i in items if not _is_bool(i, True)]
    if not kept:
        return exp.true()
    out = _p(kept[0])
    for i in kept[1:]:
        out = exp.And(this=out, expression=_p(i))
    return out


def _or(*items: exp.Expr) -> exp.Expr:
    """Kleene OR, with FALSE operands dropped and a TRUE operand deciding."""
    if any(_is_bool(i, True) for i in items):
        return exp.true()
    kept = [i for i in items if not _is_bool(i, False)]
    if not kept:
        return exp.false()
    out = _p(kept[0])
    for i in kept[1:]:
        out = exp.Or(this=out, expression=_p(i))
    return out


def _not(e: exp.Expr) -> exp.Expr:
    if isinstance(e, exp.Boolean):
        return exp.false() if e.this else exp.true()
    return exp.Not(this=_p(e))


def _is_null(e: exp.Expr) -> exp.Expr:
    return exp.Is(this=_p(e), expression=exp.Null())


def _not_null(e: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Is(this=_p(e), expression=exp.Null()))


def _struct(**fields: exp.Expr) -> exp.Struct:
    return exp.Struct(
        expressions=[exp.PropertyEQ(this=exp.to_identifier(k, quoted=True), expression=v) for k, v in fields.items()]
    )


def _field(e: exp.Expr, name: str) -> exp.Expr:
    return exp.Dot(this=_p(e), expression=exp.to_identifier(name, quoted=True))


def _bool_int(e: exp.Expr) -> exp.Expr:
    return _case((e, exp.Literal.number(1)), default=exp.Literal.number(0))


def _sum(items: Sequence[exp.Expr]) -> exp.Expr:
    if not items:
        return exp.Literal.number(0)
    out = items[0]
    for i in items[1:]:
        out = exp.Add(this=out, expression=i)
    return out


def _strings(values: list[str]) -> exp.Expr:
    if not values:
        return exp.cast(exp.Array(), array_type(sql_type(STRING)))
    return exp.Array(expressions=[exp.Literal.string(v) for v in values])


# --- the compiler -----------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """Where an expression is compiled: for which ACO, with which comprehension variables."""

    aco: int | None = None
    vars: Mapping[str, exp.Expr] = field(default_factory=dict)
    scales: Mapping[str, int] = field(default_factory=dict)
    consts: Mapping[str, Any] = field(default_factory=dict)  # comprehension variables bound to constants

    def bind(self, var: str, value: exp.Expr, scale: int) -> _Ctx:
        return _Ctx(self.aco, {**self.vars, var: value}, {**self.scales, var: scale}, self.consts)

    def bind_const(self, var: str, value: Any, scale: int) -> _Ctx:
        return _Ctx(self.aco, self.vars, {**self.scales, var: scale}, {**self.consts, var: value})

    def key(self) -> tuple[Any, ...]:
        return (self.aco, tuple(sorted((k, id(v)) for k, v in self.consts.items())))


@dataclass
class _Item:
    """A materialised column: a named item (or tie rank) at one ACO, or bene-level."""

    key: tuple[str, int | None]
    column: str
    expr: exp.Expr | None = None
    depth: int = 1
    span: Span = NO_SPAN


_MISSING = object()


class SqlCompiler:
    """Compiles one policy for one market and dialect (use :func:`compile_policy`)."""

    def __init__(self, policy: Policy, market: Market, dialect: str = "duckdb") -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
        self.policy = policy
        self.doc = policy.doc
        self.res = policy.resolution
        self.market = market
        self.acos = list(market.acos)
        self.dialect = dialect
        self.duck = dialect == "duckdb"
        self.lambdas = dialect not in _NO_LAMBDAS
        self.issues: list[SqlIssue] = []
        self._issue_keys: set[tuple[str, str, str]] = set()
        self._interp = Compiler(self.doc, self.res, traced=False)
        self._market_cache: dict[str, Any] = {}
        self._free: dict[int, frozenset[str]] = {}
        self._consts: dict[tuple[Any, ...], Any] = {}
        self._scales: dict[tuple[Any, ...], int] = {}
        self._items: dict[tuple[str, int | None], _Item] = {}
        self._ref_stack: list[set[tuple[str, int | None]]] = []
        self._lambda_ids = itertools.count(1)

    # --- diagnostics -------------------------------------------------------------
    def issue(self, severity: str, code: str, message: str, span: Span) -> None:
        key = (code, message, str(span))
        if key not in self._issue_keys:
            self._issue_keys.add(key)
            self.issues.append(SqlIssue(severity, code, message, span, self.dialect))

    def _needs_lambdas(self, node: ast.Expr, what: str) -> None:
        if not self.lambdas:
            self.issue(
                "error",
                "S101",
                f"{what} needs higher-order list functions (lambdas), which {self.dialect} does not have",
                node.span,
            )

    # --- dependencies and constants ---------------------------------------------
    def free(self, node: ast.Expr) -> frozenset[str]:
        """What ``node`` reads beyond constants: "bene", "aco" and "var:x" for free variables."""
        got = self._free.get(id(node))
        if got is not None:
            return got
        out: set[str] = set()
        if isinstance(node, ast.Name):
            kind, name = self.res.names.get(id(node), ("", node.name))
            if kind == "root" and name in ("bene", "aco"):
                out.add(name)
            elif kind == "var":
                out.add("var:" + name)
            elif kind == "named":
                out |= self.res.depends.get(name, frozenset()) - {"market"}
        elif isinstance(node, ast.Comprehension):
            out |= self.free(node.source)
            inner: set[str] = set()
            for part in [node.where, node.element, *node.by]:
                if part is not None:
                    inner |= self.free(part)
            out |= inner - {"var:" + node.var}
            for _, kv in node.kwargs:
                out |= self.free(kv)
        else:
            for child in node.children():
                out |= self.free(child)
        result = frozenset(out)
        self._free[id(node)] = result
        return result

    def is_const(self, node: ast.Expr, ctx: _Ctx) -> bool:
        for dep in self.free(node):
            if dep == "aco" and ctx.aco is not None:
                continue
            if dep.startswith("var:") and dep[4:] in ctx.consts:
                continue
            return False
        return True

    def const_value(self, node: ast.Expr, ctx: _Ctx) -> Any:
        """The value of constant ``node`` by the reference interpreter, or ``_MISSING`` when it fails."""
        free = self.free(node)
        bound = {k: v for k, v in ctx.consts.items() if "var:" + k in free}
        key = (id(node), ctx.aco if "aco" in free else None, tuple(sorted((k, id(v)) for k, v in bound.items())))
        got = self._consts.get(key, _MISSING)
        if got is not _MISSING or key in self._consts:
            return got
        fn = self._interp.compile(node, in_row=False)
        env = Env(None, self.market, self._market_cache, None)
        env.vars.update(bound)
        if ctx.aco is not None:
            env.set_aco(self.acos[ctx.aco])
        try:
            value = fn(env)
        except Exception:
            value = _MISSING
        self._consts[key] = value
        return value

    def type_of(self, node: ast.Expr) -> Type:
        return self.res.type_of(node)

    # --- decimal scales ----------------------------------------------------------
    def scale(self, node: ast.Expr, ctx: _Ctx) -> int:
        """An upper bound of the decimal places of the decimals in ``node``'s value."""
        key = (id(node), ctx.key(), tuple(sorted(ctx.scales.items())))
        got = self._scales.get(key)
        if got is None:
            got = self._scale(node, ctx)
            self._scales[key] = got
        return got

    def _scale(self, node: ast.Expr, ctx: _Ctx) -> int:
        if self.is_const(node, ctx):
            v = self.const_value(node, ctx)
            if v is not _MISSING:
                return value_scale(v)
        if isinstance(node, ast.Name):
            kind, name = self.res.names.get(id(node), ("", node.name))
            if kind == "var":
                return ctx.scales.get(name, 0)
            if kind == "root":
                return MONEY_SCALE
            if kind == "named":
                return self.scale(self.doc.named[name].expr, _Ctx(ctx.aco))
            if kind == "param":
                return value_scale(self.doc.parameters[name].value)
            return 0
        if isinstance(node, ast.Binary):
            a, b = self.scale(node.left, ctx), self.scale(node.right, ctx)
            if node.op == "*":
                return a + b
            if node.op == "/":
                return DIV_SCALE
            return max(a, b)
        if isinstance(node, ast.Call) and node.func == "round":
            digits = self.const_value(node.args[1], ctx) if self.is_const(node.args[1], ctx) else _MISSING
            return digits if isinstance(digits, int) and digits >= 0 else DIV_SCALE
        if isinstance(node, ast.Comprehension):
            inner = ctx.bind(node.var, exp.Null(), self.scale(node.source, ctx))
            parts = [node.element, *node.by]
            return max(self.scale(p, inner) for p in parts)
        return max((self.scale(c, ctx) for c in node.children()), default=0)

    # --- named items as columns ----------------------------------------------------
    def named_ref(self, name: str, ctx: _Ctx, node: ast.Expr | None = None) -> exp.Expr:
        """A reference to named item ``name``: a literal when constant, else its column."""
        item = self.doc.named[name]
        deps = self.res.depends.get(name, frozenset())
        aco = ctx.aco if "aco" in deps else None
        if "bene" not in deps and ("aco" not in deps or aco is not None):
            v = self.const_value(item.expr, _Ctx(aco))
            if v is not _MISSING:
                return literal(v, self.res.named_types.get(name, NULL), value_scale(v))
        prefix = "c:" if item.kind == "criterion" else "d:"
        column = prefix + name if aco is None else f"{prefix}{name}@{self.acos[aco].id}"
        return self.item_ref((name, aco), column, item.expr, item.span)

    def item_ref(self, key: tuple[str, int | None], column: str, expr: ast.Expr, span: Span) -> exp.Column:
        """A reference to the column of ``key``, compiling ``expr`` into it the first time."""
        got = self._items.get(key)
        if got is None:
            got = _Item(key, column, span=span)
            self._items[key] = got
            self._ref_stack.append(set())
            got.expr = self.compile(expr, _Ctx(key[1]))
            refs = self._ref_stack.pop()
            got.depth = 1 + max((self._items[r].depth for r in refs), default=0)
        if self._ref_stack:
            self._ref_stack[-1].add(key)
        return _col(got.column)

    # --- expressions -----------------------------------------------------------------
    def compile(self, node: ast.Expr, ctx: _Ctx) -> exp.Expr:
        """SQL for ``node`` in ``ctx``."""
        if self.is_const(node, ctx) and not isinstance(node, ast.Name):
            v = self.const_value(node, ctx)
            if v is not _MISSING:
                return literal(v, self.type_of(node), value_scale(v))
        method: Callable[[Any, _Ctx], exp.Expr] = getattr(self, "c_" + type(node).__name__.lower())
        return method(node, ctx)

    def c_literal(self, e: ast.Literal, ctx: _Ctx) -> exp.Expr:
        return literal(e.value, self.type_of(e))

    def c_collection(self, e: ast.Collection, ctx: _Ctx) -> exp.Expr:
        if not e.items:
            return literal((), self.type_of(e))
        return exp.Array(expressions=[self.compile(i, ctx) for i in e.items])

    def c_name(self, e: ast.Name, ctx: _Ctx) -> exp.Expr:
        kind, name = self.res.names[id(e)]
        if kind == "var":
            if name in ctx.consts:
                v = ctx.consts[name]
                return literal(v, self.type_of(e), value_scale(v))
            return ctx.vars[name]
        if kind == "named":
            return self.named_ref(name, ctx, e)
        if kind == "param":
            p = self.doc.parameters[name]
            return literal(p.value, p.type, value_scale(p.value))
        if kind == "root" and name != "bene":
            v = self.const_value(e, ctx)
            if v is not _MISSING:
                return literal(v, self.type_of(e), value_scale(v))
        self.issue("error", "S102", f"'{name}' as a whole value cannot be compiled to SQL; read its fields", e.span)
        return exp.Null()

    def c_attr(self, e: ast.Attr, ctx: _Ctx) -> exp.Expr:
        if isinstance(e.obj, ast.Name) and self.res.names.get(id(e.obj)) == ("root", "bene"):
            got: exp.Expr = _col(e.name)
        else:
            got = _field(self.compile(e.obj, ctx), e.name)
        return got

    def c_neg(self, e: ast.Neg, ctx: _Ctx) -> exp.Expr:
        return exp.Neg(this=_p(self.compile(e.operand, ctx)))

    def c_not(self, e: ast.Not, ctx: _Ctx) -> exp.Expr:
        return _not(self.compile(e.operand, ctx))

    def c_binary(self, e: ast.Binary, ctx: _Ctx) -> exp.Expr:
        a, b = self.compile(e.left, ctx), self.compile(e.right, ctx)
        lt = self.type_of(e.left)
        if lt == DATE and e.op in "+-":
            n = b if e.op == "+" else exp.Neg(this=_p(b))
            return self.add_days(a, n)
        if lt == MONTH and e.op in "+-":
            cls = exp.Add if e.op == "+" else exp.Sub
            return self.shift_month(cls(this=month_ordinal(a), expression=_p(b)))
        if e.op == "+":
            return exp.Add(this=_p(a), expression=_p(b))
        if e.op == "-":
            return exp.Sub(this=_p(a), expression=_p(b))
        if e.op == "*":
            return exp.Mul(this=_p(a), expression=_p(b))
        return self.divide(e, a, b, ctx)

    def add_days(self, d: exp.Expr, n: exp.Expr) -> exp.Expr:
        return exp.cast(exp.DateAdd(this=_p(d), expression=_p(n), unit=exp.var("DAY")), sql_type(DATE))

    def divide(self, e: ast.Binary, a: exp.Expr, b: exp.Expr, ctx: _Ctx) -> exp.Expr:
        """``a / b`` as a decimal with :data:`DIV_SCALE` places (half up); null when ``b`` is 0."""
        self.issue(
            "note",
            "S201",
            f"division is computed to {DIV_SCALE} decimal places (rounded half up) in SQL; the interpreter "
            "keeps 28 significant digits, so results agree unless two quantities differ by less than "
            f"1e-{DIV_SCALE}",
            e.span,
        )
        s = max(self.scale(e.left, ctx), self.scale(e.right, ctx))
        if self.duck:
            hugeint = exp.DataType(this=exp.DataType.Type.INT128)

            def as_int(x: exp.Expr) -> exp.Expr:
                return exp.cast(exp.Mul(this=_p(x), expression=exp.Literal.number(10**s)), hugeint)

            ai, bi = as_int(a), as_int(b)
            q = exp.IntDiv(
                this=exp.Mul(this=_p(ai), expression=exp.Literal.number(10 ** (DIV_SCALE + 1))), expression=bi
            )
            half = _case(
                (exp.GTE(this=_p(q), expression=exp.Literal.number(0)), exp.Literal.number(5)), default=_num(-5)
            )
            rounded = exp.IntDiv(
                this=exp.Paren(this=exp.Add(this=_p(q), expression=half)), expression=exp.Literal.number(10)
            )
            quotient: exp.Expr = exp.Mul(
                this=exp.cast(rounded, decimal_type(0)),
                expression=exp.cast(exp.Literal.string(f"1e-{DIV_SCALE}"), decimal_type(DIV_SCALE, DIV_SCALE + 1)),
            )
        else:
            narrow = decimal_type(min(s, 18), 20)
            quotient = exp.cast(
                exp.Div(this=exp.cast(a, narrow), expression=exp.cast(b, narrow)), decimal_type(DIV_SCALE)
            )
        zero = exp.EQ(this=_p(b), expression=exp.Literal.number(0))
        return _case(
            (_or(zero, _is_null(b), _is_null(a)), exp.cast(exp.Null(), decimal_type(DIV_SCALE))), default=quotient
        )

    def c_compare(self, e: ast.Compare, ctx: _Ctx) -> exp.Expr:
        if e.op in ("in", "not in"):
            got = self.membership(e, ctx)
            return exp.Not(this=_p(got)) if e.op == "not in" else got
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        if (isinstance(lt, ListT) and lt.is_set) or (isinstance(rt, ListT) and rt.is_set):
            self.issue("error", "S103", "comparing sets with == or != is not supported in SQL (compare lists)", e.span)
        cls = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[e.op]
        fast = self.year_of_month_compare(e, cls, ctx)
        if fast is not None:
            return fast
        a, b = _p(self.compile(e.left, ctx)), _p(self.compile(e.right, ctx))
        return cls(this=a, expression=b)

    def year_of_month_compare(self, e: ast.Compare, cls: type[exp.Expr], ctx: _Ctx) -> exp.Expr | None:
        """``year(m) == 2027`` for a month ``m``: compare the year digits as text (no conversion per row)."""
        for call, other, flipped in ((e.left, e.right, False), (e.right, e.left, True)):
            if not (isinstance(call, ast.Call) and call.func == "year" and self.type_of(call.args[0]) == MONTH):
                continue
            if not self.is_const(other, ctx) or self.is_const(call, ctx):
                continue
            k = self.const_value(other, ctx)
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 9999:
                continue
            digits = exp.Substring(
                this=self.compile(call.args[0], ctx), start=exp.Literal.number(1), length=exp.Literal.number(4)
            )
            year = exp.Literal.string(f"{k:04d}")
            a, b = (year, digits) if flipped else (digits, year)
            return cls(this=a, expression=b)
        return None

    def membership(self, e: ast.Compare, ctx: _Ctx) -> exp.Expr:
        x = self.compile(e.left, ctx)
        if self.is_const(e.right, ctx):
            v = self.const_value(e.right, ctx)
            if v is None:
                return exp.cast(exp.Null(), sql_type(BOOL))
            if v is not _MISSING and None not in v:
                elem_t = self.type_of(e.right)
                et = elem_t.elem if isinstance(elem_t, ListT) else NULL
                items = sorted(v, key=lambda i: (str(type(i)), i)) if isinstance(v, frozenset) else list(v)
                if not items:
                    return _case((_is_null(x), exp.cast(exp.Null(), sql_type(BOOL))), default=exp.false())
                consts = [literal(i, et, value_scale(i)) for i in items]
                if self.duck:
                    # not IN: DuckDB rewrites long IN lists into joins that projection pruning keeps
                    found = exp.ArrayContains(this=exp.Array(expressions=consts), expression=x)
                    return _case((_is_null(x), exp.cast(exp.Null(), sql_type(BOOL))), default=found)
                return exp.In(this=_p(x), expressions=consts)
        lst = self.compile(e.right, ctx)
        contains = exp.Coalesce(this=exp.ArrayContains(this=lst, expression=x), expressions=[exp.false()])
        return _case((_or(_is_null(x), _is_null(lst)), exp.cast(exp.Null(), sql_type(BOOL))), default=contains)

    def c_isnull(self, e: ast.IsNull, ctx: _Ctx) -> exp.Expr:
        x = self.compile(e.operand, ctx)
        return _not_null(x) if e.negated else _is_null(x)

    def c_boolop(self, e: ast.BoolOp, ctx: _Ctx) -> exp.Expr:
        items = [self.compile(i, ctx) for i in e.items]
        return _and(*items) if e.op == "and" else _or(*items)

    def c_cond(self, e: ast.Cond, ctx: _Ctx) -> exp.Expr:
        test = self.compile(e.test, ctx)
        if _is_bool(test, True):
            return self.compile(e.then_, ctx)
        if isinstance(test, exp.Boolean) or (isinstance(test, exp.Cast) and isinstance(test.this, exp.Null)):
            return self.compile(e.else_, ctx)
        return _case((test, self.compile(e.then_, ctx)), default=self.compile(e.else_, ctx))

    # --- builtins ----------------------------------------------------------------------
    def c_call(self, e: ast.Call, ctx: _Ctx) -> exp.Expr:
        f = e.func
        if f in ("count", "sum", "any", "all", "distinct") or (f in ("min", "max") and len(e.args) == 1):
            return self.list_function(e, ctx)
        args = [self.compile(a, ctx) for a in e.args]
        types = [self.type_of(a) for a in e.args]
        if f == "coalesce":
            return exp.Coalesce(this=args[0], expressions=args[1:])
        if f in ("min", "max"):
            arr = exp.Array(expressions=args)
            return exp.ArrayMin(this=arr) if f == "min" else exp.ArrayMax(this=arr)
        if f == "between":
            x, lo, hi = (_p(a) for a in args)
            return _and(exp.LTE(this=lo, expression=x), exp.LTE(this=x, expression=hi))
        if f == "date":
            return self.make_date(*args)
        if f == "month":
            y, m = (_p(a) for a in args)
            ok = _and(
                exp.Between(this=y, low=exp.Literal.number(1), high=exp.Literal.number(9999)),
                exp.Between(this=m, low=exp.Literal.number(1), high=exp.Literal.number(12)),
            )
            return _case((ok, month_text(y.copy(), m.copy())))
        if f == "month_of":
            return month_text(exp.Year(this=args[0]), exp.Month(this=args[0].copy()))
        if f == "add_months":
            if types[0] == MONTH:
                return self.shift_month(exp.Add(this=month_ordinal(args[0]), expression=_p(args[1])))
            return self.add_months_date(args[0], args[1])
        if f == "add_days":
            return self.add_days(args[0], args[1])
        if f == "days_between":
            return exp.DateDiff(this=_p(args[1]), expression=_p(args[0]), unit=exp.var("DAY"))
        if f == "months_between":
            a, b = (self.date_ordinal(x) if t == DATE else month_ordinal(x) for x, t in zip(args, types, strict=True))
            return exp.Sub(this=_p(b), expression=_p(a))
        if f == "year":
            if types[0] == MONTH:
                return exp.cast(
                    exp.Substring(this=args[0], start=exp.Literal.number(1), length=exp.Literal.number(4)),
                    sql_type(INT),
                )
            return exp.Year(this=args[0])
        if f == "first_day":
            return self.first_day(args[0])
        if f == "last_day":
            return exp.LastDay(this=self.first_day(args[0]))
        if f == "abs":
            return exp.Abs(this=args[0])
        if f == "round":
            return self.round_half_up(e, args[0], ctx)
        if f == "len":
            return exp.Length(this=args[0])
        if f == "upper":
            return exp.Upper(this=args[0])
        if f == "lower":
            return exp.Lower(this=args[0])
        if f == "starts_with":
            return exp.StartsWith(this=args[0], expression=args[1])
        self.issue("error", "S104", f"function {f}() has no SQL translation", e.span)  # pragma: no cover
        return exp.Null()  # pragma: no cover

    def month_in_range(self, ordinal: exp.Expr) -> exp.Expr:
        return exp.Between(this=_p(ordinal), low=exp.Literal.number(12), high=exp.Literal.number(9999 * 12 + 11))

    def date_ordinal(self, d: exp.Expr) -> exp.Expr:
        return exp.Sub(
            this=exp.Add(
                this=exp.Mul(this=exp.Year(this=d), expression=exp.Literal.number(12)), expression=exp.Month(this=d)
            ),
            expression=exp.Literal.number(1),
        )

    def first_day(self, m: exp.Expr) -> exp.Expr:
        return exp.cast(exp.Concat(expressions=[m, exp.Literal.string("-01")]), sql_type(DATE))

    def shift_month(self, ordinal: exp.Expr) -> exp.Expr:
        """The month text of an ordinal; null outside years 1-9999."""
        return _case((self.month_in_range(ordinal), ordinal_text(ordinal.copy())))

    def make_date(self, y: exp.Expr, m: exp.Expr, d: exp.Expr) -> exp.Expr:
        y, m, d = _p(y), _p(m), _p(d)
        last = exp.Day(this=exp.LastDay(this=exp.DateFromParts(year=y, month=m, day=exp.Literal.number(1))))
        ok = _and(
            exp.Between(this=y, low=exp.Literal.number(1), high=exp.Literal.number(9999)),
            exp.Between(this=m, low=exp.Literal.number(1), high=exp.Literal.number(12)),
            exp.GTE(this=d, expression=exp.Literal.number(1)),
        )
        inner = _case((exp.LTE(this=d, expression=last), exp.DateFromParts(year=y, month=m, day=d)))
        return _case((ok, inner))

    def add_months_date(self, d: exp.Expr, n: exp.Expr) -> exp.Expr:
        total = exp.Add(this=_p(self.date_ordinal(d)), expression=_p(n))
        y = exp.IntDiv(this=_p(total), expression=exp.Literal.number(12))
        m = exp.Add(this=exp.Mod(this=_p(total), expression=exp.Literal.number(12)), expression=exp.Literal.number(1))
        last = exp.Day(this=exp.LastDay(this=exp.DateFromParts(year=y, month=m, day=exp.Literal.number(1))))
        day = exp.ArrayMin(this=exp.Array(expressions=[exp.Day(this=d), last]))
        return _case((self.month_in_range(total), exp.DateFromParts(year=y, month=m, day=day)))

    def round_half_up(self, e: ast.Call, x: exp.Expr, ctx: _Ctx) -> exp.Expr:
        """``round(x, n)``: half away from zero, as SQL's ROUND on decimals (n a constant)."""
        digits_node = e.args[1]
        digits = self.const_value(digits_node, ctx) if self.is_const(digits_node, ctx) else _MISSING
        if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 18:
            self.issue(
                "error", "S105", "round() needs a constant number of digits from 0 to 18 in SQL", digits_node.span
            )
            return exp.cast(exp.Null(), decimal_type(0))
        scale = max(self.scale(e.args[0], ctx), digits)
        rounded = exp.Round(this=exp.cast(x, decimal_type(scale)), decimals=exp.Literal.number(digits))
        return exp.cast(rounded, decimal_type(digits))

    # --- lists and comprehensions ------------------------------------------------------
    def fresh(self) -> exp.Identifier:
        return exp.to_identifier(f"_x{next(self._lambda_ids)}")

    def let(self, value: exp.Expr, body: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
        """``body(v)`` with ``value`` computed once (a one-element list and ``transform``)."""
        p = self.fresh()
        mapped = exp.Transform(this=exp.Array(expressions=[value]), expression=_lam(body(exp.column(p)), p))
        return exp.Bracket(this=mapped, expressions=[exp.Literal.number(1)], offset=1)

    def never_null(self, node: ast.Expr) -> bool:
        """True when list-valued ``node`` is never null."""
        if isinstance(node, ast.Attr):
            return isinstance(node.obj, ast.Name) and self.res.names.get(id(node.obj)) == ("root", "bene")
        if isinstance(node, ast.Comprehension):
            return node.func in ("list", "distinct", "group_sum")
        if isinstance(node, ast.Collection):
            return True
        if isinstance(node, ast.Name):
            kind, name = self.res.names.get(id(node), ("", ""))
            if kind == "named":
                return self.never_null(self.doc.named[name].expr)
        return False

    def c_comprehension(self, e: ast.Comprehension, ctx: _Ctx) -> exp.Expr:
        if e.func in _UNROLL and self.is_const(e.source, ctx):
            items = self.const_value(e.source, ctx)
            if items is not _MISSING and (items is None or len(items) <= _UNROLL_MAX):
                return self.unrolled(e, list(items or ()), ctx)
        self._needs_lambdas(e, f"{e.func}(... for {e.var} in ...)")
        src = self.compile(e.source, ctx)
        src_scale = self.scale(e.source, ctx)
        param = self.fresh()
        inner = ctx.bind(e.var, exp.column(param), src_scale)
        filtered = src
        if e.where is not None:
            filtered = exp.ArrayFilter(this=src, expression=_lam(self.compile(e.where, inner), param))

        def mapped(node: ast.Expr) -> exp.Expr:
            if isinstance(node, ast.Name) and self.res.names.get(id(node)) == ("var", e.var):
                return filtered
            p = self.fresh()
            body = self.compile(node, ctx.bind(e.var, exp.column(p), src_scale))
            return exp.Transform(this=filtered, expression=_lam(body, p))

        elem_t = self.type_of(e.element)
        scale = self.scale(e, ctx)
        nullable = not self.never_null(e.source)
        return self.aggregate(e, e.func, filtered, mapped, elem_t, scale, nullable, ctx, inner, param)

    def unrolled(self, e: ast.Comprehension, items: list[Any], ctx: _Ctx) -> exp.Expr:
        """A comprehension over a short constant list, written out element by element."""
        if isinstance(items, (set, frozenset)):  # pragma: no cover - constants of sets are sorted
            items = sorted(items)
        src_t = self.type_of(e.source)
        scale = max((value_scale(v) for v in items), default=0)
        kept: list[tuple[exp.Expr, exp.Expr]] = []  # (where, element) per element
        for v in items:
            inner = ctx.bind_const(e.var, v, scale)
            where = self.compile(e.where, inner) if e.where is not None else exp.true()
            if _is_bool(where, False) or (isinstance(where, exp.Cast) and isinstance(where.this, exp.Null)):
                continue
            elem = exp.true() if e.func == "count" else self.compile(e.element, inner)
            kept.append((where, elem))
        _ = src_t
        if e.func == "count":
            return _sum([exp.Literal.number(1) if _is_bool(w, True) else _bool_int(w) for w, _ in kept])
        if e.func == "sum":
            zero = exp.Literal.number(0)
            terms = [
                exp.Coalesce(this=x, expressions=[zero])
                if _is_bool(w, True)
                else _case((w, exp.Coalesce(this=x, expressions=[zero])), default=zero)
                for w, x in kept
            ]
            return _sum(terms) if terms else zero
        if e.func in ("any", "all"):
            if e.func == "any":
                parts = [x if _is_bool(w, True) else _case((w, x), default=exp.false()) for w, x in kept]
                return _or(*parts) if parts else exp.false()
            parts = [x if _is_bool(w, True) else _case((w, x), default=exp.true()) for w, x in kept]
            return _and(*parts) if parts else exp.true()
        values = [x if _is_bool(w, True) else _case((w, x)) for w, x in kept]
        if not values:
            return exp.cast(exp.Null(), sql_type(self.type_of(e), scale))
        arr = exp.Array(expressions=values)
        return exp.ArrayMin(this=arr) if e.func == "min" else exp.ArrayMax(this=arr)

    def list_function(self, e: ast.Call, ctx: _Ctx) -> exp.Expr:
        """``count(L)``, ``sum(L)`` ...: the comprehension over ``L`` itself, null when ``L`` is null."""
        self._needs_lambdas(e, f"{e.func}(list)")
        (node,) = e.args
        src = self.compile(node, ctx)
        lt = self.type_of(node)
        elem_t = lt.elem if isinstance(lt, ListT) else NULL
        scale = self.scale(node, ctx)
        got = self.aggregate(e, e.func, src, lambda _: src, elem_t, scale, False, ctx, ctx, None)
        if self.never_null(node):
            return got
        return _case((_is_null(src), exp.cast(exp.Null(), sql_type(self.type_of(e), scale))), default=got)

    def aggregate(
        self,
        e: ast.Expr,
        func: str,
        filtered: exp.Expr,
        mapped: Callable[[ast.Expr], exp.Expr],
        elem_t: Type,
        scale: int,
        nullable: bool,
        ctx: _Ctx,
        inner: _Ctx,
        param: exp.Identifier | None,
    ) -> exp.Expr:
        comp = e if isinstance(e, ast.Comprehension) else None
        element = comp.element if comp is not None else ast.Name("_")
        if func == "count":
            got: exp.Expr = exp.ArraySize(this=filtered)
            return exp.Coalesce(this=got, expressions=[exp.Literal.number(0)]) if nullable else got
        if func == "sum":
            t = DECIMAL if elem_t == DECIMAL else INT
            return self.sum_list(mapped(element), t, scale, zero_when_empty=True)
        if func in ("min", "max"):
            values = mapped(element)
            return exp.ArrayMin(this=values) if func == "min" else exp.ArrayMax(this=values)
        if func in ("any", "all"):
            p = self.fresh()
            code = _simple_case(
                exp.column(p),
                (exp.true(), exp.Literal.number(2)),
                (exp.false(), exp.Literal.number(0)),
                default=exp.Literal.number(1),
            )
            codes = exp.Transform(this=mapped(element), expression=_lam(code, p))
            if func == "any":
                best = exp.ArrayMax(this=codes)
                return _simple_case(
                    best,
                    (exp.Literal.number(2), exp.true()),
                    (exp.Literal.number(1), exp.cast(exp.Null(), sql_type(BOOL))),
                    default=exp.false(),
                )
            worst = exp.ArrayMin(this=codes)
            return _simple_case(
                worst,
                (exp.Literal.number(0), exp.false()),
                (exp.Literal.number(1), exp.cast(exp.Null(), sql_type(BOOL))),
                default=exp.true(),
            )
        list_t = ListT(elem_t)
        if func == "list":
            got = mapped(element)
        elif func == "distinct":
            p = self.fresh()
            nonnull = exp.ArrayFilter(this=mapped(element), expression=_lam(_not_null(exp.column(p)), p))
            got = exp.ArraySort(this=exp.ArrayDistinct(this=nonnull))
        elif func == "group_sum":
            assert comp is not None and param is not None
            got = self.group_sum(comp, filtered, elem_t, scale, inner, param)
            comp_t = self.type_of(comp)
            list_t = comp_t if isinstance(comp_t, ListT) else list_t
        else:
            assert comp is not None and param is not None
            return self.argmax(comp, filtered, scale, ctx, inner, param)
        if nullable:
            return exp.Coalesce(this=got, expressions=[exp.cast(exp.Array(), sql_type(list_t, scale))])
        return got

    def sum_list(self, values: exp.Expr, t: Type, scale: int, zero_when_empty: bool) -> exp.Expr:
        """The sum of the non-null ``values``: 0 (or null) when there are none."""
        if self.duck:
            total: exp.Expr = exp.ArraySum(this=values)
            return exp.Coalesce(this=total, expressions=[exp.Literal.number(0)]) if zero_when_empty else total
        acc_t = sql_type(t, scale) if t == INT else decimal_type(scale)
        acc, v = self.fresh(), self.fresh()
        ac, vc = exp.column(acc), exp.column(v)
        if zero_when_empty:
            merge: exp.Expr = exp.Add(this=ac, expression=exp.Coalesce(this=vc, expressions=[exp.Literal.number(0)]))
            init = exp.cast(exp.Literal.number(0), acc_t)
        else:
            merge = _case((_is_null(vc), ac), (_is_null(ac), vc), default=exp.Add(this=ac, expression=vc))
            init = exp.cast(exp.Null(), acc_t)
        return exp.Reduce(this=values, initial=init, merge=_lam(exp.cast(merge, acc_t), acc, v))

    def group_sum(
        self,
        e: ast.Comprehension,
        filtered: exp.Expr,
        elem_t: Type,
        scale: int,
        inner: _Ctx,
        param: exp.Identifier,
    ) -> exp.Expr:
        key = self.compile(e.by[0], inner)
        value = self.compile(e.element, inner)
        pairs = exp.Transform(this=filtered, expression=_lam(_struct(k=key, v=value), param))
        total_t = DECIMAL if elem_t == DECIMAL else INT

        def body(ps: exp.Expr) -> exp.Expr:
            p1, p2, k = self.fresh(), self.fresh(), self.fresh()
            known = exp.ArrayFilter(
                this=exp.Transform(this=ps, expression=_lam(_field(exp.column(p1), "k"), p1)),
                expression=_lam(_not_null(exp.column(p1)), p1),
            )
            keys = exp.ArraySort(this=exp.ArrayDistinct(this=known))
            same = exp.ArrayFilter(
                this=ps, expression=_lam(exp.EQ(this=_field(exp.column(p2), "k"), expression=exp.column(k)), p2)
            )
            values = exp.Transform(this=same, expression=_lam(_field(exp.column(p2), "v"), p2))
            total = self.sum_list(values, total_t, scale, zero_when_empty=False)
            return exp.Transform(this=keys, expression=_lam(_struct(key=exp.column(k), total=total), k))

        return self.let(pairs, body)

    def argmax(
        self, e: ast.Comprehension, filtered: exp.Expr, scale: int, ctx: _Ctx, inner: _Ctx, param: exp.Identifier
    ) -> exp.Expr:
        """``argmax``/``argmin`` as :func:`~lead_rules.interpreter.rank_candidates` and ``pick_winner``."""
        highest = e.func == "argmax"
        fields = {"v": self.compile(e.element, inner)}
        for i, b in enumerate(e.by, start=1):
            fields[f"s{i}"] = self.compile(b, inner)
        cands = exp.Transform(this=filtered, expression=_lam(_struct(**fields), param))
        c = self.fresh()
        live = exp.ArrayFilter(this=cands, expression=_lam(_not_null(_field(exp.column(c), "s1")), c))
        tie_node = dict(e.kwargs)["ties"]
        rule: Any = self.const_value(tie_node, ctx) if self.is_const(tie_node, ctx) else _MISSING
        rule_sql: exp.Expr | None = None
        if rule is _MISSING:
            rule_sql = self.compile(tie_node, ctx)
            self.issue(
                "note",
                "S202",
                "a tie rule that is not constant: a value other than none/lowest/highest gives null in SQL "
                "where the interpreter reports an error",
                tie_node.span,
            )
        elif rule not in _TIE_RULES:
            self.issue("error", "S106", f"unknown tie rule {rule!r}", tie_node.span)

        def level(i: int, tier: exp.Expr) -> exp.Expr:
            if i > len(e.by):
                return self.let(exp.Transform(this=tier, expression=_lam(_field(exp.column(c), "v"), c)), pick)
            p = self.fresh()
            scores = exp.Transform(this=tier, expression=_lam(_field(exp.column(p), f"s{i}"), p))
            best_of = exp.ArrayMax(this=scores) if highest else exp.ArrayMin(this=scores)

            def keep(best: exp.Expr) -> exp.Expr:
                q = self.fresh()
                same = exp.EQ(this=_field(exp.column(q), f"s{i}"), expression=best)
                cond = same if i == 1 else _or(_is_null(best), same)
                return level(i + 1, exp.ArrayFilter(this=tier, expression=_lam(cond, q)))

            return self.let(best_of, keep)

        def pick(values: exp.Expr) -> exp.Expr:
            # pick_winner: the tied values, nulls included; lowest/highest pass over a null
            lo, hi = exp.ArrayMin(this=values), exp.ArrayMax(this=values.copy())
            n = self.fresh()
            nulls = exp.ArraySize(this=exp.ArrayFilter(this=values.copy(), expression=_lam(_is_null(exp.column(n)), n)))
            single = _and(
                exp.EQ(this=lo.copy(), expression=hi.copy()), exp.EQ(this=nulls, expression=exp.Literal.number(0))
            )
            if rule_sql is not None:
                tied: exp.Expr = _case(
                    (exp.EQ(this=rule_sql, expression=exp.Literal.string("lowest")), lo),
                    (exp.EQ(this=rule_sql, expression=exp.Literal.string("highest")), hi),
                )
            elif rule == "lowest":
                tied = lo
            elif rule == "highest":
                tied = hi
            else:
                tied = exp.cast(exp.Null(), sql_type(self.type_of(e), scale))
            return _case((single, lo.copy()), default=tied)

        return self.let(live, lambda tier: level(1, tier))


# --- the decision query --------------------------------------------------------------


class _QueryBuilder:
    """Builds the decision query from the compiled criteria and pathways."""

    def __init__(self, sc: SqlCompiler, definitions: bool = False) -> None:
        self.sc = sc
        self.definitions = definitions
        self.acos = sc.acos
        self.ids = [a.id for a in self.acos]
        self.order = sorted(range(len(self.acos)), key=lambda k: self.ids[k])
        self.columns: list[OutputColumn] = []
        self.outputs: list[tuple[str, exp.Expr]] = []
        self.reason_texts: dict[str, set[str]] = {}  # every pathway, criterion, value a reason can hold

    def build(self) -> exp.Select:
        sc = self.sc
        doc = sc.doc
        # criteria: one column each, per ACO where they depend on it
        for name, item in doc.named.items():
            if item.kind != "criterion" and not self.definitions:
                continue
            deps = sc.res.depends.get(name, frozenset())
            targets: list[int | None] = list(range(len(self.acos))) if "aco" in deps else [None]
            for k in targets:
                ref = sc.named_ref(name, _Ctx(k))
                aco_id = None if k is None else self.ids[k]
                if item.kind == "criterion":
                    col = criterion_column_name(name, aco_id)
                    self.columns.append(OutputColumn(col, "criterion", name, aco_id))
                else:
                    col = definition_column_name(name, aco_id)
                    self.columns.append(OutputColumn(col, "definition", name, aco_id))
                self.outputs.append((col, ref))
        # pathways
        pathway_cols: list[tuple[str, exp.Expr]] = []
        tie_cols: list[tuple[str, exp.Expr]] = []
        win_cols: list[tuple[str, exp.Expr]] = []
        plans = []
        for pname, _ in doc.hierarchy:
            pw = doc.pathways[pname]
            plan = self.pathway(pname, pw, pathway_cols, tie_cols, win_cols)
            plans.append(plan)
        # chain of CTEs: named items by depth, then requirements, winners, final
        items = sorted(sc._items.values(), key=lambda i: (i.depth, i.column))
        ctes: list[tuple[str, exp.Select]] = []
        prev = POPULATION_TABLE
        for depth, group in itertools.groupby(items, key=lambda i: i.depth):
            name = f"_lr_level{depth}"
            cols: list[exp.Expr] = [exp.Star()]
            for it in group:
                assert it.expr is not None
                cols.append(exp.alias_(it.expr, it.column, quoted=True, copy=False))
            ctes.append((name, exp.select(*cols, copy=False).from_(prev, copy=False)))
            prev = name
        for name, cols_ in (("_lr_requirements", pathway_cols), ("_lr_ties", tie_cols), ("_lr_pathways", win_cols)):
            projections = [exp.alias_(v, c, quoted=True, copy=False) for c, v in cols_]
            ctes.append((name, exp.select(exp.Star(), *projections, copy=False).from_(prev, copy=False)))
            prev = name
        counts, entries, final = self.final(plans)
        for name, cols_ in (("_lr_failures", counts), ("_lr_reasons", entries)):
            projections = [exp.alias_(v, c, quoted=True, copy=False) for c, v in cols_]
            ctes.append((name, exp.select(exp.Star(), *projections, copy=False).from_(prev, copy=False)))
            prev = name
        outputs = [exp.alias_(v, c, quoted=True, copy=False) for c, v in self.outputs]
        query = exp.select(*final, *outputs, copy=False).from_(prev, copy=False)
        for name, cte in ctes:
            query = query.with_(name, as_=cte, copy=False)
        return query

    def pathway(
        self,
        pname: str,
        pw: Any,
        req_cols: list[tuple[str, exp.Expr]],
        tie_cols: list[tuple[str, exp.Expr]],
        win_cols: list[tuple[str, exp.Expr]],
    ) -> dict[str, Any]:
        sc = self.sc
        n_acos = len(self.acos)
        labels = [requirement_label(r) for r in pw.requires]
        req: list[list[exp.Expr]] = []  # [i][k]
        for i, r in enumerate(pw.requires):
            row: list[exp.Expr] = []
            for k in range(n_acos):
                value = sc.compile(r, _Ctx(k))
                col = f"req:{pname}:{i}@{self.ids[k]}"
                req_cols.append((col, value))
                row.append(_col(col))
            req.append(row)
        q: list[exp.Expr] = []
        for k in range(n_acos):
            col = f"q:{pname}@{self.ids[k]}"
            held = _and(*[req[i][k] for i in range(len(req))]) if req else exp.true()
            req_cols.append((col, exp.Coalesce(this=held, expressions=[exp.false()])))
            q.append(_col(col))
        # ranks
        ranks: list[exp.Expr] | None = None
        if pw.tie_rank is not None and n_acos:
            ranks = []
            for k in range(n_acos):
                col = rank_column_name(pname, self.ids[k])
                ctx = _Ctx(k)
                if sc.is_const(pw.tie_rank, ctx):
                    value = sc.compile(pw.tie_rank, ctx)
                    req_cols.append((col, value))
                    ranks.append(_col(col))
                else:
                    ranks.append(sc.item_ref((f"rank:{pname}", k), col, pw.tie_rank, pw.tie_rank.span))
                self.columns.append(OutputColumn(col, "rank", pname, self.ids[k]))
                self.outputs.append((col, _col(col)))
        # the on_tie rule
        rule: Any = "not_aligned"
        rule_sql: exp.Expr | None = None
        if pw.on_tie is not None:
            if "aco" in sc.free(pw.on_tie):
                sc.issue("error", "S107", "an on_tie rule that depends on the ACO cannot be compiled", pw.on_tie.span)
            elif sc.is_const(pw.on_tie, _Ctx()):
                rule = sc.const_value(pw.on_tie, _Ctx())
                if rule is _MISSING:
                    rule_sql = sc.compile(pw.on_tie, _Ctx())
            else:
                rule_sql = sc.compile(pw.on_tie, _Ctx())
        if rule_sql is not None:
            col = f"on_tie:{pname}"
            req_cols.append((col, rule_sql))
            rule_sql = _col(col)
            self.columns.append(OutputColumn(col, "on_tie", pname, None))
            self.outputs.append((col, _col(col)))
        nq = _sum([_bool_int(x) for x in q])
        if ranks is not None:
            best = exp.ArrayMax(this=exp.Array(expressions=[_case((q[k], ranks[k])) for k in range(n_acos)]))
            tie_cols.append((f"best:{pname}", best))
            best_c = _col(f"best:{pname}")
            top: list[exp.Expr] = [
                exp.Coalesce(
                    this=_and(q[k], _or(_is_null(best_c), exp.EQ(this=ranks[k], expression=best_c))),
                    expressions=[exp.false()],
                )
                for k in range(n_acos)
            ]
        else:
            top = list(q)
        tie_cols.append((f"nq:{pname}", nq))
        ntop = _sum([_bool_int(x) for x in top])
        top_first = _case(*[(top[k], exp.Literal.string(self.ids[k])) for k in self.order]) if n_acos else exp.Null()
        lowest = exp.EQ(this=rule_sql, expression=exp.Literal.string("lowest_aco_id")) if rule_sql is not None else None
        one = exp.EQ(this=_p(ntop), expression=exp.Literal.number(1))
        many = exp.GT(this=_p(ntop), expression=exp.Literal.number(1))
        if rule == "lowest_aco_id" and rule_sql is None:
            winner: exp.Expr = _case((exp.GTE(this=_p(ntop), expression=exp.Literal.number(1)), top_first))
        elif lowest is not None:
            winner = _case((one, top_first), (_and(many, lowest), top_first))
        else:
            winner = _case((one, top_first))
        win_cols.append((f"w:{pname}", winner))
        # the tie reason
        nq_c = _col(f"nq:{pname}")
        qualifying = self.aco_list(q)
        top_sorted = self.aco_list(top, sorted_ids=True)
        whens: list[tuple[exp.Expr, exp.Expr]] = [
            (exp.LTE(this=nq_c, expression=exp.Literal.number(1)), exp.cast(exp.Null(), REASON_TYPE))
        ]
        if ranks is not None:
            whens.append((one, self.reason(pname, "tie.rank", "true", qualifying)))
        if rule_sql is not None:
            assert lowest is not None
            whens.append((lowest, self.reason(pname, "tie.on_tie", "true", top_sorted)))
            valid = exp.In(this=rule_sql, expressions=[exp.Literal.string(r) for r in _ON_TIE_RULES])
            win_cols.append(
                (f"err:{pname}", _and(many, exp.Not(this=exp.Coalesce(this=valid, expressions=[exp.false()]))))
            )
        tie_value = "true" if rule == "lowest_aco_id" and rule_sql is None else "tie"
        tie_reason = _case(*whens, default=self.reason(pname, "tie.on_tie", tie_value, top_sorted))
        win_cols.append((f"t:{pname}", tie_reason))
        per_aco = ["aco" in sc.free(r) for r in pw.requires]
        return {"name": pname, "labels": labels, "req": req, "q": q, "error": rule_sql is not None, "per_aco": per_aco}

    def aco_list(self, flags: Sequence[exp.Expr], sorted_ids: bool = False) -> exp.Expr:
        """The ids of the ACOs whose flag is true, in market (or id) order."""
        order = self.order if sorted_ids else list(range(len(self.acos)))
        if self.sc.duck and order:  # one mask over the id list (the flags are never null)
            ids = exp.Array(expressions=[exp.Literal.string(self.ids[k]) for k in order])
            return exp.Anonymous(this="list_where", expressions=[ids, exp.Array(expressions=[flags[k] for k in order])])
        return self.flatten([(flags[k], exp.Literal.string(self.ids[k])) for k in order], sql_type(STRING))

    def flatten(self, items: Sequence[tuple[exp.Expr, exp.Expr]], elem_t: exp.DataType) -> exp.Expr:
        """The values whose condition is true, in order (no lambda: a flatten of zero-or-one-element lists)."""
        empty = exp.cast(exp.Array(), array_type(elem_t))
        if not items:
            return empty
        parts: list[exp.Expr] = []
        for cond, value in items:
            one = exp.Array(expressions=[value])
            parts.append(one if _is_bool(cond, True) else _case((cond, one), default=empty.copy()))
        return exp.Flatten(this=exp.Array(expressions=parts))

    def reason(self, pathway: str, criterion: str, value: str, acos: exp.Expr | None) -> exp.Expr:
        for key, text in (("pathway", pathway), ("criterion", criterion), ("value", value)):
            self.reason_texts.setdefault(key, set()).add(text)
        acos_sql = acos if acos is not None else exp.cast(exp.Null(), array_type(sql_type(STRING)))
        return _struct(
            pathway=exp.Literal.string(pathway),
            criterion=exp.Literal.string(criterion),
            value=exp.Literal.string(value),
            acos=acos_sql,
        )

    def nonnull_list(self, entries: list[exp.Expr]) -> exp.Expr:
        """The non-null reasons among ``entries``, in order (struct literals are never null)."""
        if self.sc.lambdas:
            p = self.sc.fresh()
            return exp.ArrayFilter(this=exp.Array(expressions=entries), expression=_lam(_not_null(exp.column(p)), p))
        return self.flatten(
            [(exp.true() if isinstance(e, exp.Struct) else _not_null(e), e) for e in entries], REASON_TYPE
        )

    def final(
        self, plans: list[dict[str, Any]]
    ) -> tuple[list[tuple[str, exp.Expr]], list[tuple[str, exp.Expr]], list[exp.Expr]]:
        """The decision projections, with the two CTE column lists they read.

        Each reason a beneficiary may fail with (a requirement false or unknown
        for some ACOs, or a tie) is one column of ``_lr_reasons`` (null when it
        does not apply); the ACO counts those reasons test are columns of
        ``_lr_failures``. The ``reasons`` list then only gathers column values,
        so no expression is evaluated twice.
        """
        n_acos = len(self.acos)
        counts: list[tuple[str, exp.Expr]] = []
        entries: list[tuple[str, exp.Expr]] = []
        failed_entries: list[exp.Expr] = []
        aligned_cases: list[tuple[exp.Expr, exp.Expr]] = []
        for plan in plans:
            pname = plan["name"]
            w = _col(f"w:{pname}")
            held = [self.reason(pname, label, "true", exp.Array(expressions=[w])) for label in plan["labels"]]
            aligned_cases.append((_not_null(w), self.nonnull_list([*held, _col(f"t:{pname}")])))
            for i, label in enumerate(plan["labels"]):
                for value in ("false", "unknown"):
                    flags = []
                    for k in range(n_acos):
                        r = plan["req"][i][k]
                        flags.append(
                            exp.Coalesce(this=exp.Not(this=r), expressions=[exp.false()])
                            if value == "false"
                            else _is_null(r)
                        )
                    if not flags:
                        continue
                    entry_col = f"r:{pname}:{i}:{value}"
                    if not plan["per_aco"][i]:  # the same value for every ACO: all of them or none
                        entries.append((entry_col, _case((flags[0], self.reason(pname, label, value, None)))))
                        failed_entries.append(_col(entry_col))
                        continue
                    count_col = f"n:{pname}:{i}:{value}"
                    counts.append((count_col, _sum([_bool_int(f) for f in flags])))
                    cnt = _col(count_col)
                    acos = _case(
                        (
                            exp.EQ(this=cnt, expression=exp.Literal.number(n_acos)),
                            exp.cast(exp.Null(), array_type(sql_type(STRING))),
                        ),
                        default=self.aco_list(flags),
                    )
                    entry = _case(
                        (
                            exp.GT(this=cnt.copy(), expression=exp.Literal.number(0)),
                            self.reason(pname, label, value, acos),
                        )
                    )
                    entries.append((entry_col, entry))
                    failed_entries.append(_col(entry_col))
            failed_entries.append(_col(f"t:{pname}"))
        if n_acos == 0:
            failed_entries = [self.reason("-", "market_has_acos", "false", None)]
        not_aligned = self.nonnull_list(failed_entries)
        reasons = _case(*aligned_cases, default=not_aligned) if aligned_cases else not_aligned
        winners = [_col(f"w:{p['name']}") for p in plans]
        aco_id = exp.Coalesce(this=winners[0], expressions=winners[1:]) if winners else exp.Null()
        outcome_whens: list[tuple[exp.Expr, exp.Expr]] = []
        pathway_whens: list[tuple[exp.Expr, exp.Expr]] = []
        cause_whens: list[tuple[exp.Expr, exp.Expr]] = []
        for plan, w in zip(plans, winners, strict=True):
            if plan["error"]:
                err = exp.Coalesce(this=_col(f"err:{plan['name']}"), expressions=[exp.false()])
                outcome_whens.append((err, exp.Literal.string("error")))
                pathway_whens.append((err, exp.cast(exp.Null(), sql_type(STRING))))
                cause_whens.append(
                    (err, exp.Literal.string(f"evaluation failed: unknown on_tie rule in pathway {plan['name']}"))
                )
            outcome_whens.append((_not_null(w), exp.Literal.string("aligned")))
            pathway_whens.append((_not_null(w), exp.Literal.string(plan["name"])))
            cause_whens.append((_not_null(w), exp.cast(exp.Null(), sql_type(STRING))))
        outcome = (
            _case(*outcome_whens, default=exp.Literal.string("not_aligned"))
            if outcome_whens
            else exp.Literal.string("not_aligned")
        )
        pathway = _case(*pathway_whens) if pathway_whens else exp.cast(exp.Null(), sql_type(STRING))
        out: list[exp.Expr] = [
            exp.column("bene_id", quoted=True),
            exp.alias_(outcome, "outcome", quoted=True),
            exp.alias_(
                _case((exp.EQ(this=_p(outcome), expression=exp.Literal.string("aligned")), aco_id)),
                "aco_id",
                quoted=True,
            ),
            exp.alias_(pathway, "pathway", quoted=True),
            exp.alias_(reasons, "reasons", quoted=True),
        ]
        if any(p["error"] for p in plans):
            out.append(exp.alias_(_case(*cause_whens), "cause", quoted=True))
        else:
            out.append(exp.alias_(exp.cast(exp.Null(), sql_type(STRING)), "cause", quoted=True))
        return counts, entries, out


def _dialect_check(compiled: CompiledSQL, sc: SqlCompiler) -> None:
    """Render each column in the target dialect; SQLGlot's unsupported constructs become issues."""
    if compiled.dialect == "duckdb":
        return
    spans = {it.column: it.span for it in sc._items.values()}
    for select in compiled.query.find_all(exp.Select):
        for proj in select.expressions:
            if isinstance(proj, exp.Star):
                continue
            try:
                proj.sql(dialect=compiled.dialect, unsupported_level=ErrorLevel.RAISE)
            except UnsupportedError as err:
                span = spans.get(proj.alias_or_name, NO_SPAN)
                sc.issue("error", "S100", f"column {proj.alias_or_name}: {err}", span)
    if compiled.dialect in _NO_STRUCT_LITERALS and any(True for _ in compiled.query.find_all(exp.Struct)):
        span = sc.doc.hierarchy_span or NO_SPAN
        sc.issue(
            "error", "S108", f"{compiled.dialect} has no struct values (the reasons column, group_sum, argmax)", span
        )


def compile_policy(policy: Policy, market: Market, dialect: str = "duckdb", definitions: bool = False) -> CompiledSQL:
    """Compile ``policy`` for ``market`` to one query in ``dialect``.

    The query reads :data:`~lead_rules.sql.sqltypes.POPULATION_TABLE` (the nested,
    validated record form, months as ``YYYY-MM`` text) and returns one row per
    beneficiary; with ``definitions`` it also returns every definition (``d:``
    columns). Check :attr:`CompiledSQL.errors` before running it.
    """
    sc = SqlCompiler(policy, market, dialect)
    decision = policy.doc.decision
    if decision is not None:  # verdicts, rankings and computations run on the interpreter (lead_rules.kinds)
        sc.issue(
            "error", "S120",
            f"a '{decision.kind}' decision is not compilable to SQL; evaluate it with 'lead-rules evaluate'",
            decision.span,
        )
    qb = _QueryBuilder(sc, definitions)
    query = qb.build()
    texts = {key: frozenset(values) for key, values in qb.reason_texts.items()}
    compiled = CompiledSQL(dialect, query, qb.columns, sc.issues, policy, market, reason_texts=texts)
    _dialect_check(compiled, sc)
    compiled.issues = sorted(sc.issues, key=lambda i: (i.span.file, i.span.line, i.span.column, i.code, i.message))
    return compiled


def check_sql(policy: Policy, market: Market, dialect: str) -> list[SqlIssue]:
    """The issues of compiling ``policy`` to ``dialect`` (errors: what the dialect cannot express)."""
    return compile_policy(policy, market, dialect).issues
