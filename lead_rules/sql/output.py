"""Output rows of the SQL engines: column sets, file formats, and the one DuckDB writer.

Shared by the DuckDB runner (:mod:`.run`) and the Spark runner (:mod:`.spark`),
so that neither imports the other for them: which columns a ``--columns`` set
holds, how the input kind is told from its path, the DuckDB ``COPY`` options
per output suffix, the connection, and :func:`write_rows`, which writes an
Arrow table of output rows and counts it. Parquet's key-value metadata holds
``lead_rules_complete`` and, inside :func:`output_metadata`, the provenance of
the run (:mod:`lead_rules.engine.provenance`), set by :func:`.run.align`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .quoting import copy_to, literal, scan, select_list
from .relational import TABLES

if TYPE_CHECKING:
    from .compiler import CompiledSQL

_METADATA: ContextVar[Mapping[str, str] | None] = ContextVar("lead_rules_output_metadata", default=None)

OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json", ".ndjson": "json"}


DECISION_COLUMNS = ("bene_id", "outcome", "aco_id", "pathway", "reasons", "cause")
COLUMN_SETS = ("full", "reasons", "decisions")
"""What an output row holds: ``full`` (the default) -- the decision, ``reasons`` and
every criterion and rank column, so any beneficiary's trace can be rebuilt
(``explain --from-output``); ``reasons`` -- the decision and ``reasons``;
``decisions`` -- ``bene_id``, ``outcome``, ``aco_id``, ``pathway`` and ``cause``."""


def output_names(compiled: CompiledSQL, columns: str = "full") -> list[str]:
    """The output column names for the column set ``columns`` (see :data:`COLUMN_SETS`)."""
    if columns not in COLUMN_SETS:
        raise ValueError(f"unknown column set {columns!r}: expected one of {', '.join(COLUMN_SETS)}")
    names = [n for n in DECISION_COLUMNS if n != "reasons" or columns != "decisions"]
    return names + ([c.column for c in compiled.columns] if columns == "full" else [])


def input_kind(path: str | Path) -> str:
    """``jsonl``, ``parquet`` or ``relational`` (a folder of tables)."""
    p = Path(path)
    if p.is_dir():
        return "relational"
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise ValueError(
        f"unknown input format for {p}: expected .jsonl, .parquet or a folder of tables ({', '.join(TABLES)})"
    )


def esc(s: str) -> str:
    """``s`` inside a single-quoted SQL string literal (the body of :func:`.quoting.literal`)."""
    return literal(s)[1:-1]


def progress_bar() -> Any:
    """The progress display of ``align`` (a ``rich`` Progress, not started): the same columns on every engine."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        transient=False,
    )


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection configured for batch alignment."""
    con = duckdb.connect()
    if threads:
        con.sql(f"SET threads = {int(threads)}")
    if memory_limit:
        con.sql(f"SET memory_limit = {literal(memory_limit)}")
    con.sql("SET preserve_insertion_order = true")
    return con


def output_reader(output: Path, fmt: str) -> str:
    """The DuckDB table function that reads an ``align`` output file back (``fmt`` from :data:`OUTPUT_FORMATS`)."""
    path = str(output)
    if fmt == "parquet":
        return scan("read_parquet", path)
    if fmt == "csv":
        return scan("read_csv", path, {"header": True, "all_varchar": True})
    columns = {"outcome": "VARCHAR", "pathway": "VARCHAR"}
    return scan("read_json", path, {"format": "newline_delimited", "columns": columns})


def copy_options(output: Path) -> tuple[str, str]:
    """``(format, COPY options)`` for the output file ``output``; an unknown suffix is an error."""
    fmt = OUTPUT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown output format {output.suffix!r}: expected .parquet, .csv or .jsonl")
    if fmt == "parquet":
        extra = "".join(f", {k}: {literal(v)}" for k, v in (_METADATA.get() or {}).items())
        return fmt, f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{lead_rules_complete: 'true'{extra}}})"
    if fmt == "csv":
        return fmt, "(FORMAT csv, HEADER true)"
    return fmt, "(FORMAT json)"


@contextlib.contextmanager
def output_metadata(values: Mapping[str, str]) -> Iterator[None]:
    """Parquet outputs written inside the block (by any engine) carry ``values`` as key-value metadata.

    Keys are names of letters, digits and ``_`` (they are written unquoted); values go through
    :func:`.quoting.literal`.
    """
    for key in values:
        if not key.isidentifier():
            raise ValueError(f"a metadata key is a name, not {key!r}")
    token = _METADATA.set(dict(values))
    try:
        yield
    finally:
        _METADATA.reset(token)


def write_rows(table: Any, output: Path, copy: tuple[str, str], kind: str) -> dict[str, Any]:
    """Write an Arrow table of output rows (the interpreter's or Spark's) with DuckDB; return the summary.

    ``copy`` is the ``(format, COPY options)`` pair of :func:`copy_options`;
    CSV holds ``reasons`` as JSON text, as :func:`run_duckdb` writes it.
    """
    fmt, options = copy
    output.parent.mkdir(parents=True, exist_ok=True)
    con = connect()
    con.register("_lr_rows", table)
    select = select_list(list(table.column_names), json_columns=frozenset({"reasons"} if fmt == "csv" else ()))
    con.sql(copy_to(f"SELECT {select} FROM _lr_rows", str(output), options))
    counts = con.sql("SELECT outcome, pathway, count(*) FROM _lr_rows GROUP BY ALL ORDER BY ALL").fetchall()
    return summarise(counts, kind)


def summarise(counts: list[tuple[Any, ...]], kind: str) -> dict[str, Any]:
    """The run summary from ``(outcome, pathway, count)`` rows."""
    by_outcome: dict[str, int] = {}
    by_pathway: dict[str, int] = {}
    for outcome, pathway, n in counts:
        by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + int(n)
        if pathway is not None:
            by_pathway[str(pathway)] = by_pathway.get(str(pathway), 0) + int(n)
    read = sum(by_outcome.values())
    errors = by_outcome.get("error", 0)
    return {
        "input": kind,
        "read": read,
        "decided": read - errors,
        "errors": errors,
        "aligned": by_outcome.get("aligned", 0),
        "not_aligned": by_outcome.get("not_aligned", 0),
        "by_pathway": by_pathway,
    }
