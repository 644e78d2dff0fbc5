"""Reading populations into DuckDB: nested JSONL/Parquet and relational tables, validated in SQL.

The compiled query reads the relation ``population`` (validated records in
the nested form of ``records.md``, months as ordinals). This module builds,
as DuckDB SQL generated from the policy's record schema (:mod:`lead_rules.language.schema`),
the views that produce it straight from the files, without loading records
into Python: ``_lr_input`` has one row per input record with ``_error`` (the
cause when the record fails validation, else null), ``_bene_id`` (the id when
one can be read) and the typed columns; ``population`` keeps the valid rows.
Validation follows the pydantic models: codes must be strings (a number is
an error, never converted), dates ``YYYY-MM-DD``, months ``YYYY-MM``, lists
lists, structs objects; absent optional fields are null, absent lists empty.
The JSON Lines reader (its pre-pass and fast path) is :mod:`.jsonl_io`, built on the exact
checks here. These readers are DuckDB-specific text (JSON functions), unlike the compiled
policy, which is built with SQLGlot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import count
from pathlib import Path
from typing import Any

from ..language import records
from ..language.limits import INT_MAX, INT_MIN
from ..language.schema import fields_of as schema_fields_of
from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, StructT, Type, struct_of
from .constants import MONEY_INTEGER_DIGITS, MONEY_SCALE
from .quoting import identifier, literal

INPUT_VIEW = "_lr_input"
"""The view with every input record, its validation error and typed columns."""

_ids = count(1)


@dataclass(frozen=True)
class Field:
    """A field of a record struct: its language name and type, whether required, its default."""

    name: str
    type: Type
    required: bool
    default: Any


def fields_of(struct: StructT) -> list[Field]:
    """The fields of a record struct, as its schema declares them (:mod:`lead_rules.language.schema`)."""
    return [
        Field(s.name, s.type, s.required, None if isinstance(s.type, ListT) else s.default)
        for s in schema_fields_of(struct)
    ]


BENEFICIARY = struct_of(records.Beneficiary)
"""The bundled beneficiary record's struct type."""


@cache
def beneficiary_fields() -> list[Field]:
    """The fields of the bundled beneficiary record (``policies/schemas/beneficiary.yaml``).

    Read on first use, not at import: they need the bundled schemas loaded (YAML).
    """
    return fields_of(BENEFICIARY)


def __getattr__(name: str) -> Any:
    """``BENEFICIARY_FIELDS``, the module constant this was, computed on first use."""
    if name == "BENEFICIARY_FIELDS":
        return beneficiary_fields()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def record_fields(record: StructT | None) -> list[Field]:
    """The top-level fields of ``record`` (default: the bundled beneficiary record)."""
    return beneficiary_fields() if record is None or record == BENEFICIARY else fields_of(record)


def _q(s: str) -> str:
    return literal(s)


def _ident(s: str) -> str:
    return identifier(s)


def lambda_var() -> str:
    """A fresh name for a lambda parameter of generated SQL."""
    return f"_v{next(_ids)}"


def _spec(struct: StructT) -> str:
    """A json_transform structure with every field kept as JSON."""
    return "{" + ",".join(f'"{name}":"JSON"' for name, _ in struct.fields) + "}"


_MONTH_RE = "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])"
"""A month ``YYYY-MM`` of years 0001-9999, as a regular expression."""

_TRUE = ("1", "true", "yes", "on", "t", "y")
_FALSE = ("0", "false", "no", "off", "f", "n")


def _path(path: str, name: str) -> str:
    return f"{path} || '.{name}'" if path else _q(name)


