"""The frozen expression AST: the output of lowering, the input of checking.

Nodes are immutable dataclasses with one class per construct. Each node carries
its :class:`~lead_rules.language.errors.Span` in the YAML file and the source ``text`` of
the expression it came from; both are excluded from equality and hashing, so
two expressions that mean the same compare equal wherever they were written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import NO_SPAN, Span
from .values import Month

LiteralValue = bool | int | Decimal | str | dt.date | Month | None


@dataclass(frozen=True)
class Expr:
    """Base of all expression nodes."""

    span: Span = field(default=NO_SPAN, compare=False, hash=False, repr=False, kw_only=True)
    text: str = field(default="", compare=False, hash=False, repr=False, kw_only=True)

    def children(self) -> tuple[Expr, ...]:
        """Direct sub-expressions, in evaluation order."""
        return ()


@dataclass(frozen=True)
class Literal(Expr):
    """A constant: int, decimal, string, bool, date, month or null."""

    value: LiteralValue
    kind: str  # "int" | "decimal" | "string" | "bool" | "date" | "month" | "null"


@dataclass(frozen=True)
class Collection(Expr):
    """A list ``[a, b]`` or set ``{a, b}`` literal."""

    kind: str  # "list" | "set"
    items: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.items


@dataclass(frozen=True)
class Name(Expr):
    """A bare name: root, parameter, definition, criterion or comprehension variable."""

    name: str


@dataclass(frozen=True)
class Attr(Expr):
    """Field access ``obj.name``."""

    obj: Expr
    name: str

    def children(self) -> tuple[Expr, ...]:
        return (self.obj,)


@dataclass(frozen=True)
class Neg(Expr):
    """Arithmetic negation ``-x``."""

    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Not(Expr):
    """Kleene negation ``not x``."""

    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Expr):
    """Arithmetic ``+ - * /``."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Compare(Expr):
    """Comparison ``== != < <= > >= in not_in``."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class IsNull(Expr):
    """``x is null`` (or ``x is not null`` when ``negated``)."""

    operand: Expr
    negated: bool

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class BoolOp(Expr):
    """N-ary Kleene ``and`` / ``or``, evaluated left to right with short-circuit."""

    op: str  # "and" | "or"
    items: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.items


@dataclass(frozen=True)
class Cond(Expr):
    """``if test then then_ else else_`` (unknown test takes ``else_``)."""

    test: Expr
    then_: Expr
    else_: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.test, self.then_, self.else_)


@dataclass(frozen=True)
class Call(Expr):
    """A scalar builtin call ``f(a, b, k: c)``."""

    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.args + tuple(e for _, e in self.kwargs)


@dataclass(frozen=True)
class Comprehension(Expr):
    """An aggregate over a list: ``f(element for var in source where cond by keys, k: v)``."""

    func: str
    element: Expr
    var: str
    source: Expr
    where: Expr | None
    by: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...] = ()

    def children(self) -> tuple[Expr, ...]:
        parts: list[Expr] = [self.source]
        if self.where is not None:
            parts.append(self.where)
        parts.append(self.element)
        parts.extend(self.by)
        parts.extend(e for _, e in self.kwargs)
        return tuple(parts)


def walk(expr: Expr) -> list[Expr]:
    """All nodes of ``expr`` in pre-order."""
    out: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children()))
    return out
