"""SQL types and constants for the SQL engine: language types -> SQLGlot types.

The language's types map to portable SQL types built as SQLGlot
:class:`~sqlglot.exp.DataType` trees (never type strings): ``bool`` BOOLEAN,
``int`` BIGINT, ``decimal`` DECIMAL(38, s), ``string`` VARCHAR, ``date`` DATE,
``month`` the text ``YYYY-MM`` (zero-padded, so text order is month order;
month arithmetic goes through the ordinal ``year * 12 + month - 1``), lists
and sets ARRAY, the
record and market structs STRUCT. This module also renders Python values of
the language (as the interpreter holds them) as typed SQL literals, and
describes the normalised nested input relation (:data:`POPULATION_TABLE`)
that every compiled query reads.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlglot import exp

from ..language.types import (
    BENEFICIARY,
    BOOL,
    DATE,
    DECIMAL,
    INT,
    MONTH,
    NULL,
    STRING,
    ListT,
    StructT,
    Type,
)
from ..language.values import Month
from .constants import MONEY_SCALE as MONEY_SCALE  # re-exported
from .constants import POPULATION_TABLE as POPULATION_TABLE  # re-exported

DIV_SCALE = 18
"""Decimal places of a quotient ``a / b`` in SQL (rounded half up)."""

DEFAULT_SCALE = 6
"""Decimal places assumed for a decimal whose scale cannot be derived (typed nulls)."""

_T = exp.DataType.Type


def _prim(kind: Any) -> exp.DataType:
    return exp.DataType(this=kind)


def decimal_type(scale: int, precision: int = 38) -> exp.DataType:
    """``DECIMAL(precision, scale)``."""
    return exp.DataType(
        this=_T.DECIMAL,
        expressions=[
            exp.DataTypeParam(this=exp.Literal.number(precision)),
            exp.DataTypeParam(this=exp.Literal.number(scale)),
        ],
    )


def array_type(elem: exp.DataType) -> exp.DataType:
    """``elem[]`` / ``ARRAY<elem>``."""
    return exp.DataType(this=_T.ARRAY, expressions=[elem], nested=True)


def struct_type(fields: list[tuple[str, exp.DataType]]) -> exp.DataType:
    """``STRUCT(name type, ...)`` with quoted field names."""
    return exp.DataType(
        this=_T.STRUCT,
        expressions=[exp.ColumnDef(this=exp.to_identifier(n, quoted=True), kind=k) for n, k in fields],
        nested=True,
    )


def sql_type(t: Type, scale: int = DEFAULT_SCALE) -> exp.DataType:
    """The SQL type that holds values of language type ``t``."""
    if t == BOOL:
        return _prim(_T.BOOLEAN)
    if t == INT:
        return _prim(_T.BIGINT)
    if t == DECIMAL:
        return decimal_type(scale)
    if t in (STRING, NULL):
        return _prim(_T.VARCHAR)
    if t == DATE:
        return _prim(_T.DATE)
    if t == MONTH:
        return _prim(_T.VARCHAR)
    if isinstance(t, ListT):
        return array_type(sql_type(t.elem, scale))
    if isinstance(t, StructT):
        return struct_type([(name, sql_type(ft, scale)) for name, ft in t.fields])
    raise TypeError(f"no SQL type for {t}")  # pragma: no cover - the checker rejects others


def population_type(t: Type, path: str = "") -> exp.DataType:
    """The SQL type of a field of the input relation (money fields get :data:`MONEY_SCALE`, months are text)."""
    if t == DECIMAL:
        return decimal_type(MONEY_SCALE, 18)
    if t == MONTH:
        return _prim(_T.VARCHAR)
    if isinstance(t, ListT):
        return array_type(population_type(t.elem, path + "[]"))
    if isinstance(t, StructT):
        return struct_type([(name, population_type(ft, f"{path}.{name}")) for name, ft in t.fields])
    return sql_type(t)


def population_columns() -> list[tuple[str, exp.DataType]]:
    """The columns of :data:`POPULATION_TABLE`: the beneficiary record's fields, in order."""
    return [(name, population_type(ft, name)) for name, ft in BENEFICIARY.fields]