def check(x: str, f: Field, path: str) -> str:
    """SQL for the validation error of JSON value ``x`` of field ``f`` (null when valid)."""
    t = f.type
    jt = f"json_type({x})"
    null_or_absent = f"({x} IS NULL OR {jt} = 'NULL')"
    if f.required:
        missing = f"WHEN {x} IS NULL THEN {path} || ': Field required' "
        if t in (MONTH, STRING):
            missing += (
                f"WHEN {jt} = 'NULL' THEN {path} || ': Input should be a valid {'month' if t == MONTH else 'string'}' "
            )
    else:
        missing = f"WHEN {null_or_absent} THEN NULL "
    if t == STRING:
        extra = ""
        if f.name == "bene_id":
            extra = f"WHEN ({x} ->> '$') = '' THEN {path} || ': String should have at least 1 character' "
        return f"CASE {missing}WHEN {jt} <> 'VARCHAR' THEN {path} || ': Input should be a valid string' {extra}END"
    if t == DATE:
        ok = (
            f"{jt} = 'VARCHAR' AND regexp_full_match({x} ->> '$', '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"AND ({x} ->> '$') >= '0001' AND TRY_CAST({x} ->> '$' AS DATE) IS NOT NULL"
        )
        return f"CASE {missing}WHEN {ok} THEN NULL ELSE {path} || ': Input should be a valid date' END"
    if t == MONTH:
        ok = (
            f"{jt} = 'VARCHAR' AND regexp_full_match({x} ->> '$', '[0-9]{{4}}-(0[1-9]|1[0-2])') "
            f"AND ({x} ->> '$') >= '0001'"
        )
        return f"CASE {missing}WHEN {ok} THEN NULL ELSE {path} || ': expected a month as ''YYYY-MM''' END"
    if t == BOOL:
        words = ", ".join(_q(w) for w in _TRUE + _FALSE)
        ok = (
            f"{jt} = 'BOOLEAN' OR ({jt} IN ('UBIGINT', 'BIGINT', 'DOUBLE') AND CAST({x} AS DOUBLE) IN (0, 1)) "
            f"OR ({jt} = 'VARCHAR' AND lower({x} ->> '$') IN ({words}))"
        )
        return f"CASE {missing}WHEN {ok} THEN NULL ELSE {path} || ': Input should be a valid boolean' END"
    if t == INT:
        ok = (
            f"{jt} IN ('UBIGINT', 'BIGINT') OR ({jt} = 'DOUBLE' AND CAST({x} AS DOUBLE) = floor(CAST({x} AS DOUBLE))) "
            f"OR ({jt} = 'VARCHAR' AND regexp_full_match({x} ->> '$', '-?[0-9]+'))"
        )
        text = f"({x} ->> '$')"  # an integer beyond 64 bits (records.Int64), told on its text, not a double
        big = f"abs(TRY_CAST({text} AS DOUBLE)) >= {float(2**63)!r} AND TRY_CAST({text} AS BIGINT) IS NULL"
        sign = (
            f"CASE WHEN {text} LIKE '-%' THEN 'greater than or equal to {INT_MIN}' "
            f"ELSE 'less than or equal to {INT_MAX}' END"
        )
        return (
            f"CASE {missing}WHEN NOT ({ok}) THEN {path} || ': Input should be a valid integer' "
            f"WHEN {big} THEN {path} || ': Input should be ' || {sign} END"
        )
    if t == DECIMAL:
        text = _decimal_text(x)
        wide = f"TRY_CAST({text} AS DECIMAL(38, 12))"
        number = f"TRY_CAST({text} AS DOUBLE)"
        # in the interpreter's order (records.Money): a number, finite, in range, then the places,
        # these told on the text (a cast to DECIMAL(38, 12) would round 0.000000000000000001 to 0)
        out_of_range = f"abs({wide}) >= {10 ** MONEY_INTEGER_DIGITS} OR ({wide} IS NULL AND abs({number}) >= 1)"
        trimmed = f"trim({text})"
        places = (
            f"length(regexp_extract({trimmed}, '\\.([0-9]*?)0*([eE]|$)', 1)) "
            f"- coalesce(TRY_CAST(regexp_extract({trimmed}, '[eE]([-+]?[0-9]+)$', 1) AS INTEGER), 0)"
        )
        return (
            f"CASE {missing}WHEN {text} IS NULL THEN {path} || ': Decimal input should be an integer, float, "
            "string or Decimal object' "
            f"WHEN {number} IS NULL THEN {path} || ': Input should be a valid decimal' "
            f"WHEN NOT isfinite({number}) AND NOT regexp_matches({text}, '[0-9]') "
            f"THEN {path} || ': Input should be a finite number' "
            f"WHEN {out_of_range} THEN {path} || ': money out of range (at most {MONEY_INTEGER_DIGITS} digits "
            "before the point)' "
            f"WHEN {places} > {MONEY_SCALE} THEN {path} || ': more than {MONEY_SCALE} decimal places "
            f"(the SQL engine reads money with {MONEY_SCALE})' END"
        )
    if isinstance(t, StructT):
        subs = fields_of(t)
        inner = ", ".join(check(f"json_extract({x}, {_q('$.' + s.name)})", s, _path(path, s.name)) for s in subs)
        return (
            f"CASE {missing}WHEN {jt} <> 'OBJECT' THEN {path} || ': Input should be a valid dictionary' "
            f"ELSE coalesce({inner}) END"
        )
    if isinstance(t, ListT) and isinstance(t.elem, StructT):
        e, i = lambda_var(), lambda_var()
        subs = fields_of(t.elem)
        here = f"{path} || '.' || ({i} - 1)"
        elem_checks = ", ".join(check(f"{e}.{_ident(s.name)}", s, f"({here}) || '.{s.name}'") for s in subs)
        types = f"json_type({x}, '$[*]')"
        per = (
            f"list_transform(json_transform({x}, {_q('[' + _spec(t.elem) + ']')}), lambda {e}, {i}: "
            f"CASE WHEN {types}[{i}] <> 'OBJECT' THEN ({here}) || ': Input should be a valid dictionary' "
            f"ELSE coalesce({elem_checks}) END)"
        )
        first = f"list_filter({per}, lambda {e}: {e} IS NOT NULL)[1]"
        list_missing = f"WHEN {null_or_absent} THEN NULL " if not f.required else missing  # null: empty, as absent
        return (
            f"CASE {list_missing}WHEN {jt} <> 'ARRAY' THEN {path} || ': Input should be a valid list' ELSE {first} END"
        )
    raise TypeError(f"no validation for {t}")  # pragma: no cover


