"""Running a compiled policy on Spark (local mode by default) through the SQLGlot transpilation.

The decision query is the one :func:`~lead_rules.sql.compiler.compile_policy`
builds, rendered in the Spark dialect and run with ``spark.sql`` over the
temporary view ``population``. Records are read by Spark: Parquet with its
types; JSON Lines as text, parsed with ``from_json`` against the record
schema. A line that is not plainly valid (malformed, a value of the wrong
JSON kind by :func:`~lead_rules.sql.duckdb_io.guard_pattern`, an invalid
date or month, a null list element, a missing id) is checked by the record
model itself (pydantic) on the driver: it becomes an error row with the
model's cause, or, when the model accepts it (``"yes"`` for a bool, ``"3"``
for an int), its normalised form is decided like any other. Such lines are
rare, so the driver sees few records. The output has the rows and columns of
the DuckDB engine, in input order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..engine.policy import Policy, load_market, validation_errors
from ..language.records import Beneficiary, Market
from ..language.strict_json import parse_record
from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, StructT, Type
from .compiler import CompiledSQL, compile_policy
from .duckdb_io import BENEFICIARY, BENEFICIARY_FIELDS, Field, fields_of, guard_pattern
from .interpreter_engine import duplicate_cause
from .jsonl_io import SUSPECT_PATTERN
from .output import copy_options, input_kind, output_names, write_rows
from .quoting import identifier, literal
from .sqltypes import MONEY_SCALE, POPULATION_TABLE

_SESSION: Any = None


def spark_session(master: str | None = None) -> Any:
    """A Spark session: ``local[*]`` unless ``master`` or ``LEAD_RULES_SPARK_MASTER`` say otherwise."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master or os.environ.get("LEAD_RULES_SPARK_MASTER", "local[*]"))
        .appName("lead-rules")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("LEAD_RULES_SPARK_DRIVER_MEMORY", "4g"))
    )
    _SESSION = builder.getOrCreate()
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def _id(name: str) -> str:
    """``name`` as a Spark identifier (:func:`.quoting.identifier`)."""
    return identifier(name, "spark")


def _lit(text: str) -> str:
    """``text`` as a Spark string literal (:func:`.quoting.literal`)."""
    return literal(text, "spark")


def _member(x: str, name: str) -> str:
    """Spark SQL: the field ``name`` of struct expression ``x``."""
    return f"{x}.{_id(name)}"


def _ddl(t: Type) -> str:
    """The Spark DDL type of a record field as read from JSON (months, dates and money as text)."""
    if t in (STRING, DATE, MONTH, DECIMAL):
        return "STRING"
    if t == BOOL:
        return "BOOLEAN"
    if t == INT:
        return "BIGINT"
    if isinstance(t, ListT):
        return f"ARRAY<{_ddl(t.elem)}>"
    if isinstance(t, StructT):
        return "STRUCT<" + ", ".join(f"{_id(n)}: {_ddl(ft)}" for n, ft in t.fields) + ">"
    raise TypeError(f"no Spark type for {t}")  # pragma: no cover


def json_schema() -> str:
    """The ``from_json`` schema of a record.

    Money is read as its JSON text, so that a value outside DECIMAL(18, 2) is
    told from a JSON ``null`` (``from_json`` would make both null) and takes
    the exact path, as on DuckDB.
    """
    return ", ".join(f"{_id(f.name)} {_ddl(f.type)}" for f in BENEFICIARY_FIELDS)


_MONEY = f"DECIMAL(18, {MONEY_SCALE})"


def _date_ok(x: str) -> str:
    return f"({x} IS NULL OR (length({x}) = 10 AND try_to_date({x}, 'yyyy-MM-dd') IS NOT NULL AND {x} >= '0001'))"


def _month_ok(x: str) -> str:
    return f"({x} IS NOT NULL AND regexp_like({x}, '^[0-9]{{4}}-(0[1-9]|1[0-2])$') AND {x} >= '0001')"


