"""Small SQLGlot builders shared by the expression compiler and the decision query.

Each returns a SQLGlot node, never SQL text; they fold the trivial cases
(``TRUE AND x`` is ``x``) so the compiled query stays readable. Their names end
in an underscore, as SQLGlot's own ``and_``/``or_`` do, so they do not shadow
the builtins or the local names of their callers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from ..language.types import STRING
from .sqltypes import (
    array_type,
    sql_type,
)


def col_(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def p_(e: exp.Expr) -> exp.Expr:
    """Parenthesise a compound operand."""
    if isinstance(e, (exp.Column, exp.Literal, exp.Paren, exp.Null, exp.Boolean, exp.Dot, exp.Bracket)):
        return e
    if isinstance(e, exp.Func) and not isinstance(e, exp.Binary):
        return e
    return exp.Paren(this=e)


def num_(n: int) -> exp.Expr:
    return exp.Literal.number(n) if n >= 0 else exp.Paren(this=exp.Neg(this=exp.Literal.number(-n)))


def lam_(body: exp.Expr, *params: exp.Identifier) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=list(params))


def case_(*whens: tuple[exp.Expr, exp.Expr], default: exp.Expr | None = None) -> exp.Case:
    c = exp.Case()
    for cond, value in whens:
        c = c.when(cond, value, copy=False)
    if default is not None:
        c = c.else_(default, copy=False)
    return c


def simple_case_(subject: exp.Expr, *whens: tuple[exp.Expr, exp.Expr], default: exp.Expr) -> exp.Case:
    c = exp.Case(this=subject)
    for value, result in whens:
        c = c.when(value, result, copy=False)
    return c.else_(default, copy=False)


def is_bool_(e: exp.Expr, value: bool) -> bool:
    return isinstance(e, exp.Boolean) and e.this is value


def and_(*items: exp.Expr) -> exp.Expr:
    """Kleene AND, with TRUE operands dropped and a FALSE operand deciding."""
    if any(is_bool_(i, False) for i in items):
        return exp.false()
    kept = [i for i in items if not is_bool_(i, True)]
    if not kept:
        return exp.true()
    out = p_(kept[0])
    for i in kept[1:]:
        out = exp.And(this=out, expression=p_(i))
    return out


def or_(*items: exp.Expr) -> exp.Expr:
    """Kleene OR, with FALSE operands dropped and a TRUE operand deciding."""
    if any(is_bool_(i, True) for i in items):
        return exp.true()
    kept = [i for i in items if not is_bool_(i, False)]
    if not kept:
        return exp.false()
    out = p_(kept[0])
    for i in kept[1:]:
        out = exp.Or(this=out, expression=p_(i))
    return out


def not_(e: exp.Expr) -> exp.Expr:
    if isinstance(e, exp.Boolean):
        return exp.false() if e.this else exp.true()
    return exp.Not(this=p_(e))


def is_null_(e: exp.Expr) -> exp.Expr:
    return exp.Is(this=p_(e), expression=exp.Null())


def not_null_(e: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Is(this=p_(e), expression=exp.Null()))


def struct_(**fields: exp.Expr) -> exp.Struct:
    return exp.Struct(
        expressions=[exp.PropertyEQ(this=exp.to_identifier(k, quoted=True), expression=v) for k, v in fields.items()]
    )


def field_(e: exp.Expr, name: str) -> exp.Expr:
    return exp.Dot(this=p_(e), expression=exp.to_identifier(name, quoted=True))


def bool_int_(e: exp.Expr) -> exp.Expr:
    return case_((e, exp.Literal.number(1)), default=exp.Literal.number(0))


def sum_(items: Sequence[exp.Expr]) -> exp.Expr:
    if not items:
        return exp.Literal.number(0)
    out = items[0]
    for i in items[1:]:
        out = exp.Add(this=out, expression=i)
    return out


def strings_(values: list[str]) -> exp.Expr:
    if not values:
        return exp.cast(exp.Array(), array_type(sql_type(STRING)))
    return exp.Array(expressions=[exp.Literal.string(v) for v in values])


