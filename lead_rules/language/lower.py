"""Lowering: Lark parse tree -> frozen AST (third arrow of the pipeline).

Each parse-tree rule becomes one :mod:`lead_rules.language.ast` node with its span in
the YAML file and its source text. Literal syntax is validated here (dates,
months, string escapes), so later stages only see well-formed constants.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from lark import Token, Tree

from . import ast
from .errors import Diagnostics
from .values import Month
from .yaml_source import YNode

AGGREGATES = frozenset(
    {"count", "sum", "min", "max", "any", "all", "list", "distinct", "group_sum", "argmax", "argmin"}
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
MAX_DEPTH = 100
"""How deeply an expression may nest: deeper ones are rejected (E102) so that
checking, compiling and evaluating never exhaust Python's recursion limit."""


class LoweringError(Exception):
    """A construct that parses but is not valid (bad date literal, ...)."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


def _unquote(raw: str, start: int) -> str:
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise LoweringError(f"unknown escape '\\{nxt}' in string", start + i + 1, start + i + 3)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Lowerer:
    def __init__(self, source: str, node: YNode) -> None:
        self.source = source
        self.node = node
        self.depth = 0

    def pos(self, item: Tree[Any] | Token) -> tuple[int, int]:
        if isinstance(item, Token):
            return (item.start_pos or 0, item.end_pos or 0)
        meta = item.meta
        if getattr(meta, "empty", True):
            return (0, len(self.source))
        return (meta.start_pos, meta.end_pos)

    def loc(self, item: Tree[Any] | Token) -> dict[str, Any]:
        start, end = self.pos(item)
        return {"span": self.node.expr_span(start, end), "text": self.source[start:end]}

    def lower(self, item: Tree[Any] | Token) -> ast.Expr:
        if isinstance(item, Token):  # pragma: no cover - grammar always wraps tokens
            raise LoweringError(f"unexpected token {item!r}", *self.pos(item))
        method = getattr(self, "r_" + str(item.data), None)
        if method is None:  # pragma: no cover - every rule has a method
            raise LoweringError(f"unsupported construct {item.data}", *self.pos(item))
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LoweringError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", *self.pos(item))
        try:
            result: ast.Expr = method(item, self.loc(item))
        finally:
            self.depth -= 1
        return result

    # literals
    def r_int_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Literal(int(str(t.children[0])), "int", **loc)

    def r_decimal_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Literal(Decimal(str(t.children[0])), "decimal", **loc)

    def r_string_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        tok = t.children[0]
        assert isinstance(tok, Token)
        return ast.Literal(_unquote(str(tok), tok.start_pos or 0), "string", **loc)

    def r_date_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        tok = t.children[0]
        try:
            value = dt.date.fromisoformat(str(tok)[1:])
        except ValueError:
            raise LoweringError(f"invalid date {str(tok)[1:]!r}", *self.pos(tok)) from None
        return ast.Literal(value, "date", **loc)

    def r_month_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        tok = t.children[0]
        try:
            value = Month.parse(str(tok)[1:])
        except ValueError:
            raise LoweringError(f"invalid month {str(tok)[1:]!r}", *self.pos(tok)) from None
        return ast.Literal(value, "month", **loc)

    def r_true_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Literal(True, "bool", **loc)

    def r_false_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Literal(False, "bool", **loc)

    def r_null_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Literal(None, "null", **loc)

    def r_list_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        items = tuple(self.lower(c) for c in t.children if c is not None)
        return ast.Collection("list", items, **loc)

    def r_set_lit(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        items = tuple(self.lower(c) for c in t.children if c is not None)
        return ast.Collection("set", items, **loc)

    # names and access
    def r_name(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Name(str(t.children[0]), **loc)

    def r_attr(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        obj, name = t.children
        field_loc = dict(loc)
        field_loc["span"] = self.node.expr_span(*self.pos(name))
        return ast.Attr(self.lower(obj), str(name), span=field_loc["span"], text=loc["text"])

    # operators
    def r_neg(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Neg(self.lower(t.children[0]), **loc)

    def r_not_(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Not(self.lower(t.children[0]), **loc)

    def r_binary(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        left, op, right = t.children
        return ast.Binary(str(op), self.lower(left), self.lower(right), **loc)

    def r_compare(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        left, op, right = t.children
        return ast.Compare(str(op), self.lower(left), self.lower(right), **loc)

    def r_in_(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Compare("in", self.lower(t.children[0]), self.lower(t.children[1]), **loc)

    def r_not_in(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.Compare("not in", self.lower(t.children[0]), self.lower(t.children[1]), **loc)

    def r_is_null(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.IsNull(self.lower(t.children[0]), False, **loc)

    def r_is_not_null(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.IsNull(self.lower(t.children[0]), True, **loc)

    def _flatten(self, t: Tree[Any], rule: str) -> list[ast.Expr]:
        out: list[ast.Expr] = []
        for c in t.children:
            if isinstance(c, Tree) and c.data == rule:
                out.extend(self._flatten(c, rule))
            else:
                out.append(self.lower(c))
        return out

    def r_and_(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.BoolOp("and", tuple(self._flatten(t, "and_")), **loc)

    def r_or_(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        return ast.BoolOp("or", tuple(self._flatten(t, "or_")), **loc)

    def r_cond(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        test, then_, else_ = (self.lower(c) for c in t.children)
        return ast.Cond(test, then_, else_, **loc)

    def _kwargs(self, items: list[Any]) -> tuple[tuple[str, ast.Expr], ...]:
        out: list[tuple[str, ast.Expr]] = []
        seen: set[str] = set()
        for kw in items:
            name = str(kw.children[0])
            if name in seen:
                raise LoweringError(f"keyword argument '{name}' given twice", *self.pos(kw))
            seen.add(name)
            out.append((name, self.lower(kw.children[1])))
        return tuple(out)

    def r_call(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        name, args_tree = t.children
        args: list[ast.Expr] = []
        kws: list[Any] = []
        if args_tree is not None:
            for a in args_tree.children:
                if isinstance(a, Tree) and a.data == "kwarg":
                    kws.append(a)
                elif kws:
                    raise LoweringError("positional argument after keyword argument", *self.pos(a))
                else:
                    args.append(self.lower(a))
        return ast.Call(str(name), tuple(args), self._kwargs(kws), **loc)

    def r_agg(self, t: Tree[Any], loc: dict[str, Any]) -> ast.Expr:
        name, comp = t.children
        func = str(name)
        if func not in AGGREGATES:
            raise LoweringError(
                f"'{func}' does not take a comprehension; aggregates are: {', '.join(sorted(AGGREGATES))}",
                *self.pos(name),
            )
        element, var, source = comp.children[0], comp.children[1], comp.children[2]
        where: ast.Expr | None = None
        by: tuple[ast.Expr, ...] = ()
        kws: list[Any] = []
        for part in comp.children[3:]:
            if part is None:
                continue
            if part.data == "where_clause":
                where = self.lower(part.children[0])
            elif part.data == "by_clause":
                by = tuple(self.lower(c) for c in part.children)
            elif part.data == "kwarg":
                kws.append(part)
        return ast.Comprehension(
            func, self.lower(element), str(var), self.lower(source), where, by, self._kwargs(kws), **loc
        )


def lower_tree(tree: Tree[Any], source: str, node: YNode, diags: Diagnostics) -> ast.Expr | None:
    """Lower a parse tree of ``source`` (held by YAML ``node``); record E102 on invalid literals."""
    try:
        return _Lowerer(source, node).lower(tree)
    except LoweringError as exc:
        diags.error("E102", exc.message, node.expr_span(exc.start, exc.end))
        return None
