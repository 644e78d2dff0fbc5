"""Running a compiled policy on DuckDB over whole population files.

:func:`align` is the batch entry point behind ``lead-rules align``: it reads a
population (nested JSONL or Parquet, or a folder of relational tables), lets
DuckDB validate the records and decide every beneficiary with the compiled
query in one pass, and writes one row per input record to Parquet, CSV or
JSON Lines: the decision columns, the criterion and rank columns, and, for a
record that fails validation, an ``error`` row with its ``bene_id`` (when it
can be read) and ``cause``. Nothing is dropped: rows read = decided + errors.
:func:`decide` returns the same rows as dicts, for tests and small inputs.
The ``interpreter`` engine produces the same output with the reference
interpreter, record by record, for comparison.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from ..engine.output_files import atomic_output, refuse_overwrite
from ..engine.policy import Policy, load_market, load_policy
from ..language.records import Market
from ..language.strict_json import parse_record
from ..language.types import StructT
from .cache import cache_key, read_entry, write_entry
from .cache import sql_cache_dir as sql_cache_dir  # re-exported
from .constants import POPULATION_TABLE
from .duckdb_io import INPUT_VIEW, parquet_input_sql
from .jsonl_io import (
    HUGE_LINE_SIZE,
    LINE_SIZE,
    NEEDS_LINES,
    guarded_sql,
    jsonl_input_sql,
    jsonl_precheck_sql,
    jsonl_suspects_sql,
)
from .output import COLUMN_SETS as COLUMN_SETS  # re-exported: the column sets of align()
from .output import (
    connect,
    copy_options,
    input_kind,
    output_metadata,
    output_names,
    output_reader,
    progress_bar,
    summarise,
)
from .quoting import copy_to, scan
from .relational import relational_input_sql

if TYPE_CHECKING:
    from sqlglot import exp

    from .compiler import CompiledSQL

_T = TypeVar("_T")

_LAZY = {"duplicate_cause", "iter_records"}
"""Names re-exported from :mod:`.interpreter_engine` (the tools' reader), imported when first used:
the compiler and SQLGlot stay out of a run whose compiled query comes from the cache."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import interpreter_engine

        return getattr(interpreter_engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _first_of_each_id(sql: str) -> str:
    """``sql`` (rows with ``_line``, ``_error``, ``_bene_id``), later rows of an id as errors, in line order."""
    first = "min(_line) OVER (PARTITION BY _bene_id)"
    cause = f"'bene_id: duplicate, first decided at line ' || {first}"
    again = f"_bene_id IS NOT NULL AND _line > {first}"
    return f"SELECT * REPLACE (CASE WHEN {again} THEN {cause} ELSE _error END AS _error) FROM ({sql}) ORDER BY _line"


_INLINE_BAD_LINES = 1000
"""Up to this many lines strict JSON refuses are named in the query text; more go to a table."""


def strict_lines(path: str | Path, work: list[Path]) -> Path:
    """A copy of ``path`` where each line that is not UTF-8 reads ``(not valid JSON)``.

    DuckDB's line reader refuses a whole file for one undecodable byte; the copy
    (in a temporary folder noted in ``work``, which the caller removes) lets the
    batch go on with that line as the error row ``not valid JSON``, as on the interpreter.
    """
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lead-rules-input-"))
    work.append(folder)
    copy = folder / "input.jsonl"
    with open(path, "rb") as src, open(copy, "wb") as dst:
        for line in src:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                line = b"(not valid JSON)\n"
            dst.write(line)
    return copy


def _jsonl_input(
    con: duckdb.DuckDBPyConnection, path: str | Path, record: StructT | None, work: list[Path], numbered: bool
) -> str:
    """The input SQL of a JSON Lines file, after one cheap parallel pass (:func:`jsonl_precheck_sql`).

    The pass finds the lines strict JSON may refuse (each is then decided by
    :func:`lead_rules.language.strict_json.parse_record`, as the interpreter reads it) and whether
    a ``bene_id`` can repeat; only then the rows go through the window that marks repeats, which
    holds the whole input and puts it back in line order. A line longer than
    :data:`~lead_rules.sql.jsonl_io.LINE_SIZE` or an undecodable byte make the pass retry on
    one thread or on a copy (:func:`strict_lines`).

    ``numbered=False`` asks for the parallel unnumbered read, given when no refused line, no
    line cut short (one that does not end in ``}``) and no repeat needs a line number; it raises
    :data:`~lead_rules.sql.jsonl_io.NEEDS_LINES` at a line that turns out to need one
    (:func:`with_input` then reads numbered).
    """
    source, line_size = Path(path), LINE_SIZE
    for _ in range(3):
        try:
            suspects, _, guarded_hashes, unread, repeats, unended = con.sql(
                jsonl_precheck_sql(source, record, line_size)
            ).fetchall()[0]
            break
        except duckdb.InvalidInputException as exc:
            text = str(exc)
            if "Maximum line size" in text and line_size < HUGE_LINE_SIZE:
                line_size = HUGE_LINE_SIZE
            elif "unicode" in text.lower() and source == Path(path):
                source = strict_lines(path, work)
            else:
                raise
    else:  # pragma: no cover - each retry changes one of the two settings
        raise ValueError(f"{path}: cannot be read as JSON Lines")
    guarded = guarded_sql(guarded_hashes)
    ordered = bool(unread or repeats)
    numbered = numbered or bool(unended)  # a line cut short needs its number: no unnumbered read to stop
    if not numbered and not ordered:
        refused = False
        if suspects:  # their texts, read on every core: mostly none is refused
            rows = con.execute(jsonl_suspects_sql(source, line_size, numbered=False))
            while not refused and (batch := rows.fetchmany(1000)):
                refused = any(text.strip() and parse_record(text)[1] is not None for _, text in batch)
        if not refused:
            return jsonl_input_sql(source, record, "FALSE", line_size, guarded, numbered=False)
    bad_lines: list[int] = []
    if suspects:
        rows = con.execute(jsonl_suspects_sql(source, line_size))
        while batch := rows.fetchmany(1000):
            bad_lines += [int(n) for n, text in batch if text.strip() and parse_record(text)[1] is not None]
    if not bad_lines:
        bad = "FALSE"
    elif len(bad_lines) <= _INLINE_BAD_LINES:
        bad = f"_line IN ({', '.join(map(str, bad_lines))})"
    else:
        con.sql("CREATE OR REPLACE TEMP TABLE _lr_bad_lines (n BIGINT)")
        con.executemany("INSERT INTO _lr_bad_lines VALUES (?)", [[n] for n in bad_lines])
        bad, ordered = "_line IN (SELECT n FROM _lr_bad_lines)", True
    sql = jsonl_input_sql(source, record, bad, line_size, guarded)
    return _first_of_each_id(sql) if ordered else sql


def _parquet_ids_repeat(con: duckdb.DuckDBPyConnection, path: str | Path) -> bool:
    """True when a ``bene_id`` of the Parquet file at ``path`` repeats (one column read, in parallel).

    Only then the rows go through the window that marks repeats, which holds every whole record
    and sorts them back into file order; otherwise the scan streams in file order.
    """
    ids = scan("read_parquet", str(path))
    found = con.sql(f"SELECT count(bene_id) - count(DISTINCT bene_id) FROM {ids}").fetchall()[0][0]
    return bool(found)


def register_input(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    record: StructT | None = None,
    work: list[Path] | None = None,
    numbered: bool = True,
) -> str:
    """Create the views ``_lr_input`` (every record, with ``_error``) and ``population`` over ``path``.

    ``record`` is the record struct of the policy's schema (default: the bundled beneficiary record);
    ``work`` collects temporary folders the caller removes after the query ran. ``numbered=False``
    lets a JSON Lines read run unnumbered on every core, when the pre-pass finds no line that
    needs its number; a query over the views may then raise
    :data:`~lead_rules.sql.jsonl_io.NEEDS_LINES` (:func:`with_input` runs it again numbered).
    """
    kind = input_kind(path)
    if kind == "jsonl":
        sql = _jsonl_input(con, path, record, work if work is not None else [], numbered)
    elif kind == "parquet":
        cols = con.sql(f"DESCRIBE SELECT * FROM {scan('read_parquet', str(path))}").fetchall()
        present = {str(c[0]): str(c[1]) for c in cols}
        sql = parquet_input_sql(path, present, record)
        if "bene_id" in present and _parquet_ids_repeat(con, path):
            sql = _first_of_each_id(sql)
    else:
        sql = _first_of_each_id(relational_input_sql(con, Path(path), record))
    con.sql(f"CREATE OR REPLACE TEMP VIEW {INPUT_VIEW} AS {sql}")
    con.sql(f"CREATE OR REPLACE TEMP VIEW {POPULATION_TABLE} AS SELECT * FROM {INPUT_VIEW}")
    return kind


def with_input(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    record: StructT | None,
    work: list[Path],
    run: Callable[[], _T],
    rerun: bool = True,
) -> tuple[str, _T]:
    """:func:`register_input` over ``path``, then ``run()``; the input kind and what ``run`` returned.

    With ``rerun`` (``run`` may run twice: its output can be written again) a JSON Lines file is
    first read unnumbered, on every core; at a line whose error row names its number (not valid
    JSON, not an object) that read stops with :data:`~lead_rules.sql.jsonl_io.NEEDS_LINES` and
    the file is read again numbered, so a dirty file costs up to one more read and a clean one none.
    """
    kind = register_input(con, path, record, work, numbered=not rerun)
    try:
        return kind, run()
    except duckdb.InvalidInputException as exc:
        if not rerun or NEEDS_LINES not in str(exc):
            raise
    return register_input(con, path, record, work), run()


def _record_struct(compiled: CompiledSQL) -> StructT | None:
    """The record struct of the compiled policy's schema."""
    schema = compiled.policy.record_schema
    return schema.struct if schema is not None else None


def reasons_enum_type(compiled: CompiledSQL) -> exp.DataType | None:
    """The ``reasons`` type with its strings as DuckDB ENUMs, or None without ACOs.

    The compiler records every pathway, criterion and value text a reason can
    hold (:attr:`CompiledSQL.reason_texts`) and every ACO id is one of the
    market's, so the domain is known; written as ENUMs, Parquet
    dictionary-encodes them (about twice as fast to write) and every reader
    still sees strings.
    """
    from sqlglot import exp

    from .sqltypes import array_type, struct_type

    ids = [a.id for a in compiled.market.acos]
    keys = ("pathway", "criterion", "value")
    if not ids or not all(compiled.reason_texts.get(k) for k in keys):
        return None

    def enum(values: Iterable[str]) -> exp.DataType:
        return exp.DataType(this=exp.DataType.Type.ENUM, expressions=[exp.Literal.string(v) for v in sorted(values)])

    enums = [(key, enum(compiled.reason_texts[key])) for key in keys]
    return array_type(struct_type([*enums, ("acos", array_type(enum(ids)))]))


def output_query(compiled: CompiledSQL, columns: str = "full") -> exp.Select:
    """The compiled query over every input row, with error rows for the invalid ones.

    ``columns`` chooses the output columns (:data:`COLUMN_SETS`); DuckDB
    computes only what they need.
    """
    from sqlglot import exp

    from .compiler import REASON_TYPE, prune
    from .sqltypes import array_type

    names = output_names(compiled, columns)
    inner = compiled.query.copy()
    inner = inner.select(exp.column("_error"), exp.column("_bene_id"), append=True)
    inner = prune(inner, {*names, "_error", "_bene_id"})  # only what the chosen columns read
    ok = exp.Is(this=exp.column("_error"), expression=exp.Null())

    reasons: exp.Expr = exp.Case().when(ok, exp.column("reasons")).else_(exp.cast(exp.Array(), array_type(REASON_TYPE)))
    enums = reasons_enum_type(compiled) if compiled.dialect == "duckdb" else None
    if enums is not None:
        reasons = exp.cast(reasons, enums)

    def keep(name: str) -> exp.Expr:
        return exp.alias_(exp.Case().when(ok, exp.column(name, quoted=True)), name, quoted=True)

    cols: list[exp.Expr] = [
        exp.alias_(exp.Case().when(ok, exp.column("bene_id")).else_(exp.column("_bene_id")), "bene_id", quoted=True),
        exp.alias_(
            exp.Case().when(ok, exp.column("outcome")).else_(exp.Literal.string("error")), "outcome", quoted=True
        ),
        keep("aco_id"),
        keep("pathway"),
        exp.alias_(reasons, "reasons", quoted=True),
        exp.alias_(exp.Coalesce(this=exp.column("_error"), expressions=[exp.column("cause")]), "cause", quoted=True),
    ]
    cols += [keep(c.column) for c in compiled.columns]
    cols = [c for c in cols if c.alias in names]
    return exp.select(*cols).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("d"))))