def _money_ok(x: str) -> str:
    # the guard pattern sends more than 2 places, exponents and strings to the exact path; here the range
    return f"({x} IS NULL OR try_cast({x} AS {_MONEY}) IS NOT NULL)"


def _value(x: str, f: Field, defaults: bool = True) -> str:
    """Spark SQL: the typed value of parsed field ``x`` (validated); ``defaults`` for absent fields."""
    t = f.type
    if t == DATE:
        return f"try_to_date({x}, 'yyyy-MM-dd')"
    if t == DECIMAL:
        return f"try_cast({x} AS {_MONEY})"
    if isinstance(t, StructT):
        parts = ", ".join(f"{_lit(s.name)}, {_value(_member(x, s.name), s, defaults)}" for s in fields_of(t))
        return f"CASE WHEN {x} IS NULL THEN NULL ELSE named_struct({parts}) END"
    if isinstance(t, ListT) and isinstance(t.elem, StructT):
        parts = ", ".join(f"{_lit(s.name)}, {_value(_member('_e', s.name), s, defaults)}" for s in fields_of(t.elem))
        return f"coalesce(transform({x}, _e -> named_struct({parts})), array())"
    if t == BOOL and f.default is True and defaults:
        return f"coalesce({x}, true)"
    return x


def _clean(x: str, f: Field) -> str:
    """Spark SQL: parsed field ``x`` is plainly valid (else the line is checked on the driver)."""
    t = f.type
    if f.name == "bene_id":
        return f"({x} IS NOT NULL AND {x} <> '')"
    if t == DATE:
        return _date_ok(x)
    if t == MONTH:
        return _month_ok(x)
    if t == DECIMAL:
        return _money_ok(x)
    if isinstance(t, StructT):
        parts = [_clean(_member(x, s.name), s) for s in fields_of(t)]
        parts = [p for p in parts if p != "true"]
        return "(" + " AND ".join(parts) + ")" if parts else "true"
    if isinstance(t, ListT) and isinstance(t.elem, StructT):
        inner = [_clean(_member("_e", s.name), s) for s in fields_of(t.elem)]
        inner = [p for p in inner if p != "true"]
        bad = "_e IS NULL" + (" OR NOT (" + " AND ".join(inner) + ")" if inner else "")
        return f"NOT exists(coalesce({x}, array()), _e -> {bad})"
    return "true"


def _all_fields() -> list[Field]:
    """Every field of the record model, nested ones included."""
    out: list[Field] = []

    def walk(fields: list[Field]) -> None:
        for f in fields:
            out.append(f)
            t = f.type.elem if isinstance(f.type, ListT) else f.type
            if isinstance(t, StructT):
                walk(fields_of(t))

    walk(BENEFICIARY_FIELDS)
    return out


def _population_select(src: str, defaults: bool = True) -> str:
    """``defaults``: absent fields take their model default (false for normalised lines, where none is absent)."""
    cols = ", ".join(f"{_value(_member('j', f.name), f, defaults)} AS {_id(f.name)}" for f in BENEFICIARY_FIELDS)
    return f"SELECT _row, {cols} FROM {src}"


def _normalised(record: Mapping[str, Any]) -> str:
    """A record the model accepted, as plain JSON that the fast path reads exactly (money as its text)."""
    bene = Beneficiary.model_validate(record)
    return json.dumps(bene.model_dump(mode="python", by_alias=True), default=str)


def _check_on_driver(line: str, number: int) -> tuple[str | None, str | None, str | None]:
    """``(bene_id, cause, normalised line)`` for line ``number`` that the fast path could not read.

    The causes are the interpreter engine's (:func:`.interpreter_engine.iter_records`).
    """
    value, bad = parse_record(line)
    if bad is not None:
        return None, f"line {number}: not valid JSON", None
    if not isinstance(value, dict):
        return None, f"line {number}: a record must be a JSON object", None
    raw_id = value.get("bene_id")
    bene_id = raw_id if isinstance(raw_id, str) else None
    try:
        Beneficiary.model_validate(value)
    except ValidationError as exc:
        cause = "; ".join(f"{e['field'] or 'record'}: {e['message']}" for e in validation_errors(exc))
        return bene_id, cause, None
    return bene_id, None, _normalised(value)


