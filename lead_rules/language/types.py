"""The type system of the language and the record/context schema.

Types are small frozen values. The struct types of what a policy reads come
from its schemas (:mod:`lead_rules.language.schema`); the constants below, derived from
:mod:`lead_rules.language.records`, equal those of the bundled beneficiary and market
schemas (tested). Every type may also hold ``null`` (unknown); ``null`` itself has type
:data:`NULL`, which fits anywhere.
"""

from __future__ import annotations

import datetime as dt
import types as pytypes
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Union

from pydantic import BaseModel

from . import records
from .limits import TYPE_MAX_DEPTH
from .values import Month


@dataclass(frozen=True)
class Type:
    """Base of all types."""

    def __str__(self) -> str:  # pragma: no cover - overridden
        return "?"


@dataclass(frozen=True)
class Prim(Type):
    """A primitive: bool, int, decimal, string, date, month, null."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ListT(Type):
    """``list<T>`` (``set`` True for ``set<T>``)."""

    elem: Type
    is_set: bool = False

    def __str__(self) -> str:
        return f"{'set' if self.is_set else 'list'}<{self.elem}>"


@dataclass(frozen=True)
class StructT(Type):
    """A struct with named fields; ``attrs`` maps a field to its Python attribute."""

    name: str
    fields: tuple[tuple[str, Type], ...]
    attrs: tuple[tuple[str, str], ...] = ()

    def field(self, name: str) -> Type | None:
        """The type of field ``name``, or None."""
        for fname, ftype in self.fields:
            if fname == name:
                return ftype
        return None

    def attr(self, name: str) -> str:
        """The Python attribute that holds field ``name``."""
        for fname, aname in self.attrs:
            if fname == name:
                return aname
        return name

    def field_names(self) -> list[str]:
        """The field names, in declaration order."""
        return [f for f, _ in self.fields]

    def __str__(self) -> str:
        return self.name


BOOL = Prim("bool")
INT = Prim("int")
DECIMAL = Prim("decimal")
STRING = Prim("string")
DATE = Prim("date")
MONTH = Prim("month")
NULL = Prim("null")
ERR = Prim("error")
"""The type of an expression that already has an error (the checker's; suppresses cascades)."""
PRIMS = {t.name: t for t in (BOOL, INT, DECIMAL, STRING, DATE, MONTH)}
NUMERIC = (INT, DECIMAL)


def is_numeric(t: Type) -> bool:
    """int, decimal or null."""
    return t in NUMERIC or t == NULL


def unify(a: Type, b: Type) -> Type | None:
    """The common type of ``a`` and ``b`` (int widens to decimal), or None."""
    if a == b:
        return a
    if a == NULL:
        return b
    if b == NULL:
        return a
    if {a, b} == {INT, DECIMAL}:
        return DECIMAL
    if isinstance(a, ListT) and isinstance(b, ListT):
        elem = unify(a.elem, b.elem)
        if elem is None:
            return None
        return ListT(elem, a.is_set and b.is_set)
    return None


def comparable(a: Type, b: Type) -> bool:
    """True when ``a`` and ``b`` may be compared with ``==``, ``<`` and so on."""
    u = unify(a, b)
    return u is not None and not isinstance(u, StructT)


def parse_type(text: str) -> Type | None:
    """Parse a type name such as ``set<string>``; None when invalid."""
    text = text.strip()
    if text.count("<") > TYPE_MAX_DEPTH:
        return None  # no policy needs deeper types; refusing keeps the parse bounded
    if text in PRIMS:
        return PRIMS[text]
    for kind in ("list", "set"):
        if text.startswith(kind + "<") and text.endswith(">"):
            inner = parse_type(text[len(kind) + 1 : -1])
            return ListT(inner, kind == "set") if inner is not None else None
    return None


_SCALARS: dict[Any, Type] = {
    bool: BOOL,
    int: INT,
    Decimal: DECIMAL,
    float: DECIMAL,
    str: STRING,
    dt.date: DATE,
    Month: MONTH,
}


def _from_annotation(ann: Any) -> Type:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _from_annotation(typing.get_args(ann)[0])
    if origin in (Union, pytypes.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _from_annotation(args[0])
        raise TypeError(f"unsupported union {ann!r}")
    if origin is typing.Literal:
        return STRING
    if origin in (list, tuple):
        return ListT(_from_annotation(typing.get_args(ann)[0]))
    if origin in (set, frozenset):
        return ListT(_from_annotation(typing.get_args(ann)[0]), is_set=True)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return struct_of(ann)
    if ann in _SCALARS:
        return _SCALARS[ann]
    raise TypeError(f"unsupported annotation {ann!r}")


@cache
def struct_of(model: type[BaseModel]) -> StructT:
    """The struct type of a pydantic model (field aliases are the language names)."""
    fields: list[tuple[str, Type]] = []
    attrs: list[tuple[str, str]] = []
    hints = typing.get_type_hints(model, include_extras=True)
    for attr, info in model.model_fields.items():
        name = info.alias or attr
        fields.append((name, _from_annotation(hints[attr])))
        attrs.append((name, attr))
    return StructT(model.__name__, tuple(fields), tuple(attrs))


BENEFICIARY = struct_of(records.Beneficiary)
MARKET = struct_of(records.Market)
ACO = struct_of(records.Aco)

ROOTS: dict[str, Type] = {"bene": BENEFICIARY, "market": MARKET, "aco": ACO}
"""The context roots visible to every expression."""