def month_ordinal(text: exp.Expr) -> exp.Expr:
    """The ordinal ``year * 12 + month - 1`` of month text ``YYYY-MM``."""

    def part(start: int, length: int) -> exp.Expr:
        return exp.cast(
            exp.Substring(this=text.copy(), start=exp.Literal.number(start), length=exp.Literal.number(length)),
            _prim(_T.BIGINT),
        )

    year12 = exp.Mul(this=part(1, 4), expression=exp.Literal.number(12))
    return exp.Paren(this=exp.Sub(this=exp.Add(this=year12, expression=part(6, 2)), expression=exp.Literal.number(1)))


def month_text(year: exp.Expr, month: exp.Expr) -> exp.Expr:
    """``YYYY-MM`` from a year and a month number (both valid)."""

    def pad(x: exp.Expr, width: int) -> exp.Expr:
        return exp.Pad(
            this=exp.cast(x, _prim(_T.VARCHAR)),
            expression=exp.Literal.number(width),
            fill_pattern=exp.Literal.string("0"),
            is_left=True,
        )

    return exp.Concat(expressions=[pad(year, 4), exp.Literal.string("-"), pad(month, 2)])


def ordinal_text(ordinal: exp.Expr) -> exp.Expr:
    """``YYYY-MM`` of a month ordinal (valid)."""
    o = exp.Paren(this=ordinal)
    year = exp.IntDiv(this=o, expression=exp.Literal.number(12))
    month = exp.Add(this=exp.Mod(this=o.copy(), expression=exp.Literal.number(12)), expression=exp.Literal.number(1))
    return month_text(year, month)


def scale_of(value: Decimal) -> int:
    """Decimal places of ``value`` (0 for integers)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number(text: str) -> exp.Expr:
    if text.startswith("-"):
        return exp.Paren(this=exp.Neg(this=exp.Literal.number(text[1:])))
    return exp.Literal.number(text)


def _typed_null(t: Type, scale: int) -> exp.Expr:
    if t == NULL:
        return exp.Null()
    return exp.cast(exp.Null(), sql_type(t, scale))


def literal(value: Any, t: Type, scale: int = DEFAULT_SCALE) -> exp.Expr:
    """``value`` (a language value of type ``t``) as a typed SQL literal."""
    if value is None:
        return _typed_null(t, scale)
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return _number(str(value))
    if isinstance(value, Decimal):
        return _number(format(value, "f"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), _prim(_T.DATE))
    if isinstance(value, Month):
        return exp.Literal.string(str(value))
    if isinstance(value, (tuple, list, frozenset, set)):
        elem_t = t.elem if isinstance(t, ListT) else NULL
        items = list(value)
        if isinstance(value, (frozenset, set)):
            items = sorted(items, key=_sort_key)
        if not items:
            return exp.cast(exp.Array(), sql_type(ListT(elem_t), scale))
        return exp.Array(expressions=[literal(v, elem_t, scale) for v in items])
    if isinstance(t, StructT):
        fields = []
        for name, ft in t.fields:
            attr = t.attr(name)
            v = getattr(value, attr) if not isinstance(value, dict) else value.get(name)
            fields.append(exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=literal(v, ft, scale)))
        return exp.Struct(expressions=fields)
    if isinstance(value, BaseModel):  # pragma: no cover - structs are typed
        raise TypeError(f"struct value without a struct type: {value!r}")
    raise TypeError(f"no SQL literal for {value!r}")  # pragma: no cover


def _sort_key(v: Any) -> tuple[int, Any]:
    # ascending, null last: the order in which the interpreter goes through a set
    if v is None:
        return (1, 0)
    if isinstance(v, Month):
        return (0, v.ordinal)
    return (0, v)


def value_scale(value: Any) -> int:
    """The largest number of decimal places of the decimals inside ``value``."""
    if isinstance(value, Decimal):
        return scale_of(value)
    if isinstance(value, (tuple, list, frozenset, set)):
        return max((value_scale(v) for v in value), default=0)
    if isinstance(value, BaseModel):
        return max((value_scale(getattr(value, f)) for f in type(value).model_fields), default=0)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # pragma: no cover - NamedTuple
        return max((value_scale(v) for v in value), default=0)
    return 0