def _keys_distinct(x: str, t: StructT, depth: int = 0) -> str:
    """Spark SQL: no object of the JSON text ``x`` (of record struct ``t``) repeats a key, at any depth.

    ``from_json`` keeps one of two equal keys, so each object is read again
    as text: its keys by ``json_object_keys``, its nested objects and lists
    of objects as text for the next level.
    """
    keys = f"json_object_keys({x})"
    checks = [f"coalesce(size({keys}) = size(array_distinct({keys})), true)"]
    inner: list[tuple[str, Type]] = [
        (n, ft)
        for n, ft in t.fields
        if isinstance(ft, StructT) or (isinstance(ft, ListT) and isinstance(ft.elem, StructT))
    ]
    if inner:
        schema = ", ".join(f"{_id(n)} {'STRING' if isinstance(ft, StructT) else 'ARRAY<STRING>'}" for n, ft in inner)
        parsed = f"from_json({x}, {_lit(schema)})"
        for n, ft in inner:
            part = _member(parsed, n)
            if isinstance(ft, StructT):
                checks.append(_keys_distinct(part, ft, depth + 1))
            else:
                assert isinstance(ft, ListT) and isinstance(ft.elem, StructT)
                e = f"_k{depth}"
                checks.append(f"forall(coalesce({part}, array()), {e} -> {_keys_distinct(e, ft.elem, depth + 1)})")
    return "(" + " AND ".join(checks) + ")"


_PARTITION_BITS = 33
"""``monotonically_increasing_id`` puts the partition index above this bit and the row within it below."""


def _numbered(spark: Any, df: Any) -> Any:
    """``df`` (a file read by Spark, in file order) with ``_row``: its 1-based line or row number.

    One counting pass over the file gives each partition's first number, so
    the causes name the same lines as the interpreter's and DuckDB's.
    """
    from pyspark.sql import functions as F

    df = df.withColumn("_id", F.monotonically_increasing_id())
    counts = df.groupBy(F.shiftright("_id", _PARTITION_BITS).alias("p")).count().collect()
    offset, cases = 0, []
    for r in sorted(counts, key=lambda r: int(r["p"])):
        cases.append(f"WHEN {int(r['p'])} THEN {offset}")
        offset += int(r["count"])
    start = f"CASE shiftright(_id, {_PARTITION_BITS}) {' '.join(cases)} END" if cases else "0"
    low = (1 << _PARTITION_BITS) - 1
    return df.withColumn("_row", F.expr(f"{start} + (_id & {low}) + 1")).drop("_id")


def _first_of_each_id(spark: Any, population: Any, errors: Any) -> tuple[Any, Any]:
    """A later record of a ``bene_id`` (decidable or not) becomes an error row naming the first line."""
    ids = population.select("_row", "bene_id").unionByName(
        errors.where("bene_id IS NOT NULL").select("_row", "bene_id")
    )
    ids.createOrReplaceTempView("_lr_ids")
    again = spark.sql(
        "SELECT _row, bene_id, _first FROM (SELECT _row, bene_id, min(_row) OVER (PARTITION BY bene_id) AS _first "
        "FROM _lr_ids) WHERE _row > _first"
    )
    prefix = duplicate_cause("")
    repeated = again.selectExpr("_row", "bene_id", f"concat({_lit(prefix)}, CAST(_first AS STRING)) AS cause")
    population = population.join(again.select("_row"), "_row", "left_anti")
    errors = errors.join(again.select("_row"), "_row", "left_anti").unionByName(repeated)
    return population, errors


