"""The relational tables form of a population, read by DuckDB into the nested form.

``records.md`` allows a population as four tables in one folder, each a
Parquet or CSV file: ``beneficiaries`` (``bene_id`` and the scalar fields,
residence flattened as ``residence_state``, ``residence_county_fips``,
``residence_us``), ``bene_months`` (``bene_id`` + the month fields,
``medicaid_*`` and ``integrated_*`` flattened), ``voluntary`` and ``claims``
(``bene_id`` + fields). Only ``beneficiaries`` is required. Every value is
read as text and validated like a JSON string value (dates ``YYYY-MM-DD``,
months ``YYYY-MM``, bools ``true``/``false``, ...), then the detail rows are
grouped into the lists of the nested form. A detail row whose ``bene_id`` is
not in ``beneficiaries`` becomes an error row, and a bad value makes its
beneficiary an error row: nothing is dropped.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, StructT, Type
from .constants import MONEY_SCALE
from .duckdb_io import Field, fields_of, record_fields
from .quoting import identifier, literal, scan

TABLES = ("beneficiaries", "bene_months", "voluntary", "claims")
_LIST_TABLES = {"months": "bene_months", "voluntary": "voluntary", "claims": "claims"}


def _q(s: str) -> str:
    return literal(s)


def _ident(s: str) -> str:
    return identifier(s)


def find_table(folder: Path, name: str) -> Path | None:
    """The file of table ``name`` in ``folder`` (``name.parquet`` or ``name.csv``), if any."""
    for suffix in (".parquet", ".csv"):
        p = folder / (name + suffix)
        if p.exists():
            return p
    return None


def _scan(path: Path) -> str:
    if path.suffix == ".parquet":
        return scan("read_parquet", str(path))
    return scan("read_csv", str(path), {"header": True, "all_varchar": True, "auto_detect": True})


def _flat(prefix: str, f: Field) -> list[tuple[str, Field]]:
    """The flattened columns of field ``f``: ``medicaid`` -> ``medicaid_state``, ..."""
    if isinstance(f.type, StructT):
        return [(f"{prefix}{f.name}_{s.name}", s) for s in fields_of(f.type)]
    return [(prefix + f.name, f)]


def _text_check(x: str, f: Field, label: str) -> str:
    """SQL for the validation error of text value ``x`` of field ``f`` (null when valid)."""
    t = f.type
    required = (
        f"WHEN {x} IS NULL THEN {_q(label + ': Field required')} " if f.required else f"WHEN {x} IS NULL THEN NULL "
    )
    if t == STRING:
        empty = (
            f"WHEN {x} = '' THEN {_q(label + ': String should have at least 1 character')} "
            if f.name == "bene_id"
            else ""
        )
        return f"CASE {required}{empty}END"
    if t == DATE:
        ok = (
            f"length({x}) = 10 AND substr({x}, 5, 1) = '-' AND substr({x}, 8, 1) = '-' AND {x} >= '0001' "
            f"AND TRY_CAST({x} AS DATE) IS NOT NULL"
        )
        return f"CASE {required}WHEN {ok} THEN NULL ELSE {_q(label + ': Input should be a valid date')} END"
    if t == MONTH:
        ok = f"regexp_full_match({x}, '[0-9]{{4}}-(0[1-9]|1[0-2])') AND {x} >= '0001'"
        return f"CASE {required}WHEN {ok} THEN NULL ELSE {_q(label + ': expected a month as YYYY-MM')} END"
    if t == BOOL:
        ok = f"lower({x}) IN ('true', 'false', '1', '0', 'yes', 'no', 't', 'f', 'y', 'n', 'on', 'off')"
        return f"CASE {required}WHEN {ok} THEN NULL ELSE {_q(label + ': Input should be a valid boolean')} END"
    if t == INT:
        message = _q(label + ": Input should be a valid integer")
        return f"CASE {required}WHEN TRY_CAST({x} AS BIGINT) IS NOT NULL THEN NULL ELSE {message} END"
    if t == DECIMAL:
        exact = f"TRY_CAST({x} AS DECIMAL(38, 12)) = TRY_CAST({x} AS DECIMAL(38, {MONEY_SCALE}))"
        return (
            f"CASE {required}WHEN TRY_CAST({x} AS DECIMAL(38, 12)) IS NULL "
            f"THEN {_q(label + ': Input should be a valid decimal')} "
            f"WHEN NOT ({exact}) THEN {_q(label + f': more than {MONEY_SCALE} decimal places')} END"
        )
    raise TypeError(f"no text check for {t}")  # pragma: no cover


def _text_value(x: str, t: Type) -> str:
    if t == STRING:
        return x
    if t == DATE:
        return f"TRY_CAST({x} AS DATE)"
    if t == MONTH:
        return x
    if t == BOOL:
        return f"lower({x}) IN ('true', '1', 'yes', 't', 'y', 'on')"
    if t == INT:
        return f"TRY_CAST({x} AS BIGINT)"
    if t == DECIMAL:
        return f"TRY_CAST({x} AS DECIMAL(18, {MONEY_SCALE}))"
    raise TypeError(f"no text value for {t}")  # pragma: no cover


def _null_default(value: str, f: Field) -> str:
    """A null cell of a field with a default takes it, as an absent column does (records.md: both "not known")."""
    return f"coalesce({value}, TRUE)" if f.default is True else value


def _columns(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    return {str(r[0]) for r in con.sql(f"DESCRIBE SELECT * FROM {_scan(path)}").fetchall()}


def _struct_value(struct_field: Field, cols: set[str], row: str) -> str:
    """A nested struct from its flattened text columns (null when they are all null or absent)."""
    assert isinstance(struct_field.type, StructT)
    parts = []
    nulls = []
    for col, sub in _flat("", struct_field):
        if col in cols:
            x = f"CAST({row}{_ident(col)} AS VARCHAR)"
            parts.append(f"{_ident(sub.name)} := {_text_value(x, sub.type)}")
            nulls.append(f"{x} IS NULL")
        else:
            parts.append(f"{_ident(sub.name)} := {'TRUE' if sub.default is True else 'NULL'}")
    if not nulls:
        return "NULL"
    return f"CASE WHEN {' AND '.join(nulls)} THEN NULL ELSE struct_pack({', '.join(parts)}) END"


def _row_checks(fields: list[Field], present: set[str], row: str, label: str) -> list[str]:
    out = []
    for f in fields:
        for col, sub in _flat("", f):
            if col in present:
                out.append(_text_check(f"CAST({row}{_ident(col)} AS VARCHAR)", sub, f"{label}{col}"))
            elif sub.required:
                out.append(_q(f"{label}{col}: Field required"))
    return out


def relational_input_sql(con: duckdb.DuckDBPyConnection, folder: Path, record: StructT | None = None) -> str:
    """SQL with one row per beneficiary (and per orphan ``bene_id`` of a detail table), like :func:`jsonl_input_sql`."""
    fields = record_fields(record)
    bene_path = find_table(folder, "beneficiaries")
    if bene_path is None:
        raise ValueError(f"{folder}: no beneficiaries.parquet or beneficiaries.csv")
    scalar_fields = [f for f in fields if not isinstance(f.type, ListT)]
    bene_cols = _columns(con, bene_path)
    if "bene_id" not in bene_cols:
        raise ValueError(f"{bene_path}: no bene_id column")
    ctes = [f"_lr_b AS (SELECT row_number() OVER () AS _line, * FROM {_scan(bene_path)})"]
    b_checks = _row_checks(scalar_fields, bene_cols, "b.", "")
    b_values = []
    for f in scalar_fields:
        if isinstance(f.type, StructT):
            present = {c[len(f.name) + 1 :] for c in bene_cols if c.startswith(f.name + "_")}
            inner = ", ".join(
                f"{_ident(s.name)} := "
                + (
                    _null_default(_text_value(f"CAST(b.{_ident(f.name + '_' + s.name)} AS VARCHAR)", s.type), s)
                    if s.name in present
                    else ("TRUE" if s.default is True else "NULL")
                )
                for s in fields_of(f.type)
            )
            nulls = " AND ".join(f"b.{_ident(f.name + '_' + s)} IS NULL" for s in sorted(present)) or "TRUE"
            b_values.append(f"CASE WHEN {nulls} THEN NULL ELSE struct_pack({inner}) END AS {_ident(f.name)}")
        elif f.name in bene_cols:
            b_values.append(f"{_text_value(f'CAST(b.{_ident(f.name)} AS VARCHAR)', f.type)} AS {_ident(f.name)}")
        else:
            b_values.append(f"NULL AS {_ident(f.name)}")
    joins = []
    list_values = []
    list_errors = []
    orphan_unions = []
    for f in fields:
        if not isinstance(f.type, ListT):
            continue
        assert isinstance(f.type.elem, StructT)
        table = _LIST_TABLES.get(f.name, f.name)
        path = find_table(folder, table)
        if path is None:
            list_values.append(f"[] AS {_ident(f.name)}")
            continue
        cols = _columns(con, path)
        if "bene_id" not in cols:
            raise ValueError(f"{path}: no bene_id column")
        elem_fields = fields_of(f.type.elem)
        checks = _row_checks(elem_fields, cols, "r.", f"{table}.")
        err = f"coalesce({', '.join(checks)})" if checks else "NULL"
        values = []
        for s in elem_fields:
            if isinstance(s.type, StructT):
                values.append(f"{_ident(s.name)} := {_struct_value(s, cols, 'r.')}")
            elif s.name in cols:
                values.append(f"{_ident(s.name)} := {_text_value(f'CAST(r.{_ident(s.name)} AS VARCHAR)', s.type)}")
            else:
                values.append(f"{_ident(s.name)} := NULL")
        alias = f"_lr_{f.name}"
        ctes.append(
            f"{alias} AS (SELECT CAST(r.bene_id AS VARCHAR) AS bene_id, "
            f"list(struct_pack({', '.join(values)})) AS items, "
            f"min({err}) AS _error FROM {_scan(path)} AS r GROUP BY ALL)"
        )
        joins.append(f"LEFT JOIN {alias} ON {alias}.bene_id = CAST(b.bene_id AS VARCHAR)")
        list_values.append(f"coalesce({alias}.items, []) AS {_ident(f.name)}")
        list_errors.append(f"{alias}._error")
        orphan_unions.append(
            f"SELECT bene_id, {_q(table + ': rows for a bene_id that is not in beneficiaries')} AS _error "
            f"FROM {alias} WHERE bene_id NOT IN (SELECT CAST(bene_id AS VARCHAR) FROM _lr_b WHERE bene_id IS NOT NULL)"
        )
    error = f"coalesce({', '.join(b_checks + list_errors)})"
    main = (
        f"SELECT b._line AS _line, {error} AS _error, CAST(b.bene_id AS VARCHAR) AS _bene_id, "
        f"{', '.join(b_values)}, {', '.join(list_values)} FROM _lr_b AS b {' '.join(joins)}"
    )
    sql = f"WITH {', '.join(ctes)} {main}"
    if orphan_unions:
        empty_cols = ", ".join(
            f"NULL AS {_ident(f.name)}" if not isinstance(f.type, ListT) else f"[] AS {_ident(f.name)}" for f in fields
        )
        orphans = " UNION ALL ".join(orphan_unions)
        sql = (
            f"WITH {', '.join(ctes)} {main} UNION ALL BY NAME SELECT NULL AS _line, o._error, o.bene_id AS _bene_id, "
            f"{empty_cols} FROM ({orphans}) AS o"
        )
    return sql