def _decimal_text(x: str) -> str:
    return (
        f"(CASE json_type({x}) WHEN 'VARCHAR' THEN {x} ->> '$' "
        f"WHEN 'UBIGINT' THEN CAST({x} AS VARCHAR) WHEN 'BIGINT' THEN CAST({x} AS VARCHAR) "
        f"WHEN 'DOUBLE' THEN CAST({x} AS VARCHAR) END)"
    )


def convert(x: str, f: Field) -> str:
    """SQL for the typed value of (valid) JSON value ``x`` of field ``f``."""
    t = f.type
    value = _convert(x, t)
    if f.default is not None and not isinstance(t, ListT):
        default = "TRUE" if f.default is True else "FALSE" if f.default is False else _q(str(f.default))
        return f"(CASE WHEN {x} IS NULL OR json_type({x}) = 'NULL' THEN {default} ELSE {value} END)"  # null: default
    return value


def _convert(x: str, t: Type) -> str:
    if t == STRING:
        return f"({x} ->> '$')"
    if t == DATE:
        return f"TRY_CAST({x} ->> '$' AS DATE)"
    if t == MONTH:
        return f"({x} ->> '$')"
    if t == BOOL:
        return (
            f"(CASE json_type({x}) WHEN 'BOOLEAN' THEN CAST({x} AS BOOLEAN) "
            f"WHEN 'VARCHAR' THEN lower({x} ->> '$') IN ({', '.join(_q(w) for w in _TRUE)}) "
            f"WHEN 'NULL' THEN NULL ELSE TRY_CAST({x} AS DOUBLE) = 1 END)"
        )
    if t == INT:
        return (
            f"(CASE json_type({x}) WHEN 'VARCHAR' THEN TRY_CAST({x} ->> '$' AS BIGINT) "
            f"WHEN 'NULL' THEN NULL WHEN 'BIGINT' THEN TRY_CAST({x} AS BIGINT) "
            f"WHEN 'UBIGINT' THEN TRY_CAST({x} AS BIGINT) "  # integers exactly, not through a double
            f"ELSE TRY_CAST(TRY_CAST({x} AS DOUBLE) AS BIGINT) END)"
        )
    if t == DECIMAL:
        return f"TRY_CAST({_decimal_text(x)} AS DECIMAL(18, {MONEY_SCALE}))"
    if isinstance(t, StructT):
        subs = fields_of(t)
        packed = ", ".join(
            f"{_ident(s.name)} := {convert(f'json_extract({x}, {_q(chr(36) + chr(46) + s.name)})', s)}" for s in subs
        )
        return f"(CASE WHEN {x} IS NULL OR json_type({x}) = 'NULL' THEN NULL ELSE struct_pack({packed}) END)"
    if isinstance(t, ListT) and isinstance(t.elem, StructT):
        e = lambda_var()
        subs = fields_of(t.elem)
        packed = ", ".join(f"{_ident(s.name)} := {convert(f'{e}.{_ident(s.name)}', s)}" for s in subs)
        elems = f"json_transform({x}, {_q('[' + _spec(t.elem) + ']')})"
        return f"coalesce(list_transform({elems}, lambda {e}: struct_pack({packed})), [])"
    raise TypeError(f"no conversion for {t}")  # pragma: no cover