def register_spark_input(spark: Any, path: str | Path) -> tuple[Any, Any]:
    """``(population, errors)``: the valid records and the error rows (``_row``, ``bene_id``, ``cause``).

    ``_row`` is the line (JSON Lines) or row (Parquet) number in the file. A
    later record of a ``bene_id`` is an error row, as on the other engines.
    """
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p}: the spark engine reads nested JSON Lines or Parquet; use duckdb for relational tables")
    error_schema = StructType(
        [StructField("_row", LongType()), StructField("bene_id", StringType()), StructField("cause", StringType())]
    )
    if p.suffix.lower() == ".parquet":
        population, errors = _parquet_input(spark, p)
    else:
        population, errors = _jsonl_input(spark, p, error_schema)
    return _first_of_each_id(spark, population, errors)


def _parquet_input(spark: Any, p: Path) -> tuple[Any, Any]:
    df = _numbered(spark, spark.read.parquet(str(p)))
    df.createOrReplaceTempView("_lr_parquet")
    present = set(df.columns)
    checks = [f"CASE WHEN bene_id IS NULL OR bene_id = '' THEN {_lit('bene_id: Field required')} END"]
    values = []
    for f in BENEFICIARY_FIELDS:
        col = _id(f.name)
        if f.name not in present:
            values.append(("array()" if isinstance(f.type, ListT) else "NULL") + f" AS {col}")
            continue
        if isinstance(f.type, ListT):
            assert isinstance(f.type.elem, StructT)
            for s in fields_of(f.type.elem):
                if s.type == MONTH:
                    checks.append(
                        f"CASE WHEN exists({col}, _e -> NOT {_month_ok(_member('_e', s.name))}) "
                        f"THEN {_lit(f.name + ': expected a month as ' + chr(39) + 'YYYY-MM' + chr(39))} END"
                    )
            values.append(f"coalesce({col}, array()) AS {col}")
        elif isinstance(f.type, StructT):  # a null field with a default takes it (records.md: null is "not known")
            values.append(f"{_value(col, f)} AS {col}")
        else:
            values.append(col)
    cause = "coalesce(" + ", ".join(checks) + ")"
    staged = spark.sql(f"SELECT _row, {cause} AS _cause, * FROM _lr_parquet")
    staged.createOrReplaceTempView("_lr_staged")
    population = spark.sql(f"SELECT _row, {', '.join(values)} FROM _lr_staged WHERE _cause IS NULL")
    errors = spark.sql(
        "SELECT _row, CAST(bene_id AS STRING) AS bene_id, _cause AS cause FROM _lr_staged WHERE _cause IS NOT NULL"
    )
    return population, errors


def _jsonl_input(spark: Any, p: Path, error_schema: Any) -> tuple[Any, Any]:
    """The JSON Lines fast path: lines that are strict JSON, plainly valid, with distinct top-level keys.

    Every other line is judged on the driver by the interpreter's strict reader
    and record model: bytes that are not UTF-8 (``is_valid_utf8``; Spark keeps
    a line's bytes), text strict JSON may refuse (:data:`.jsonl_io.SUSPECT_PATTERN`),
    a repeated key, a value of the wrong kind (:func:`.duckdb_io.guard_pattern`).
    """
    lines = _numbered(spark, spark.read.text(str(p)))
    lines = lines.where("trim(value) <> ''")
    lines.createOrReplaceTempView("_lr_lines")
    clean = " AND ".join(_clean(_member("j", f.name), f) for f in BENEFICIARY_FIELDS)
    defaults = "|".join(f.name for f in _all_fields() if f.default is not None)
    guard = guard_pattern() + (rf'|"({defaults})"\s*:\s*null' if defaults else "")
    suspect = SUSPECT_PATTERN.decode("ascii")
    plain = f"_utf8 AND NOT regexp_like(value, {_lit(suspect)}) AND NOT regexp_like(value, {_lit(guard)}) AND {clean}"
    # the repeated-key walk reads the line again: only for lines that passed the cheaper checks
    fast_line = f"CASE WHEN coalesce({plain}, false) THEN {_keys_distinct('value', BENEFICIARY)} ELSE false END"
    parsed = spark.sql(
        f"SELECT _row, value, _utf8, j, coalesce({fast_line}, false) AS _fast FROM (SELECT _row, value, "
        f"is_valid_utf8(value) AS _utf8, "
        f"from_json(value, {_lit(json_schema())}) AS j FROM _lr_lines)"
    )
    parsed.createOrReplaceTempView("_lr_parsed")
    fast = spark.sql(_population_select("_lr_parsed WHERE _fast"))
    flagged = spark.sql(
        "SELECT _row, CASE WHEN _utf8 THEN value END AS value FROM _lr_parsed WHERE NOT _fast"
    ).collect()
    fixed_rows: list[tuple[int, str]] = []
    error_rows: list[tuple[int, str | None, str | None]] = []
    for row in flagged:
        number = int(row["_row"])
        if row["value"] is None:  # bytes that are not UTF-8
            error_rows.append((number, None, f"line {number}: not valid JSON"))
            continue
        found_id, why, normalised = _check_on_driver(row["value"], number)
        if normalised is not None:
            fixed_rows.append((number, normalised))
        else:
            error_rows.append((number, found_id, why))
    errors = spark.createDataFrame(error_rows, error_schema)
    population = fast
    if fixed_rows:
        fixed = spark.createDataFrame(fixed_rows, "_row BIGINT, value STRING")
        fixed.createOrReplaceTempView("_lr_fixed")
        spark.sql(f"SELECT _row, from_json(value, {_lit(json_schema())}) AS j FROM _lr_fixed").createOrReplaceTempView(
            "_lr_fixed_parsed"
        )
        population = fast.unionByName(spark.sql(_population_select("_lr_fixed_parsed", defaults=False)))
    return population, errors


