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
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..engine.policy import Policy, load_market, validation_errors
from ..language.records import Beneficiary, Market
from ..language.strict_json import parse_record
from ..language.types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, StructT, Type
from .compiler import CompiledSQL, compile_policy
from .duckdb_io import BENEFICIARY, BENEFICIARY_FIELDS, Field, fields_of, guard_pattern
from .output import copy_options, input_kind, output_names, write_rows
from .quoting import identifier
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


def _ddl(t: Type, struct_text: bool = True) -> str:
    """The Spark DDL type of a record field as read from JSON (months and dates as text)."""
    if t in (STRING, DATE, MONTH):
        return "STRING"
    if t == BOOL:
        return "BOOLEAN"
    if t == INT:
        return "BIGINT"
    if t == DECIMAL:
        return f"DECIMAL(18, {MONEY_SCALE})"
    if isinstance(t, ListT):
        return f"ARRAY<{_ddl(t.elem)}>"
    if isinstance(t, StructT):
        return "STRUCT<" + ", ".join(f"`{n}`: {_ddl(ft)}" for n, ft in t.fields) + ">"
    raise TypeError(f"no Spark type for {t}")  # pragma: no cover


def json_schema() -> str:
    """The ``from_json`` schema of a record."""
    return ", ".join(f"`{f.name}` {_ddl(f.type)}" for f in BENEFICIARY_FIELDS)


def _date_ok(x: str) -> str:
    return f"({x} IS NULL OR (length({x}) = 10 AND try_to_date({x}, 'yyyy-MM-dd') IS NOT NULL AND {x} >= '0001'))"


def _month_ok(x: str) -> str:
    return f"({x} IS NOT NULL AND regexp_like({x}, '^[0-9]{{4}}-(0[1-9]|1[0-2])$') AND {x} >= '0001')"


def _value(x: str, f: Field, defaults: bool = True) -> str:
    """Spark SQL: the typed value of parsed field ``x`` (validated); ``defaults`` for absent fields."""
    t = f.type
    if t == DATE:
        return f"try_to_date({x}, 'yyyy-MM-dd')"
    if isinstance(t, StructT):
        parts = ", ".join(f"'{s.name}', {_value(f'{x}.`{s.name}`', s, defaults)}" for s in fields_of(t))
        return f"CASE WHEN {x} IS NULL THEN NULL ELSE named_struct({parts}) END"
    if isinstance(t, ListT) and isinstance(t.elem, StructT):
        parts = ", ".join(f"'{s.name}', {_value(f'_e.`{s.name}`', s, defaults)}" for s in fields_of(t.elem))
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
    if isinstance(t, StructT):
        parts = [_clean(f"{x}.`{s.name}`", s) for s in fields_of(t)]
        parts = [p for p in parts if p != "true"]
        return "(" + " AND ".join(parts) + ")" if parts else "true"
    if isinstance(t, ListT) and isinstance(t.elem, StructT):
        inner = [_clean(f"_e.`{s.name}`", s) for s in fields_of(t.elem)]
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
    cols = ", ".join(f"{_value('j.`' + f.name + '`', f, defaults)} AS `{f.name}`" for f in BENEFICIARY_FIELDS)
    return f"SELECT _row, {cols} FROM {src}"


def _normalised(record: Mapping[str, Any]) -> str:
    """A record the model accepted, as plain JSON that the fast path reads exactly."""

    def default(v: Any) -> Any:
        if isinstance(v, Decimal):
            return float(v)
        return str(v)

    bene = Beneficiary.model_validate(record)
    return json.dumps(bene.model_dump(mode="python", by_alias=True), default=default)


def _check_on_driver(line: str) -> tuple[str | None, str | None, str | None]:
    """``(bene_id, cause, normalised line)`` for a line the fast path could not read."""
    value, bad = parse_record(line)
    if bad is not None:
        return None, "not valid JSON", None
    if not isinstance(value, dict):
        return None, "a record must be a JSON object", None
    raw_id = value.get("bene_id")
    bene_id = raw_id if isinstance(raw_id, str) else None
    try:
        Beneficiary.model_validate(value)
    except ValidationError as exc:
        cause = "; ".join(f"{e['field'] or 'record'}: {e['message']}" for e in validation_errors(exc))
        return bene_id, cause, None
    for claim in value.get("claims") or []:
        allowed = claim.get("allowed") if isinstance(claim, dict) else None
        if allowed is not None and Decimal(str(allowed)) != round(Decimal(str(allowed)), MONEY_SCALE):
            return bene_id, f"claims: more than {MONEY_SCALE} decimal places (the SQL engine reads money with 2)", None
    return bene_id, None, _normalised(value)


