"""Differential checking: the same records through the interpreter and a SQL engine.

:func:`compare` writes records to a JSON Lines file, decides them with a SQL
engine (DuckDB, or Spark in local mode) and with the reference interpreter,
and returns every difference in decision (outcome, ACO, pathway, reasons,
error-ness) and in criterion, rank and (optionally) definition values, in a
normalised form (:func:`~lead_rules.sql.reference.normalise_row`). The tests,
the case corpus and the Hypothesis differential test are built on it.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..engine.policy import Policy, load_market
from ..language.records import Market
from ..language.values import Month
from .reference import Reference, normalise_row


def write_jsonl(records: Iterable[Mapping[str, Any]], path: Path) -> Path:
    """Write ``records`` (JSON-ready dicts) one per line."""
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, separators=(",", ":"), default=_json_default))
            fh.write("\n")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, Month)):
        return str(value)
    if isinstance(value, Decimal):
        return float(value) if value == value.normalize() and abs(value) < 10**15 else str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def engine_rows(
    policy: Policy, market: Market, path: Path, engine: str, definitions: bool = False
) -> list[dict[str, Any]]:
    """The output rows of ``engine`` (``duckdb`` or ``spark``) for the population at ``path``."""
    if engine == "duckdb":
        from .run import decide

        return decide(policy, market, path, definitions=definitions)
    if engine == "spark":
        from .spark import decide_spark

        return decide_spark(policy, market, path, definitions=definitions)
    raise ValueError(f"unknown engine {engine!r}")


def compare(
    policy: Policy,
    market: Market | Mapping[str, Any] | str | Path,
    records: list[Mapping[str, Any]],
    engine: str = "duckdb",
    definitions: bool = False,
    workdir: Path | None = None,
) -> list[str]:
    """The differences between ``engine`` and the interpreter on ``records`` (empty when they agree)."""
    mk = load_market(market) if not isinstance(market, Market) else market
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = write_jsonl(records, Path(tmp) / "population.jsonl")
        got = engine_rows(policy, mk, path, engine, definitions)
    ref = Reference(policy, mk)
    expected = [ref.row(r, definitions=definitions) for r in records]
    diffs: list[str] = []
    if len(got) != len(expected):
        return [f"{engine} returned {len(got)} rows for {len(expected)} records"]
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        columns = sorted(set(a) | set(b))
        if b["outcome"] == "error" or a["outcome"] == "error":
            columns = ["bene_id", "outcome"]
        na, nb = normalise_row(a, columns), normalise_row(b, columns)
        for c in columns:
            if na[c] != nb[c]:
                diffs.append(f"record {i} ({b.get('bene_id')}): {c}: {engine} {na[c]!r} != interpreter {nb[c]!r}")
    return diffs