def _top_spec(record: StructT | None = None) -> str:
    return "{" + ",".join(f'"{f.name}":"JSON"' for f in record_fields(record)) + "}"


def _names(kind: Type, record: StructT | None = None) -> list[str]:
    """The field names, anywhere in the record, of language type ``kind``."""
    out: set[str] = set()

    def walk(t: Type) -> None:
        if isinstance(t, StructT):
            for n, ft in t.fields:
                if ft == kind:
                    out.add(n)
                walk(ft)
        elif isinstance(t, ListT):
            walk(t.elem)

    walk(record or BENEFICIARY)
    return sorted(out)


def _structs(record: StructT | None = None) -> tuple[list[str], list[str]]:
    """The names of struct fields (anywhere) and of the record's top-level list fields."""
    top = record or BENEFICIARY
    nested, lists = set(), set()
    for n, ft in top.fields:
        if isinstance(ft, ListT):
            lists.add(n)

    def walk(t: Type) -> None:
        if isinstance(t, StructT):
            for n, ft in t.fields:
                if isinstance(ft, StructT):
                    nested.add(n)
                walk(ft)
        elif isinstance(t, ListT):
            walk(t.elem)

    walk(top)
    return sorted(nested), sorted(lists)


def guard_pattern(record: StructT | None = None) -> str:
    """A regular expression for line text that needs the exact path: a value of the wrong JSON kind.

    It may flag valid lines (an unknown field with one of the record's names);
    those only take the slower exact path. Dates and months that are strings
    are checked on their value by the fast path.
    """
    alt = "|".join
    codes, bools, ints = _names(STRING, record), _names(BOOL, record), _names(INT, record)
    decimals, dated = _names(DECIMAL, record), _names(DATE, record) + _names(MONTH, record)
    nested, lists = _structs(record)
    parts = [
        rf'"({alt(codes)})"\s*:\s*[^"n\s]',
        rf'"({alt(bools)})"\s*:\s*[^tfn\s]',
        rf'"({alt(ints)})"\s*:\s*([^-0-9n\s]|-?[0-9]+[.eE]|-?[0-9]{{19}})',  # 19 digits: maybe beyond 64 bits
        rf'"({alt(decimals)})"\s*:\s*([^-0-9n\s]|-?[0-9]*\.[0-9]{{{MONEY_SCALE + 1}}}|-?[0-9.]+[eE]|{_LONG_NUMBER})',
        rf'"({alt(dated)})"\s*:\s*[^"n\s]',
        rf'"({alt(nested)})"\s*:\s*[^{{n\s]',
        rf'"({alt(lists)})"\s*:\s*[^\[\s]',
        rf'"({alt(lists)})"\s*:\s*\[\s*[^\s{{\]]',
        r'}\s*,\s*([^\s{"]|"[^"]*"\s*[,\]])',
    ]
    return "|".join(parts)


