"""The ``interpreter`` engine of :func:`lead_rules.sql.run.align`: the reference interpreter over a population file.

It reads nested JSON Lines (strictly, as :mod:`lead_rules.language.strict_json`)
or Parquet record by record (:func:`iter_records`, also the reader of the
tools), decides batches of records in a pool of forked processes, and writes
the same rows as the DuckDB engine (an error row for an unreadable record or a
repeated ``bene_id``), so the two engines can be compared on any input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..engine.policy import Policy
from ..language.records import Market
from ..language.strict_json import read_json_lines
from .compiler import CompiledSQL, compile_policy
from .output import copy_options, input_kind, output_names, progress_bar, write_rows


def duplicate_cause(first_line: int | str) -> str:
    """The cause of an error row for a ``bene_id`` already decided at ``first_line``."""
    return f"bene_id: duplicate, first decided at line {first_line}"


def iter_records(path: str | Path) -> Iterator[tuple[int, Mapping[str, Any] | None, str | None]]:
    """``(line, record or None, cause)`` for every record of a nested JSONL or Parquet file."""
    kind = input_kind(path)
    if kind == "jsonl":
        for number, _line, value, bad in read_json_lines(path):
            if bad is not None:
                yield number, None, f"line {number}: not valid JSON"
            elif not isinstance(value, dict):
                yield number, None, f"line {number}: a record must be a JSON object"
            else:
                yield number, value, None
        return
    if kind == "parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=10_000):
            for record in batch.to_pylist():
                number += 1
                yield (
                    number,
                    {k: v for k, v in record.items() if v is not None or k in ("months", "voluntary", "claims")},
                    None,
                )
        return
    raise ValueError("the interpreter engine reads nested JSONL or Parquet; use the duckdb engine for tables")


_BATCH = 500
"""Records per task of the interpreter's process pool."""

_worker: dict[str, Any] = {}
"""The state of an interpreter worker process (set before the pool forks)."""


def _decide_batch(items: list[tuple[int, Mapping[str, Any] | None, str | None]]) -> Any:
    """One batch of records decided by the reference interpreter, as an Arrow record batch."""
    import pyarrow as pa

    ref, names, schema, criteria = _worker["ref"], _worker["names"], _worker["schema"], _worker["criteria"]
    rows: list[dict[str, Any]] = []
    for _line, record, cause in items:
        if record is None or cause is not None:  # unreadable, or a duplicate bene_id (its record kept for the id)
            bene_id = record.get("bene_id") if record is not None else None
            rows.append(
                {
                    k: v
                    for k, v in (("bene_id", bene_id), ("outcome", "error"), ("reasons", []), ("cause", cause))
                    if k in names
                }
            )
        else:
            row = ref.row(record, criteria=criteria)
            rows.append({k: row.get(k) for k in names})
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _batches(path: str | Path) -> Iterator[list[tuple[int, Mapping[str, Any] | None, str | None]]]:
    """The records of ``path`` in batches; a later record of a ``bene_id`` carries the duplicate cause."""
    batch: list[tuple[int, Mapping[str, Any] | None, str | None]] = []
    seen: dict[str, int] = {}
    for line, record, cause in iter_records(path):
        bene_id = record.get("bene_id") if record is not None else None
        if isinstance(bene_id, str) and seen.setdefault(bene_id, line) != line:
            cause = duplicate_cause(seen[bene_id])
        batch.append((line, record, cause))
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _count_records(path: str | Path) -> int | None:
    """The number of records of a JSON Lines (non-blank lines) or Parquet file, for the progress bar."""
    try:
        if input_kind(path) == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(str(path)).metadata.num_rows)
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except (OSError, ValueError):  # pragma: no cover - the run reports the problem
        return None


def _workers() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_interpreter(
    policy: Policy,
    market: Market,
    input_path: str | Path,
    output_path: str | Path,
    progress: bool = False,
    columns: str = "full",
    compiled: CompiledSQL | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Decide ``input_path`` with the reference interpreter; the same output as :func:`run_duckdb`.

    Batches of records are decided by a pool of ``workers`` processes (default: one per
    core; forked, so they share the loaded policy), and written in input order.
    ``compiled`` (the policy compiled for DuckDB, for the output columns) is compiled here
    when not given.
    """
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    import pyarrow as pa

    from .reference import Reference

    if compiled is None:
        compiled = compile_policy(policy, market, "duckdb")
    names = output_names(compiled, columns)
    output = Path(output_path)
    copy = copy_options(output)  # an unknown output format fails before the run
    schema = _arrow_schema(compiled, names)
    _worker.update(ref=Reference(policy, market), names=names, schema=schema, criteria=columns == "full")
    n_workers = workers if workers is not None else _workers()
    if "fork" not in mp.get_all_start_methods():  # pragma: no cover - not Linux
        n_workers = 1
    batches: list[pa.RecordBatch] = []
    with _Bar("aligning (interpreter)", _count_records(input_path) if progress else None, progress) as bar:
        if n_workers <= 1:
            for items in _batches(input_path):
                batches.append(_decide_batch(items))
                bar.advance(len(items))
        else:
            with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) as pool:
                pending: deque[tuple[int, Future[Any]]] = deque()
                for items in _batches(input_path):
                    pending.append((len(items), pool.submit(_decide_batch, items)))
                    while len(pending) > 2 * n_workers:
                        n, fut = pending.popleft()
                        batches.append(fut.result())
                        bar.advance(n)
                while pending:
                    n, fut = pending.popleft()
                    batches.append(fut.result())
                    bar.advance(n)
    _worker.clear()
    return write_rows(pa.Table.from_batches(batches, schema=schema), output, copy, input_kind(input_path))


class _Bar:
    """The progress bar of the interpreter engine: the columns of the DuckDB engine's, fed by records done."""

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.done = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            self._bar = progress_bar()
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=float(self.total or 1))
        return self

    def advance(self, n: int) -> None:
        """``n`` more records decided."""
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=min(float(self.done), float(self.total or self.done)))

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=float(self.total or 1))
            self._bar.stop()


def _arrow_schema(compiled: CompiledSQL, names: list[str]) -> Any:
    import pyarrow as pa

    reason = pa.struct(
        [("pathway", pa.string()), ("criterion", pa.string()), ("value", pa.string()), ("acos", pa.list_(pa.string()))]
    )
    fields = {
        "bene_id": pa.string(),
        "outcome": pa.string(),
        "aco_id": pa.string(),
        "pathway": pa.string(),
        "reasons": pa.list_(reason),
        "cause": pa.string(),
    }
    for c in compiled.columns:
        fields[c.column] = {"criterion": pa.bool_(), "on_tie": pa.string()}.get(c.kind, pa.decimal128(38, 6))
    return pa.schema([(n, fields[n]) for n in names])