def register_spark_input(spark: Any, path: str | Path) -> tuple[Any, Any]:
    """``(population, errors)``: the valid records and the error rows (``_row``, ``bene_id``, ``cause``)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p}: the spark engine reads nested JSON Lines or Parquet; use duckdb for relational tables")
    error_schema = StructType(
        [StructField("_row", LongType()), StructField("bene_id", StringType()), StructField("cause", StringType())]
    )
    if p.suffix.lower() == ".parquet":
        df = spark.read.parquet(str(p)).withColumn("_row", F.monotonically_increasing_id())
        df.createOrReplaceTempView("_lr_parquet")
        present = set(df.columns)
        checks = ["CASE WHEN bene_id IS NULL OR bene_id = '' THEN 'bene_id: Field required' END"]
        values = []
        for f in BENEFICIARY_FIELDS:
            if f.name not in present:
                values.append(("array()" if isinstance(f.type, ListT) else "NULL") + f" AS `{f.name}`")
                continue
            if isinstance(f.type, ListT):
                assert isinstance(f.type.elem, StructT)
                for s in fields_of(f.type.elem):
                    if s.type == MONTH:
                        checks.append(
                            f"CASE WHEN exists(`{f.name}`, _e -> NOT {_month_ok('_e.`' + s.name + '`')}) "
                            f"THEN '{f.name}: expected a month as ''YYYY-MM''' END"
                        )
                values.append(f"coalesce(`{f.name}`, array()) AS `{f.name}`")
            elif isinstance(f.type, StructT):  # a null field with a default takes it (records.md: null is "not known")
                values.append(f"{_value('`' + f.name + '`', f)} AS `{f.name}`")
            else:
                values.append(f"`{f.name}`")
        cause = "coalesce(" + ", ".join(checks) + ")"
        staged = spark.sql(f"SELECT _row, {cause} AS _cause, * FROM _lr_parquet")
        staged.createOrReplaceTempView("_lr_staged")
        population = spark.sql(f"SELECT _row, {', '.join(values)} FROM _lr_staged WHERE _cause IS NULL")
        errors = spark.sql(
            "SELECT _row, CAST(bene_id AS STRING) AS bene_id, _cause AS cause FROM _lr_staged WHERE _cause IS NOT NULL"
        )
        return population, errors
    lines = spark.read.text(str(p)).withColumn("_row", F.monotonically_increasing_id())
    lines = lines.where(F.trim(F.col("value")) != "")
    lines.createOrReplaceTempView("_lr_lines")
    clean = " AND ".join(_clean("j.`" + f.name + "`", f) for f in BENEFICIARY_FIELDS)
    defaults = "|".join(f.name for f in _all_fields() if f.default is not None)
    pattern = guard_pattern() + (rf'|"({defaults})"\s*:\s*null' if defaults else "")
    guard = pattern.replace("\\", "\\\\").replace("'", "\\'")
    parsed = spark.sql(
        f"SELECT _row, value, j, coalesce(NOT regexp_like(value, '{guard}') AND {clean}, false) AS _fast "
        f"FROM (SELECT _row, value, from_json(value, '{json_schema()}') AS j FROM _lr_lines)"
    )
    parsed.createOrReplaceTempView("_lr_parsed")
    fast = spark.sql(_population_select("_lr_parsed WHERE _fast"))
    flagged = spark.sql("SELECT _row, value FROM _lr_parsed WHERE NOT _fast").collect()
    fixed_rows: list[tuple[int, str]] = []
    error_rows: list[tuple[int, str | None, str | None]] = []
    for row in flagged:
        found_id, why, normalised = _check_on_driver(row["value"])
        if normalised is not None:
            fixed_rows.append((row["_row"], normalised))
        else:
            error_rows.append((row["_row"], found_id, why))
    errors = spark.createDataFrame(error_rows, error_schema)
    population = fast
    if fixed_rows:
        fixed = spark.createDataFrame(fixed_rows, "_row BIGINT, value STRING")
        fixed.createOrReplaceTempView("_lr_fixed")
        spark.sql(f"SELECT _row, from_json(value, '{json_schema()}') AS j FROM _lr_fixed").createOrReplaceTempView(
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
