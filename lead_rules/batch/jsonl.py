"""Batch evaluation of JSON Lines: one output row per input line, in order.

Reads records lazily (a file or standard input), decides each with the
interpreter, and writes one JSON line per input line: the decision, or an
``error`` row naming the line and the cause when the line is not JSON or not
a valid record. Counts add up: ``read == decided + errors``. The CLI writes the
counts and the provenance beside the output, in its sidecar file
(:func:`lead_rules.engine.provenance.write_sidecar`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from ..engine.decision import Decision
from ..engine.policy import Policy
from ..engine.trace_codec import TraceEncoder
from ..language.records import Market
from ..language.strict_json import parse_record
from ..language.values import Month, to_json


@dataclass
class BatchCounts:
    """What a batch read and decided."""

    read: int = 0
    decided: int = 0
    errors: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        """Count one output row."""
        self.read += 1
        self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + 1
        if outcome == "error":
            self.errors += 1
        else:
            self.decided += 1

    def to_dict(self) -> dict[str, Any]:
        """The counts as the output's provenance sidecar holds them (``counts``)."""
        return {"read": self.read, "decided": self.decided, "errors": self.errors,
                "by_outcome": dict(sorted(self.by_outcome.items()))}

    def summary(self) -> str:
        """One line for standard error."""
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_outcome.items()))
        return f"read {self.read}, decided {self.decided}, errors {self.errors}" + (f" ({parts})" if parts else "")


def json_default(value: Any) -> Any:
    """JSON encoding of the values decisions carry."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, Month)):
        return str(value)
    if isinstance(value, (set, frozenset)):  # sorted: output never depends on the hash seed
        return to_json(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(row: dict[str, Any]) -> str:
    """Compact JSON for one output line."""
    return json.dumps(row, default=json_default, separators=(",", ":"), ensure_ascii=False)


def parse_line(line: str, number: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A record from one JSONL line, or an error row naming the line and cause."""
    data, cause = parse_record(line)
    if cause is not None:
        return None, error_row(None, number, None, f"line {number} is {cause}" if cause.startswith("not") else
                               f"line {number}: {cause}")
    if not isinstance(data, dict):
        return None, error_row(None, number, None, f"line {number} is not a JSON object")
    return data, None


def error_row(bene_id: str | None, line: int, fieldname: str | None, message: str) -> dict[str, Any]:
    """An output row for input that could not be decided."""
    return {
        "line": line,
        "bene_id": bene_id,
        "outcome": "error",
        "aco_id": None,
        "pathway": None,
        "reasons": [],
        "errors": [{"field": fieldname, "message": message}],
    }


def decide_lines(
    policy: Policy,
    market: Market,
    lines: Iterable[str],
    trace: bool = False,
    encoder: TraceEncoder | None = None,
) -> Iterator[tuple[dict[str, Any], Decision | None]]:
    """Decide each non-blank line; yield (output row, decision or None).

    A ``bene_id`` seen before is decided only the first time: a later record
    with the same id is an error row naming the first line.

    With ``trace``, each row carries its trace: in full, or with ``encoder``
    in the compact form of :mod:`lead_rules.engine.trace_codec` (``trace`` and
    the ``trace_values`` first written on this line).
    """
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        # the strict reader first (duplicate keys, NaN, depth: as every engine), then the
        # repeated-id check; the schema's one-step JSON validator would accept what these refuse
        record, err = parse_line(line, number)
        if record is None:
            assert err is not None
            yield err, None
            continue
        bene_id = record.get("bene_id")
        if isinstance(bene_id, str):
            first = seen.setdefault(bene_id, number)
            if first != number:
                yield error_row(bene_id, number, "bene_id", f"duplicate bene_id: first decided at line {first}"), None
                continue
        decision = policy.evaluate(record, market, trace=trace)
        row = {"line": number, **decision.summary_dict()}
        if trace and decision.trace is not None:
            if encoder is None:
                row["trace"] = decision.trace.to_dict()
            else:
                row["trace"], row["trace_values"] = encoder.encode(decision.trace)
        yield row, decision


def run_batch(
    policy: Policy,
    market: Market,
    src: IO[str],
    dst: IO[str],
    trace: bool = False,
    encoder: TraceEncoder | None = None,
) -> BatchCounts:
    """Stream ``src`` to ``dst``; return the counts (``encoder``: compact traces, see :func:`decide_lines`)."""
    counts = BatchCounts()
    for row, _ in decide_lines(policy, market, src, trace, encoder):
        dst.write(dumps(row) + "\n")
        counts.add(row["outcome"])
    return counts