def decide(
    policy: Policy,
    market: Market | Mapping[str, Any] | str | Path,
    input_path: str | Path,
    con: duckdb.DuckDBPyConnection | None = None,
    definitions: bool = False,
) -> list[dict[str, Any]]:
    """Decide the population at ``input_path`` on DuckDB; one dict per input record, in input order."""
    from .compiler import compile_policy

    mk = load_market(market) if not isinstance(market, Market) else market
    compiled = compile_policy(policy, mk, "duckdb", definitions=definitions)
    _refuse(compiled)
    con = con or connect()
    work: list[Path] = []
    try:
        sql = output_query(compiled).sql("duckdb")

        def rows() -> list[dict[str, Any]]:
            rel = con.sql(sql)
            names = rel.columns
            return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]

        return with_input(con, input_path, _record_struct(compiled), work, rows)[1]
    finally:
        _remove(work)


def _remove(folders: list[Path]) -> None:
    import shutil

    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _refuse(compiled: CompiledSQL) -> None:
    if compiled.errors:
        lines = "\n".join(str(i) for i in compiled.errors)
        raise ValueError(f"the policy cannot be compiled to {compiled.dialect}:\n{lines}")


class _Progress:
    """A progress line on standard error, fed by DuckDB's query progress."""

    def __init__(self, con: duckdb.DuckDBPyConnection, label: str, enabled: bool) -> None:
        self.con = con
        self.label = label
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if not self.enabled:
            return self
        self._bar = progress_bar()
        self._bar.start()
        task = self._bar.add_task(self.label, total=100.0)

        def poll() -> None:
            while not self._stop.wait(0.25):
                try:
                    pct = float(self.con.query_progress())
                except Exception:
                    continue
                if pct >= 0:
                    self._bar.update(task, completed=min(pct, 100.0))
            self._bar.update(task, completed=100.0)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self._bar is not None:
            self._bar.stop()


