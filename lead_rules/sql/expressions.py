"""The expression compiler: one checked AST expression -> one SQLGlot expression.

:class:`SqlCompiler` walks the AST of the policy (one ``c_*`` method per
construct: literals, names, arithmetic, comparisons, calls, comprehensions,
aggregates, ``argmax``), folds everything that reads no beneficiary data into
typed literals with the reference interpreter, and materialises each named
item at each ACO as a column (:attr:`SqlCompiler.item_columns`), which
:mod:`.query` orders into CTEs. It is one class over 600 lines because its
methods share one state (the market, the item columns, the issues, the fresh
lambda names) and call each other recursively; splitting it by construct would
only spread that state over mixins.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from ..engine.interpreter import Compiler, Env
from ..engine.policy import Policy
from ..language import ast
from ..language.errors import NO_SPAN, Span
from ..language.records import Market
from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, NULL, ListT, Type
from .builders import (
    and_,
    bool_int_,
    case_,
    col_,
    field_,
    is_bool_,
    is_null_,
    lam_,
    not_,
    not_null_,
    num_,
    or_,
    p_,
    struct_,
    sum_,
)
from .compiled import (
    DIALECTS,
    MISSING,
    NO_LAMBDAS,
    TIE_RULES,
    UNROLL,
    UNROLL_MAX,
    Ctx,
    SqlIssue,
)
from .fused import FUSED, fused_aggregate, hoistable, kleene_code, kleene_result, tabulated
from .sqltypes import (
    DIV_SCALE,
    MONEY_SCALE,
    decimal_type,
    literal,
    month_ordinal,
    month_text,
    ordinal_text,
    sql_type,
    value_scale,
)

# --- the compiler -----------------------------------------------------------------


@dataclass
class _Item:
    """A materialised column: a named item (or tie rank) at one ACO, or bene-level."""

    key: tuple[str, int | None]
    column: str
    expr: exp.Expr | None = None
    depth: int = 1
    span: Span = NO_SPAN




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
        self.lambdas = dialect not in NO_LAMBDAS
        self.issues: list[SqlIssue] = []
        self._issue_keys: set[tuple[str, str, str]] = set()
        self._interp = Compiler(self.doc, self.res, traced=False)
        self._market_cache: dict[str, Any] = {}
        self._free: dict[int, frozenset[str]] = {}
        self._consts: dict[tuple[Any, ...], Any] = {}
        self._scales: dict[tuple[Any, ...], int] = {}
        self.item_columns: dict[tuple[str, int | None], _Item] = {}
        self._ref_stack: list[set[tuple[str, int | None]]] = []
        self._lambda_ids = itertools.count(1)
        self._hoisted = itertools.count(1)

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

    def is_const(self, node: ast.Expr, ctx: Ctx) -> bool:
        for dep in self.free(node):
            if dep == "aco" and ctx.aco is not None:
                continue
            if dep.startswith("var:") and dep[4:] in ctx.consts:
                continue
            return False
        return True

    def const_value(self, node: ast.Expr, ctx: Ctx) -> Any:
        """The value of constant ``node`` by the reference interpreter, or ``MISSING`` when it fails."""
        free = self.free(node)
        bound = {k: v for k, v in ctx.consts.items() if "var:" + k in free}
        key = (id(node), ctx.aco if "aco" in free else None, tuple(sorted((k, id(v)) for k, v in bound.items())))
        got = self._consts.get(key, MISSING)
        if got is not MISSING or key in self._consts:
            return got
        fn = self._interp.compile(node, in_row=False)
        env = Env(None, self.market, self._market_cache, None)
        env.vars.update(bound)
        if ctx.aco is not None:
            env.set_aco(self.acos[ctx.aco])
        try:
            value = fn(env)
        except Exception:
            value = MISSING
        self._consts[key] = value
        return value

    def type_of(self, node: ast.Expr) -> Type:
        return self.res.type_of(node)

    # --- decimal scales ----------------------------------------------------------
    def scale(self, node: ast.Expr, ctx: Ctx) -> int:
        """An upper bound of the decimal places of the decimals in ``node``'s value."""
        key = (id(node), ctx.key(), tuple(sorted(ctx.scales.items())))
        got = self._scales.get(key)
        if got is None:
            got = self._scale(node, ctx)
            self._scales[key] = got
        return got

    def _scale(self, node: ast.Expr, ctx: Ctx) -> int:
        if self.is_const(node, ctx):
            v = self.const_value(node, ctx)
            if v is not MISSING:
                return value_scale(v)
        if isinstance(node, ast.Name):
            kind, name = self.res.names.get(id(node), ("", node.name))
            if kind == "var":
                return ctx.scales.get(name, 0)
            if kind == "root":
                return MONEY_SCALE
            if kind == "named":
                return self.scale(self.doc.named[name].expr, Ctx(ctx.aco))
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
            digits = self.const_value(node.args[1], ctx) if self.is_const(node.args[1], ctx) else MISSING
            return digits if isinstance(digits, int) and digits >= 0 else DIV_SCALE
        if isinstance(node, ast.Comprehension):
            inner = ctx.bind(node.var, exp.Null(), self.scale(node.source, ctx))
            parts = [node.element, *node.by]
            return max(self.scale(p, inner) for p in parts)
        return max((self.scale(c, ctx) for c in node.children()), default=0)

    # --- named items as columns ----------------------------------------------------
    def named_ref(self, name: str, ctx: Ctx, node: ast.Expr | None = None) -> exp.Expr:
        """A reference to named item ``name``: a literal when constant, else its column."""
        item = self.doc.named[name]
        deps = self.res.depends.get(name, frozenset())
        aco = ctx.aco if "aco" in deps else None
        if "bene" not in deps and ("aco" not in deps or aco is not None):
            v = self.const_value(item.expr, Ctx(aco))
            if v is not MISSING:
                return literal(v, self.res.named_types.get(name, NULL), value_scale(v))
        prefix = "c:" if item.kind == "criterion" else "d:"
        column = prefix + name if aco is None else f"{prefix}{name}@{self.acos[aco].id}"
        return self.item_ref((name, aco), column, item.expr, item.span)

    def item_ref(
        self, key: tuple[str, int | None], column: str, expr: ast.Expr, span: Span, ctx: Ctx | None = None
    ) -> exp.Column:
        """A reference to the column of ``key``, compiling ``expr`` (in ``ctx``, no lambda variables) the first time."""
        got = self.item_columns.get(key)
        if got is None:
            got = _Item(key, column, span=span)
            self.item_columns[key] = got
            self._ref_stack.append(set())
            got.expr = self.compile(expr, ctx if ctx is not None else Ctx(key[1]))
            refs = self._ref_stack.pop()
            got.depth = 1 + max((self.item_columns[r].depth for r in refs), default=0)
        if self._ref_stack:
            self._ref_stack[-1].add(key)
        return col_(got.column)

    # --- expressions -----------------------------------------------------------------
    def compile(self, node: ast.Expr, ctx: Ctx) -> exp.Expr:
        """SQL for ``node`` in ``ctx``."""
        if self.is_const(node, ctx) and not isinstance(node, ast.Name):
            v = self.const_value(node, ctx)
            if v is not MISSING:
                return literal(v, self.type_of(node), value_scale(v))
        if ctx.vars and hoistable(self, node, ctx):  # inside a lambda, read once per record
            consts = {k: v for k, v in ctx.consts.items() if "var:" + k in self.free(node)}
            key = (f"h:{id(node)}:{sorted((k, id(v)) for k, v in consts.items())}", ctx.aco)
            column = self.item_columns[key].column if key in self.item_columns else f"h:{next(self._hoisted)}"
            return self.item_ref(key, column, node, node.span, Ctx(ctx.aco, {}, ctx.scales, consts))
        method: Callable[[Any, Ctx], exp.Expr] = getattr(self, "c_" + type(node).__name__.lower())
        return method(node, ctx)

    def c_literal(self, e: ast.Literal, ctx: Ctx) -> exp.Expr:
        return literal(e.value, self.type_of(e))

    def c_collection(self, e: ast.Collection, ctx: Ctx) -> exp.Expr:
        if not e.items:
            return literal((), self.type_of(e))
        return exp.Array(expressions=[self.compile(i, ctx) for i in e.items])

    def c_name(self, e: ast.Name, ctx: Ctx) -> exp.Expr:
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
            if v is not MISSING:
                return literal(v, self.type_of(e), value_scale(v))
        self.issue("error", "S102", f"'{name}' as a whole value cannot be compiled to SQL; read its fields", e.span)
        return exp.Null()

    def c_attr(self, e: ast.Attr, ctx: Ctx) -> exp.Expr:
        if isinstance(e.obj, ast.Name) and self.res.names.get(id(e.obj)) == ("root", "bene"):
            got: exp.Expr = col_(e.name)
        else:
            got = field_(self.compile(e.obj, ctx), e.name)
        return got

    def c_neg(self, e: ast.Neg, ctx: Ctx) -> exp.Expr:
        return exp.Neg(this=p_(self.compile(e.operand, ctx)))

    def c_not(self, e: ast.Not, ctx: Ctx) -> exp.Expr:
        return not_(self.compile(e.operand, ctx))

    def c_binary(self, e: ast.Binary, ctx: Ctx) -> exp.Expr:
        a, b = self.compile(e.left, ctx), self.compile(e.right, ctx)
        lt = self.type_of(e.left)
        if lt == DATE and e.op in "+-":
            n = b if e.op == "+" else exp.Neg(this=p_(b))
            return self.add_days(a, n)
        if lt == MONTH and e.op in "+-":
            cls = exp.Add if e.op == "+" else exp.Sub
            return self.shift_month(cls(this=month_ordinal(a), expression=p_(b)))
        if e.op == "+":
            return exp.Add(this=p_(a), expression=p_(b))
        if e.op == "-":
            return exp.Sub(this=p_(a), expression=p_(b))
        if e.op == "*":
            return exp.Mul(this=p_(a), expression=p_(b))
        return self.divide(e, a, b, ctx)

    def add_days(self, d: exp.Expr, n: exp.Expr) -> exp.Expr:
        return exp.cast(exp.DateAdd(this=p_(d), expression=p_(n), unit=exp.var("DAY")), sql_type(DATE))

    def divide(self, e: ast.Binary, a: exp.Expr, b: exp.Expr, ctx: Ctx) -> exp.Expr:
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
                return exp.cast(exp.Mul(this=p_(x), expression=exp.Literal.number(10**s)), hugeint)

            ai, bi = as_int(a), as_int(b)
            q = exp.IntDiv(
                this=exp.Mul(this=p_(ai), expression=exp.Literal.number(10 ** (DIV_SCALE + 1))), expression=bi
            )
            half = case_(
                (exp.GTE(this=p_(q), expression=exp.Literal.number(0)), exp.Literal.number(5)), default=num_(-5)
            )
            rounded = exp.IntDiv(
                this=exp.Paren(this=exp.Add(this=p_(q), expression=half)), expression=exp.Literal.number(10)
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
        zero = exp.EQ(this=p_(b), expression=exp.Literal.number(0))
        return case_(
            (or_(zero, is_null_(b), is_null_(a)), exp.cast(exp.Null(), decimal_type(DIV_SCALE))), default=quotient
        )

    def c_compare(self, e: ast.Compare, ctx: Ctx) -> exp.Expr:
        if e.op in ("in", "not in"):
            got = self.membership(e, ctx)
            return exp.Not(this=p_(got)) if e.op == "not in" else got
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        if (isinstance(lt, ListT) and lt.is_set) or (isinstance(rt, ListT) and rt.is_set):
            self.issue("error", "S103", "comparing sets with == or != is not supported in SQL (compare lists)", e.span)
        cls = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[e.op]
        fast = self.year_of_month_compare(e, cls, ctx)
        if fast is not None:
            return fast
        a, b = p_(self.compile(e.left, ctx)), p_(self.compile(e.right, ctx))
        return cls(this=a, expression=b)

    def year_of_month_compare(self, e: ast.Compare, cls: type[exp.Expr], ctx: Ctx) -> exp.Expr | None:
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

    def membership(self, e: ast.Compare, ctx: Ctx) -> exp.Expr:
        x = self.compile(e.left, ctx)
        if self.is_const(e.right, ctx):
            v = self.const_value(e.right, ctx)
            if v is None:
                return exp.cast(exp.Null(), sql_type(BOOL))
            if v is not MISSING and None not in v:
                elem_t = self.type_of(e.right)
                et = elem_t.elem if isinstance(elem_t, ListT) else NULL
                items = sorted(v, key=lambda i: (str(type(i)), i)) if isinstance(v, frozenset) else list(v)
                if not items:
                    return case_((is_null_(x), exp.cast(exp.Null(), sql_type(BOOL))), default=exp.false())
                consts = [literal(i, et, value_scale(i)) for i in items]
                if self.duck:
                    # not IN: DuckDB rewrites long IN lists into joins that projection pruning keeps
                    found = exp.ArrayContains(this=exp.Array(expressions=consts), expression=x)
                    return case_((is_null_(x), exp.cast(exp.Null(), sql_type(BOOL))), default=found)
                return exp.In(this=p_(x), expressions=consts)
        lst = self.compile(e.right, ctx)
        contains = exp.Coalesce(this=exp.ArrayContains(this=lst, expression=x), expressions=[exp.false()])
        return case_((or_(is_null_(x), is_null_(lst)), exp.cast(exp.Null(), sql_type(BOOL))), default=contains)

    def c_isnull(self, e: ast.IsNull, ctx: Ctx) -> exp.Expr:
        x = self.compile(e.operand, ctx)
        return not_null_(x) if e.negated else is_null_(x)

    def c_boolop(self, e: ast.BoolOp, ctx: Ctx) -> exp.Expr:
        items = [self.compile(i, ctx) for i in e.items]
        return and_(*items) if e.op == "and" else or_(*items)

    def c_cond(self, e: ast.Cond, ctx: Ctx) -> exp.Expr:
        test = self.compile(e.test, ctx)
        if is_bool_(test, True):
            return self.compile(e.then_, ctx)
        if isinstance(test, exp.Boolean) or (isinstance(test, exp.Cast) and isinstance(test.this, exp.Null)):
            return self.compile(e.else_, ctx)
        return case_((test, self.compile(e.then_, ctx)), default=self.compile(e.else_, ctx))

    # --- builtins ----------------------------------------------------------------------
    def c_call(self, e: ast.Call, ctx: Ctx) -> exp.Expr:
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
            x, lo, hi = (p_(a) for a in args)
            return and_(exp.LTE(this=lo, expression=x), exp.LTE(this=x, expression=hi))
        if f == "date":
            return self.make_date(*args)
        if f == "month":
            y, m = (p_(a) for a in args)
            ok = and_(
                exp.Between(this=y, low=exp.Literal.number(1), high=exp.Literal.number(9999)),
                exp.Between(this=m, low=exp.Literal.number(1), high=exp.Literal.number(12)),
            )
            return case_((ok, month_text(y.copy(), m.copy())))
        if f == "month_of":
            return month_text(exp.Year(this=args[0]), exp.Month(this=args[0].copy()))
        if f == "add_months":
            if types[0] == MONTH:
                return self.shift_month(exp.Add(this=month_ordinal(args[0]), expression=p_(args[1])))
            return self.add_months_date(args[0], args[1])
        if f == "add_days":
            return self.add_days(args[0], args[1])
        if f == "days_between":
            return exp.DateDiff(this=p_(args[1]), expression=p_(args[0]), unit=exp.var("DAY"))
        if f == "months_between":
            a, b = (self.date_ordinal(x) if t == DATE else month_ordinal(x) for x, t in zip(args, types, strict=True))
            return exp.Sub(this=p_(b), expression=p_(a))
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
        return exp.Between(this=p_(ordinal), low=exp.Literal.number(12), high=exp.Literal.number(9999 * 12 + 11))

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
        return case_((self.month_in_range(ordinal), ordinal_text(ordinal.copy())))

    def make_date(self, y: exp.Expr, m: exp.Expr, d: exp.Expr) -> exp.Expr:
        y, m, d = p_(y), p_(m), p_(d)
        last = exp.Day(this=exp.LastDay(this=exp.DateFromParts(year=y, month=m, day=exp.Literal.number(1))))
        ok = and_(
            exp.Between(this=y, low=exp.Literal.number(1), high=exp.Literal.number(9999)),
            exp.Between(this=m, low=exp.Literal.number(1), high=exp.Literal.number(12)),
            exp.GTE(this=d, expression=exp.Literal.number(1)),
        )
        inner = case_((exp.LTE(this=d, expression=last), exp.DateFromParts(year=y, month=m, day=d)))
        return case_((ok, inner))

    def add_months_date(self, d: exp.Expr, n: exp.Expr) -> exp.Expr:
        total = exp.Add(this=p_(self.date_ordinal(d)), expression=p_(n))
        y = exp.IntDiv(this=p_(total), expression=exp.Literal.number(12))
        m = exp.Add(this=exp.Mod(this=p_(total), expression=exp.Literal.number(12)), expression=exp.Literal.number(1))
        last = exp.Day(this=exp.LastDay(this=exp.DateFromParts(year=y, month=m, day=exp.Literal.number(1))))
        day = exp.ArrayMin(this=exp.Array(expressions=[exp.Day(this=d), last]))
        return case_((self.month_in_range(total), exp.DateFromParts(year=y, month=m, day=day)))

    def round_half_up(self, e: ast.Call, x: exp.Expr, ctx: Ctx) -> exp.Expr:
        """``round(x, n)``: half away from zero, as SQL's ROUND on decimals (n a constant)."""
        digits_node = e.args[1]
        digits = self.const_value(digits_node, ctx) if self.is_const(digits_node, ctx) else MISSING
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
        mapped = exp.Transform(this=exp.Array(expressions=[value]), expression=lam_(body(exp.column(p)), p))
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

    def c_comprehension(self, e: ast.Comprehension, ctx: Ctx) -> exp.Expr:
        if e.func in UNROLL and self.is_const(e.source, ctx):
            items = self.const_value(e.source, ctx)
            if items is not MISSING and (items is None or len(items) <= UNROLL_MAX):
                return self.unrolled(e, list(items or ()), ctx)
        self._needs_lambdas(e, f"{e.func}(... for {e.var} in ...)")
        src = self.compile(e.source, ctx)
        if self.duck and e.where is not None and e.func in FUSED:
            return fused_aggregate(self, e, src, ctx, not self.never_null(e.source))
        src_scale = self.scale(e.source, ctx)
        param = self.fresh()
        inner = ctx.bind(e.var, exp.column(param), src_scale)
        filtered = src
        if e.where is not None:
            filtered = exp.ArrayFilter(this=src, expression=lam_(self.compile(e.where, inner), param))

        def mapped(node: ast.Expr) -> exp.Expr:
            if isinstance(node, ast.Name) and self.res.names.get(id(node)) == ("var", e.var):
                return filtered
            p = self.fresh()
            body = self.compile(node, ctx.bind(e.var, exp.column(p), src_scale))
            return exp.Transform(this=filtered, expression=lam_(body, p))

        elem_t = self.type_of(e.element)
        scale = self.scale(e, ctx)
        nullable = not self.never_null(e.source)
        return self.aggregate(e, e.func, filtered, mapped, elem_t, scale, nullable, ctx, inner, param)

    def unrolled(self, e: ast.Comprehension, items: list[Any], ctx: Ctx) -> exp.Expr:
        """A comprehension over a short constant list, written out element by element."""
        if isinstance(items, (set, frozenset)):  # pragma: no cover - constants of sets are sorted
            items = sorted(items)
        src_t = self.type_of(e.source)
        scale = max((value_scale(v) for v in items), default=0)
        lookup = tabulated(self, e, items, ctx, scale) if self.duck else None
        if lookup is not None:
            return lookup
        kept: list[tuple[exp.Expr, exp.Expr]] = []  # (where, element) per element
        for v in items:
            inner = ctx.bind_const(e.var, v, scale)
            where = self.compile(e.where, inner) if e.where is not None else exp.true()
            if is_bool_(where, False) or (isinstance(where, exp.Cast) and isinstance(where.this, exp.Null)):
                continue
            elem = exp.true() if e.func == "count" else self.compile(e.element, inner)
            kept.append((where, elem))
        _ = src_t
        if e.func == "count":
            return sum_([exp.Literal.number(1) if is_bool_(w, True) else bool_int_(w) for w, _ in kept])
        if e.func == "sum":
            zero = exp.Literal.number(0)
            terms = [
                exp.Coalesce(this=x, expressions=[zero])
                if is_bool_(w, True)
                else case_((w, exp.Coalesce(this=x, expressions=[zero])), default=zero)
                for w, x in kept
            ]
            return sum_(terms) if terms else zero
        if e.func in ("any", "all"):
            if e.func == "any":
                parts = [x if is_bool_(w, True) else case_((w, x), default=exp.false()) for w, x in kept]
                return or_(*parts) if parts else exp.false()
            parts = [x if is_bool_(w, True) else case_((w, x), default=exp.true()) for w, x in kept]
            return and_(*parts) if parts else exp.true()
        values = [x if is_bool_(w, True) else case_((w, x)) for w, x in kept]
        if not values:
            return exp.cast(exp.Null(), sql_type(self.type_of(e), scale))
        arr = exp.Array(expressions=values)
        return exp.ArrayMin(this=arr) if e.func == "min" else exp.ArrayMax(this=arr)

    def list_function(self, e: ast.Call, ctx: Ctx) -> exp.Expr:
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
        return case_((is_null_(src), exp.cast(exp.Null(), sql_type(self.type_of(e), scale))), default=got)

    def aggregate(
        self,
        e: ast.Expr,
        func: str,
        filtered: exp.Expr,
        mapped: Callable[[ast.Expr], exp.Expr],
        elem_t: Type,
        scale: int,
        nullable: bool,
        ctx: Ctx,
        inner: Ctx,
        param: exp.Identifier | None,
    ) -> exp.Expr:
        comp = e if isinstance(e, ast.Comprehension) else None
        element = comp.element if comp is not None else ast.Name("_")
        if func == "count":
            if isinstance(filtered, exp.ArraySort):  # the count of a distinct list: no need to sort it
                filtered = filtered.this
            got: exp.Expr = exp.ArraySize(this=filtered)
            return exp.Coalesce(this=got, expressions=[exp.Literal.number(0)]) if nullable else got
        if func == "sum":
            t = DECIMAL if elem_t == DECIMAL else INT
            return self.sum_list(mapped(element), t, scale, zero_when_empty=True)
        if func in ("min", "max"):
            values = mapped(element)
            return exp.ArrayMin(this=values) if func == "min" else exp.ArrayMax(this=values)
        if func in ("any", "all"):
            values = mapped(element)
            body = values.expression if isinstance(values, exp.Transform) else None
            if isinstance(body, exp.Lambda) and len(body.expressions) == 1:  # the codes in the same pass
                codes = exp.Transform(this=values.this, expression=lam_(kleene_code(body.this), *body.expressions))
            else:
                p = self.fresh()
                codes = exp.Transform(this=values, expression=lam_(kleene_code(exp.column(p)), p))
            return kleene_result(func, codes)
        list_t = ListT(elem_t)
        if func == "list":
            got = mapped(element)
        elif func == "distinct":
            p = self.fresh()
            nonnull = mapped(element)
            if not self.duck:  # DuckDB's list_distinct drops the nulls itself
                nonnull = exp.ArrayFilter(this=nonnull, expression=lam_(not_null_(exp.column(p)), p))
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
            merge = case_((is_null_(vc), ac), (is_null_(ac), vc), default=exp.Add(this=ac, expression=vc))
            init = exp.cast(exp.Null(), acc_t)
        return exp.Reduce(this=values, initial=init, merge=lam_(exp.cast(merge, acc_t), acc, v))

    def group_sum(
        self,
        e: ast.Comprehension,
        filtered: exp.Expr,
        elem_t: Type,
        scale: int,
        inner: Ctx,
        param: exp.Identifier,
    ) -> exp.Expr:
        key = self.compile(e.by[0], inner)
        value = self.compile(e.element, inner)
        pairs = exp.Transform(this=filtered, expression=lam_(struct_(k=key, v=value), param))
        total_t = DECIMAL if elem_t == DECIMAL else INT

        def body(ps: exp.Expr) -> exp.Expr:
            p1, p2, k = self.fresh(), self.fresh(), self.fresh()
            known: exp.Expr = exp.Transform(this=ps, expression=lam_(field_(exp.column(p1), "k"), p1))
            if not self.duck:  # DuckDB's list_distinct drops the nulls itself
                known = exp.ArrayFilter(this=known, expression=lam_(not_null_(exp.column(p1)), p1))
            keys = exp.ArraySort(this=exp.ArrayDistinct(this=known))
            is_k = exp.EQ(this=field_(exp.column(p2), "k"), expression=exp.column(k))
            if self.duck:  # one pass, no filtered list: list_sum skips the nulls of the other keys
                values = exp.Transform(this=ps, expression=lam_(case_((is_k, field_(exp.column(p2), "v"))), p2))
            else:
                same = exp.ArrayFilter(this=ps, expression=lam_(is_k, p2))
                values = exp.Transform(this=same, expression=lam_(field_(exp.column(p2), "v"), p2))
            total = self.sum_list(values, total_t, scale, zero_when_empty=False)
            return exp.Transform(this=keys, expression=lam_(struct_(key=exp.column(k), total=total), k))

        return self.let(pairs, body)

    def argmax(
        self, e: ast.Comprehension, filtered: exp.Expr, scale: int, ctx: Ctx, inner: Ctx, param: exp.Identifier
    ) -> exp.Expr:
        """``argmax``/``argmin`` as :func:`~lead_rules.engine.runtime.rank_candidates` and ``pick_winner``."""
        highest = e.func == "argmax"
        fields = {"v": self.compile(e.element, inner)}
        for i, b in enumerate(e.by, start=1):
            fields[f"s{i}"] = self.compile(b, inner)
        cands = exp.Transform(this=filtered, expression=lam_(struct_(**fields), param))
        c = self.fresh()
        live = exp.ArrayFilter(this=cands, expression=lam_(not_null_(field_(exp.column(c), "s1")), c))
        tie_node = dict(e.kwargs)["ties"]
        rule: Any = self.const_value(tie_node, ctx) if self.is_const(tie_node, ctx) else MISSING
        rule_sql: exp.Expr | None = None
        if rule is MISSING:
            rule_sql = self.compile(tie_node, ctx)
            self.issue(
                "note",
                "S202",
                "a tie rule that is not constant: a value other than none/lowest/highest gives null in SQL "
                "where the interpreter reports an error",
                tie_node.span,
            )
        elif rule not in TIE_RULES:
            self.issue("error", "S106", f"unknown tie rule {rule!r}", tie_node.span)

        def level(i: int, tier: exp.Expr) -> exp.Expr:
            if i > len(e.by):
                return self.let(exp.Transform(this=tier, expression=lam_(field_(exp.column(c), "v"), c)), pick)
            p = self.fresh()
            scores = exp.Transform(this=tier, expression=lam_(field_(exp.column(p), f"s{i}"), p))
            best_of = exp.ArrayMax(this=scores) if highest else exp.ArrayMin(this=scores)

            def keep(best: exp.Expr) -> exp.Expr:
                q = self.fresh()
                same = exp.EQ(this=field_(exp.column(q), f"s{i}"), expression=best)
                cond = same if i == 1 else or_(is_null_(best), same)
                return level(i + 1, exp.ArrayFilter(this=tier, expression=lam_(cond, q)))

            return self.let(best_of, keep)

        def pick(values: exp.Expr) -> exp.Expr:
            # pick_winner: the tied values, nulls included; lowest/highest pass over a null
            lo, hi = exp.ArrayMin(this=values), exp.ArrayMax(this=values.copy())
            n = self.fresh()
            nulls = exp.ArraySize(this=exp.ArrayFilter(this=values.copy(), expression=lam_(is_null_(exp.column(n)), n)))
            single = and_(
                exp.EQ(this=lo.copy(), expression=hi.copy()), exp.EQ(this=nulls, expression=exp.Literal.number(0))
            )
            if rule_sql is not None:
                tied: exp.Expr = case_(
                    (exp.EQ(this=rule_sql, expression=exp.Literal.string("lowest")), lo),
                    (exp.EQ(this=rule_sql, expression=exp.Literal.string("highest")), hi),
                )
            elif rule == "lowest":
                tied = lo
            elif rule == "highest":
                tied = hi
            else:
                tied = exp.cast(exp.Null(), sql_type(self.type_of(e), scale))
            return case_((single, lo.copy()), default=tied)

        return self.let(live, lambda tier: level(1, tier))