_LONG_NUMBER = r"-?([0-9]\.?){16}"
"""A number with 16 or more digits: more than a double holds exactly, which DuckDB's JSON functions read
numbers as (9999999999999999.99, valid money, would read as 1e16); :func:`money_as_text` reads it."""


def money_as_text(line: str, record: StructT | None = None) -> str:
    """SQL: JSON text ``line`` with every number of a money field quoted, so its text reaches :func:`check` whole.

    :func:`check` reads a money string as a money number (as the interpreter's lax decimal),
    so the verdict is the same, with the exact digits (DuckDB's JSON functions read numbers as
    doubles, which hold 15 to 17 digits).
    """
    names = "|".join(re.escape(n) for n in _names(DECIMAL, record))
    if not names:
        return line
    number = f'("(?:{names})"\\s*:\\s*)(-?[0-9][0-9.eE+-]*)'
    return f"regexp_replace({line}, {_q(number)}, '\\1\"\\2\"', 'g')"


def parquet_input_sql(path: str | Path, present: dict[str, str], record: StructT | None = None) -> str:
    """SQL reading a nested Parquet population; ``present`` maps its top-level columns to their types."""
    fields = record_fields(record)
    src = f"read_parquet({_q(str(path))}, file_row_number = true)"
    errors = []
    cols = []
    for f in fields:
        name = _ident(f.name)
        if f.name not in present:
            if f.required:
                errors.append(f"{_q(f.name)} || ': Field required'")
            cols.append(f"{_empty(f)} AS {name}")
            continue
        if f.name == "bene_id":
            errors.append(
                f"CASE WHEN {name} IS NULL THEN 'bene_id: Field required' "
                f"WHEN {name} = '' THEN 'bene_id: String should have at least 1 character' END"
            )
            cols.append(f"CAST({name} AS VARCHAR) AS {name}")
        elif isinstance(f.type, ListT):
            elem = f.type.elem  # a null list is empty, as an absent one (records.md: both "not known")
            if isinstance(elem, StructT) and any(s.type == MONTH for s in fields_of(elem)):
                e, i = lambda_var(), lambda_var()
                m = next(s.name for s in fields_of(elem) if s.type == MONTH)
                mx = f"{e}.{_ident(m)}"
                invalid = (
                    f"{mx} IS NULL OR length({mx}) <> 7 OR substr({mx}, 5, 1) <> '-' "
                    f"OR substr({mx}, 6, 2) NOT BETWEEN '01' AND '12' "
                    f"OR TRY_CAST(substr({mx}, 1, 4) AS INTEGER) IS NULL OR {mx} < '0001'"
                )
                message = f"'{f.name}.' || ({i} - 1) || '.{m}: expected a month as ''YYYY-MM'''"
                first = (
                    f"list_filter(list_transform({name}, lambda {e}, {i}: CASE WHEN {invalid} THEN {message} END), "
                    f"lambda {e}: {e} IS NOT NULL)[1]"
                )
                # detection in one regular expression over the list of months cast to text, which DuckDB
                # writes as [2027-01, 2027-02] (any other text, quoted or null, fails); the cause only when needed
                joined = f"CAST(list_transform({name}, lambda {e}: coalesce({mx}, 'X')) AS VARCHAR)"
                bad = f"NOT coalesce(regexp_full_match({joined}, '\\[({_MONTH_RE}(, {_MONTH_RE})*)?\\]'), false)"
                errors.append(f"CASE WHEN {bad} THEN {first} END")
                cols.append(f"coalesce({name}, []) AS {name}")
            else:
                money = isinstance(elem, StructT) and any(s.type == DECIMAL for s in fields_of(elem))
                if money and isinstance(elem, StructT) and not _narrow_money(present[f.name]):
                    errors.append(_money_check(name, f.name, elem))
                cols.append(f"coalesce({name}, []) AS {name}")
        else:
            cols.append(f"{_null_default(name, f.type, f.default)} AS {name}")
    error = f"coalesce({', '.join(errors)})" if errors else "NULL"
    bene_id = '"bene_id"' if "bene_id" in present else "NULL"
    return (
        f"SELECT file_row_number + 1 AS _line, {error} AS _error, CAST({bene_id} AS VARCHAR) AS _bene_id, "
        f"{', '.join(cols)} FROM {src}"
    )