def duckdb_output_sql(compiled: CompiledSQL, columns: str = "full", fmt: str = "parquet") -> str:
    """The DuckDB text of :func:`output_query` for output format ``fmt`` (CSV: reasons as JSON text)."""
    from sqlglot import exp

    _refuse(compiled)
    query = output_query(compiled, columns)
    if fmt == "csv":  # CSV has no lists: reasons as JSON text
        for proj in query.expressions:
            if proj.alias == "reasons":
                proj.set("this", exp.func("to_json", proj.this.copy()))
    return str(query.sql("duckdb"))


def run_duckdb(
    compiled: CompiledSQL,
    input_path: str | Path,
    output_path: str | Path,
    progress: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
    columns: str = "full",
) -> dict[str, Any]:
    """Decide ``input_path`` with ``compiled`` on DuckDB, write ``output_path``, return counts."""
    fmt, _ = copy_options(Path(output_path))
    sql = duckdb_output_sql(compiled, columns, fmt)
    return run_duckdb_sql(sql, input_path, output_path, progress, con, record=_record_struct(compiled))


def run_duckdb_sql(
    sql: str,
    input_path: str | Path,
    output_path: str | Path,
    progress: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
    record: StructT | None = None,
) -> dict[str, Any]:
    """Run the output query text ``sql`` (:func:`duckdb_output_sql`) over ``input_path``; write, count.

    ``record`` is the struct of the policy's record schema (None: the bundled beneficiary schema).
    """
    con = con or connect()
    output = Path(output_path)
    fmt, options = copy_options(output)
    work: list[Path] = []
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        again = not output.exists() or output.is_file()  # not a pipe or a device: it can be written again
        label = f"aligning ({input_kind(input_path)}, duckdb)"

        def write() -> None:
            with _Progress(con, label, progress):
                con.sql(copy_to(sql, str(output), options))

        kind = with_input(con, input_path, record, work, write, rerun=again)[0]
        counts = con.sql(
            f"SELECT outcome, pathway, count(*) FROM {output_reader(output, fmt)} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        _remove(work)
    return summarise(counts, kind)


def cached_duckdb_sql(policy: Policy, market: Market, columns: str, fmt: str) -> tuple[str, list[str]]:
    """The output query text and SQL issues of ``policy`` on ``market``, from the cache when compiled before.

    Keyed by the policy's content hash, the market, the column set, the output format and the
    compiler's source (:func:`lead_rules.sql.cache.cache_key`); a cache that cannot be trusted,
    read or written is skipped (the query is compiled). Saves the compile and the SQLGlot
    generation (~1 s) and the import of the compiler.
    """
    key = cache_key(policy, market, columns, fmt)
    folder = sql_cache_dir()
    hit = read_entry(folder, key)
    if hit is not None:
        return hit
    from .compiler import compile_policy

    compiled = compile_policy(policy, market, "duckdb")
    sql = duckdb_output_sql(compiled, columns, fmt)
    issues = [str(i) for i in compiled.issues]
    write_entry(folder, key, sql, issues)
    return sql, issues


# --- the entry point ------------------------------------------------------------------


def align(
    policy_path: Policy | str | Path,
    market_path: Market | str | Path,
    input_path: str | Path,
    output_path: str | Path,
    engine: str = "duckdb",
    progress: bool = True,
    columns: str = "full",
    input_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Align a whole population and write the decisions; return a summary dict.

    ``engine`` is ``duckdb`` (default), ``spark`` (local mode) or
    ``interpreter``; ``columns`` is one of :data:`COLUMN_SETS`. The summary has ``read``, ``decided``, ``errors``,
    ``aligned``, ``not_aligned``, ``by_pathway``, ``engine``, ``input``,
    ``output``, ``seconds``, ``records_per_second``, ``policy``, ``issues``, and
    ``complete`` (true: the output file was written whole and moved into place).
    The output never replaces an input and appears only when complete
    (:mod:`lead_rules.engine.output_files`). The policy and the market may be
    given loaded (the CLI loads them first for its diagnostics).

    The output records its ``provenance`` (:mod:`lead_rules.engine.provenance`; also in the
    summary): Parquet key-value metadata, or a sidecar file beside JSON Lines and CSV.
    ``input_info`` replaces the input part (the CLI's standard input: ``path`` ``-`` and ``rows``).
    """
    from ..engine.provenance import METADATA_KEY, provenance, sidecar_path, write_sidecar

    started = time.monotonic()
    if engine not in ("duckdb", "spark", "interpreter"):
        raise ValueError(f"unknown engine {engine!r}: expected duckdb, spark or interpreter")
    paths = [p for p in (input_path, market_path, policy_path) if isinstance(p, (str, Path))]
    refuse_overwrite(output_path, paths)
    fmt = copy_options(Path(output_path))[0]  # an unknown output format fails before anything runs
    policy = policy_path if isinstance(policy_path, Policy) else load_policy(policy_path)
    market = load_market(market_path, policy)
    prov = provenance(policy, engine, market=market, input_path=None if input_info else input_path, columns=columns)
    if input_info:
        prov["input"] = dict(input_info)
    metadata = output_metadata({METADATA_KEY: json.dumps(prov, separators=(",", ":"))})
    with atomic_output(output_path) as partial, metadata:  # the output appears only when complete
        if engine == "duckdb":
            sql, issues = cached_duckdb_sql(policy, market, columns, fmt)
            schema = policy.record_schema
            record = schema.struct if schema is not None else None
            summary = run_duckdb_sql(sql, input_path, partial, progress=progress, record=record)
        elif engine == "spark":
            from .compiler import compile_policy
            from .spark import run_spark

            compiled = compile_policy(policy, market, "spark")
            issues = [str(i) for i in compiled.issues]
            summary = run_spark(compiled, input_path, partial, progress=progress, columns=columns)
        else:
            from .compiler import compile_policy
            from .interpreter_engine import run_interpreter

            compiled = compile_policy(policy, market, "duckdb")
            issues = [str(i) for i in compiled.issues]
            summary = run_interpreter(
                policy, market, input_path, partial, progress=progress, columns=columns, compiled=compiled
            )
        counts = {k: summary[k] for k in ("read", "decided", "errors", "aligned", "not_aligned", "by_pathway")}
        regular = partial != Path(output_path)  # not a device or a pipe, written in place
        if fmt != "parquet" and regular:
            sidecar_path(output_path).unlink(missing_ok=True)  # never a stale sidecar beside the new file
    if fmt != "parquet" and regular:  # JSON Lines and CSV: one line per record, the provenance beside
        write_sidecar(output_path, {**prov, "counts": counts})
    seconds = time.monotonic() - started
    summary.update(
        complete=True,
        engine=engine,
        output=str(output_path),
        seconds=round(seconds, 3),
        records_per_second=round(summary["read"] / seconds, 1) if seconds > 0 else None,
        columns=columns,
        policy=f"{policy.id} v{policy.version}",
        issues=issues,
        provenance=prov,
    )
    return summary