def _spark_output(spark: Any, compiled: CompiledSQL, path: str | Path, columns: str = "full") -> Any:
    """The output DataFrame (decisions and error rows) ordered as the input."""
    schema = compiled.policy.record_schema
    if schema is not None and schema.struct != BENEFICIARY:
        raise ValueError(
            f"the Spark reader reads the bundled beneficiary schema; this policy declares {schema.path} "
            "(use the DuckDB engine or the interpreter)"
        )
    from pyspark.sql import functions as F

    population, errors = register_spark_input(spark, path)
    population.createOrReplaceTempView(POPULATION_TABLE)
    query = compiled.query.copy()
    query = query.select("_row", append=True)
    decided = spark.sql(query.sql("spark"))
    err = errors.withColumn("outcome", F.lit("error"))
    out = decided.unionByName(err, allowMissingColumns=True)
    names = output_names(compiled, columns)
    return out.orderBy("_row").select(*[F.col(identifier(n, "spark")) for n in names])


def decide_spark(
    policy: Policy, market: Market | Mapping[str, Any] | str | Path, input_path: str | Path, definitions: bool = False
) -> list[dict[str, Any]]:
    """Decide the population at ``input_path`` on Spark; one dict per input record, in input order."""
    mk = load_market(market) if not isinstance(market, Market) else market
    compiled = compile_policy(policy, mk, "spark", definitions=definitions)
    if compiled.errors:
        raise ValueError("the policy cannot be compiled to spark:\n" + "\n".join(map(str, compiled.errors)))
    spark = spark_session()
    rows = _spark_output(spark, compiled, input_path).collect()
    return [_plain(r.asDict(recursive=True)) for r in rows]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    reasons = row.get("reasons")
    if reasons is None:
        row["reasons"] = []
    return row


def run_spark(
    compiled: CompiledSQL,
    input_path: str | Path,
    output_path: str | Path,
    progress: bool = False,
    columns: str = "full",
) -> dict[str, Any]:
    """Decide ``input_path`` with ``compiled`` (Spark dialect) on Spark; write ``output_path`` like DuckDB does."""
    if compiled.errors:
        raise ValueError("the policy cannot be compiled to spark:\n" + "\n".join(map(str, compiled.errors)))
    output = Path(output_path)
    copy = copy_options(output)  # an unknown output format fails before Spark starts
    started = time.monotonic()
    spark = spark_session()
    table = _spark_output(spark, compiled, input_path, columns).toArrow()
    summary = write_rows(table, output, copy, input_kind(input_path))
    if progress:
        import sys

        print(f"aligned on spark in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return summary