def _null_default(x: str, t: Type, default: Any) -> str:
    """``x`` with a null field that has a default given the default (a Parquet null is "not known", as absent)."""
    if default is not None and not isinstance(t, ListT):
        return f"coalesce({x}, {'TRUE' if default is True else 'FALSE' if default is False else _q(str(default))})"
    if isinstance(t, StructT) and any(s.default is not None and not isinstance(s.type, ListT) for s in fields_of(t)):
        packed = ", ".join(f"{_ident(s.name)} := {_null_default(f'{x}.{_ident(s.name)}', s.type, s.default)}"
                           for s in fields_of(t))
        return f"(CASE WHEN {x} IS NULL THEN NULL ELSE struct_pack({packed}) END)"
    return x


def _money_check(name: str, field: str, elem: StructT) -> str:
    """SQL: the first money value of list column ``name`` the interpreter refuses, with its cause (else NULL).

    In the interpreter's order (records.Money): not finite (a float NaN or infinity), out of range
    (16 digits before the point), more than :data:`MONEY_SCALE` places. A float has at most
    :data:`MONEY_SCALE` places when rounding to them leaves it unchanged (the interpreter reads the
    shortest decimal text of the float). Every value is tested as a double or a DECIMAL(38, s)
    without a cast that can fail, so a bad value is an error row, never a failed query.
    """
    e, i = lambda_var(), lambda_var()
    whens = []
    for d in (s.name for s in fields_of(elem) if s.type == DECIMAL):
        v = f"{e}.{_ident(d)}"
        at = f"'{field}.' || ({i} - 1) || '.{d}: "
        whens.append(
            f"WHEN {v} IS NOT NULL AND NOT isfinite(CAST({v} AS DOUBLE)) THEN {at}Input should be a finite number' "
            f"WHEN abs({v}) >= {10 ** MONEY_INTEGER_DIGITS} THEN {at}money out of range "
            f"(at most {MONEY_INTEGER_DIGITS} digits before the point)' "
            f"WHEN round({v}, {MONEY_SCALE}) <> {v} THEN {at}more than {MONEY_SCALE} decimal places "
            f"(the SQL engine reads money with {MONEY_SCALE})' "
        )
    per = f"list_transform({name}, lambda {e}, {i}: CASE WHEN {e} IS NULL THEN NULL {''.join(whens)}END)"
    return f"list_filter({per}, lambda {e}: {e} IS NOT NULL)[1]"


def _narrow_money(parquet_type: str) -> bool:
    """True when every DECIMAL inside ``parquet_type`` fits DECIMAL(18, :data:`MONEY_SCALE`): nothing to check."""
    kinds = re.findall(r"DECIMAL\((\d+),\s*(\d+)\)", parquet_type)
    fits = all(int(p) - int(s) <= MONEY_INTEGER_DIGITS and int(s) <= MONEY_SCALE for p, s in kinds)
    return bool(kinds) and fits and "DOUBLE" not in parquet_type and "FLOAT" not in parquet_type


def _empty(f: Field) -> str:
    if isinstance(f.type, ListT):
        return "[]"
    return "NULL"


def population_view_sql(population_columns: list[tuple[str, str]]) -> str:
    """SQL of the ``population`` view over :data:`INPUT_VIEW`, cast to the compiled query's input types."""
    cols = ", ".join(f"CAST({_ident(n)} AS {t}) AS {_ident(n)}" for n, t in population_columns)
    return f"SELECT {cols} FROM {INPUT_VIEW} WHERE _error IS NULL"


__all__ = [
    "INPUT_VIEW",
    "beneficiary_fields",
    "check",
    "convert",
    "guard_pattern",
    "lambda_var",
    "money_as_text",
    "parquet_input_sql",
    "population_view_sql",
]
