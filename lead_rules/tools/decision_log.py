"""Decision logs (``--log`` on ``evaluate`` and ``align``) and their verification (``lead-rules verify-log``).

A decision log has one JSON line per decided input record: a deterministic
``decision_id`` (a hash of the policy's content hash, the market's hash and
the input record's hash, so re-running the same inputs gives the same ids),
the ``time`` of the run, the policy id, version and content hash, the market
hash, the input record hash, the ``row`` (input line or row number), the
engine, and the decision (``bene_id``, ``outcome``, ``aco_id``, ``pathway``).

The record hash is the SHA-256 of the record's canonical JSON: the validated
record (:class:`~lead_rules.records.Beneficiary`) dumped with sorted keys, so
the same beneficiary hashes the same from JSON Lines or Parquet; a record that
is not valid hashes its raw text. :func:`verify_log` re-decides every logged
record (or a seeded sample) with the interpreter and reports each difference:
a changed input record, another policy or market, or another decision.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from ..batch.jsonl import BatchCounts, decide_lines, dumps, json_default
from ..engine.output_files import atomic_output
from ..engine.policy import Policy
from ..engine.provenance import canonical, market_hash
from ..engine.trace_codec import TraceEncoder
from ..language.records import Beneficiary, Market
from ..language.strict_json import parse_record, read_json_lines

DECISION_FIELDS = ("bene_id", "outcome", "aco_id", "pathway")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def record_hash(record: Mapping[str, Any] | None, raw: str | None = None) -> str:
    """The SHA-256 of a record's canonical JSON (its raw text when it is not a valid record)."""
    if record is not None:
        try:
            bene = Beneficiary.model_validate(record)
        except ValidationError:
            return _sha(json.dumps(record, sort_keys=True, default=json_default, separators=(",", ":")))
        return _sha(json.dumps(canonical(bene.model_dump()), sort_keys=True, separators=(",", ":")))
    return _sha((raw or "").strip())


def decision_id(policy_hash: str, mk_hash: str, input_hash: str) -> str:
    """The deterministic id of the decision of one record by one policy in one market."""
    return _sha(f"lead-rules decision\0{policy_hash}\0{mk_hash}\0{input_hash}")[:32]


@dataclass
class LogWriter:
    """Writes log lines to a temporary file and moves it into place when the ``with`` block ends.

    Use it as a context manager: the file goes through
    :func:`lead_rules.engine.output_files.atomic_output`, so on an error, Ctrl-C
    or SIGTERM no partial log (and no temporary file) is left; a device or FIFO
    log is written in place, a symlinked log at its target.
    """

    path: Path
    policy: Policy
    market: Market
    engine: str
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        self.mk_hash = market_hash(self.market)
        self.lines = 0
        self._stack = contextlib.ExitStack()
        self._fh: IO[str] | None = None

    def __enter__(self) -> LogWriter:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_output(self.path))
            self._fh = stack.enter_context(open(tmp, "w", encoding="utf-8"))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh = None
        self._stack.__exit__(*exc)  # closes the file, then moves it into place (or removes it on an error)

    def write(self, row: int, input_hash: str, decision: Mapping[str, Any]) -> None:
        """Log one decision."""
        if self._fh is None:
            raise RuntimeError("LogWriter.write outside its with block")
        entry = {
            "decision_id": decision_id(self.policy.content_hash, self.mk_hash, input_hash),
            "time": self.time,
            "policy": {"id": self.policy.id, "version": self.policy.version, "hash": self.policy.content_hash},
            "market_hash": self.mk_hash,
            "input_hash": input_hash,
            "row": row,
            "engine": self.engine,
            **{k: decision.get(k) for k in DECISION_FIELDS},
        }
        self._fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.lines += 1


def run_batch_logged(
    policy: Policy,
    market: Market,
    src: IO[str],
    dst: IO[str],
    log: Path,
    trace: bool = False,
    encoder: TraceEncoder | None = None,
) -> BatchCounts:
    """:func:`lead_rules.batch.run_batch`, logging every decision to ``log``."""
    counts = BatchCounts()
    last: dict[int, str] = {}

    def lines() -> Iterator[str]:
        for number, line in enumerate(src, start=1):
            last.clear()
            last[number] = line
            yield line

    with LogWriter(log, policy, market, "interpreter") as writer:
        for row, _ in decide_lines(policy, market, lines(), trace, encoder):
            dst.write(dumps(row) + "\n")
            counts.add(row["outcome"])
            raw = last.get(int(row["line"]), "")
            writer.write(int(row["line"]), _hash_line(raw), row)
    return counts


def _hash_line(raw: str) -> str:
    value, bad = parse_record(raw)
    return record_hash(value, raw) if bad is None and isinstance(value, dict) else record_hash(None, raw)


def input_records(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | None, str]]:
    """``(row, record or None, input hash)`` for every record of a JSONL or Parquet population."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        for number, line, value, bad in read_json_lines(path):
            record: Mapping[str, Any] | None = value if bad is None and isinstance(value, dict) else None
            yield number, record, record_hash(record, line)
        return
    if suffix == ".parquet":
        from ..sql.run import iter_records

        for number, record, _cause in iter_records(path):
            yield number, record, record_hash(record)
        return
    raise ValueError("a decision log needs a .jsonl or .parquet input (not a folder of tables)")


def _output_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    """The decision fields of every row of an ``align`` output (Parquet, CSV or JSON Lines), in order."""
    from ..sql.output import OUTPUT_FORMATS, output_reader
    from ..sql.quoting import select_list

    fmt = OUTPUT_FORMATS.get(path.suffix.lower(), "json")
    if fmt == "json":  # one JSON object a line; read here (DuckDB's JSON reader would need every column declared)
        for number, _line, value, bad in read_json_lines(path):
            if bad is not None or not isinstance(value, dict):
                raise ValueError(f"{path}:{number}: not a decision line")
            yield tuple(value.get(k) for k in DECISION_FIELDS)
        return
    import duckdb

    cur = duckdb.connect().execute(f"SELECT {select_list(list(DECISION_FIELDS))} FROM {output_reader(path, fmt)}")
    while True:
        chunk = cur.fetchmany(10_000)
        if not chunk:
            return
        yield from chunk


def write_align_log(policy: Policy, market: Market, input_path: Path, output_path: Path, engine: str, log: Path) -> int:
    """Log the decisions ``align`` wrote to ``output_path`` (one row per input record, in order)."""
    inputs = input_records(input_path)
    with LogWriter(log, policy, market, engine) as writer:
        for out in _output_rows(output_path):
            nxt = next(inputs, None)
            if nxt is None:
                raise ValueError(f"{output_path} has more rows than {input_path} has records")
            writer.write(nxt[0], nxt[2], dict(zip(DECISION_FIELDS, out, strict=True)))
        if next(inputs, None) is not None:
            raise ValueError(f"{input_path} has more records than {output_path} has rows")
    return writer.lines


# --- verification -------------------------------------------------------------------------


@dataclass
class Verification:
    """What re-deciding a log found."""

    checked: int = 0
    same: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """One line."""
        return f"checked {self.checked} logged decisions: {self.same} the same, {len(self.differences)} different"


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a decision log."""
    out = []
    for number, _line, entry, bad in read_json_lines(path):
        if bad is not None:
            raise ValueError(f"{path}:{number}: not a log line: {bad}")
        if not isinstance(entry, dict) or "decision_id" not in entry or "row" not in entry:
            raise ValueError(f"{path}:{number}: not a decision log line")
        out.append(entry)
    return out


def verify_log(
    policy: Policy,
    market: Market,
    log: Iterable[dict[str, Any]],
    input_path: Path,
    sample: int | None = None,
    seed: int = 0,
) -> Verification:
    """Re-decide the logged records (all, or ``sample`` of them) with the interpreter; report differences."""
    entries = list(log)
    if sample is not None and sample < len(entries):
        entries = random.Random(seed).sample(entries, sample)
    wanted = {int(e["row"]): e for e in entries}
    mk_hash = market_hash(market)
    result = Verification()
    for row, record, input_hash in input_records(input_path):
        entry = wanted.pop(row, None)
        if entry is None:
            continue
        result.checked += 1
        problems: list[str] = []
        if entry.get("input_hash") != input_hash:
            problems.append("the input record is not the one logged (its hash differs)")
        if (entry.get("policy") or {}).get("hash") != policy.content_hash:
            problems.append(f"logged with policy hash {(entry.get('policy') or {}).get('hash')}, not this policy's")
        if entry.get("market_hash") != mk_hash:
            problems.append("logged with another market")
        if decision_id(policy.content_hash, mk_hash, input_hash) != entry.get("decision_id"):
            problems.append("the decision id differs")
        if record is None:
            now = {"bene_id": None, "outcome": "error", "aco_id": None, "pathway": None}
        else:
            d = policy.evaluate(record, market, trace=False)
            now = {"bene_id": d.bene_id, "outcome": d.outcome, "aco_id": d.aco_id, "pathway": d.pathway}
        logged = {k: entry.get(k) for k in DECISION_FIELDS}
        if logged != now and not (now["outcome"] == "error" and logged["outcome"] == "error"):
            problems.append("the decision differs")
        if problems:
            result.differences.append(
                {
                    "row": row,
                    "decision_id": entry.get("decision_id"),
                    "logged": logged,
                    "now": now,
                    "problems": problems,
                }
            )
        else:
            result.same += 1
    for row, entry in sorted(wanted.items()):
        result.checked += 1
        result.differences.append(
            {
                "row": row,
                "decision_id": entry.get("decision_id"),
                "logged": {k: entry.get(k) for k in DECISION_FIELDS},
                "now": None,
                "problems": ["the input has no such row"],
            }
        )
    return result
