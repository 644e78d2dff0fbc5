"""Deterministic synthetic populations for the LEAD alignment tool.

This module makes synthetic inputs -- a market file and a beneficiary
population in the fixed format of ``shared/spec/records.md`` -- for demos,
tests and benchmarks; it is not used when real extracts are aligned. Output
depends only on ``(seed, performance_year)`` and, for records, on the record
index (record ``i`` is the same whatever ``n`` is), with realistic shares of
dual eligibility, Medicare Advantage and integrated-care months, deaths,
moves, voluntary designations and claim lines (places of service, FQHC /
RHC / CAH II lines, nursing-facility visits in and out of a SNF, and
cancelled, re-billed or adjusted claims), plus a small share of deliberately
awkward cases (ties in allowed charges, null month fields, no claims, unknown
county).

The work is split: :mod:`.tables` (reference data, identifier helpers),
:mod:`.population` (the records), :mod:`.claim_lines` (the details of their
claim lines); this module holds the market, the Parquet
schema and the writers.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from .population import generate_records, make_context, make_record
from .tables import (
    ACO_NAMES,
    COUNTIES,
    PARTNER_PATTERN,
    new_plan_id,
    new_tin,
)

__all__ = [
    "PARQUET_SCHEMA",
    "generate_market",
    "generate_records",
    "write_population",
]

# benchmarks/bench.py builds its shards record by record through these names (and _to_batch below);
# kept until it uses make_context / make_record
_context = make_context
_make_record = make_record

# ---------------------------------------------------------------------------
# Parquet schema
# ---------------------------------------------------------------------------


def _schema(date_type: Any, money_type: Any) -> Any:
    medicaid = pa.struct([("state", pa.string()), ("delivery", pa.string()), ("plan_id", pa.string())])
    integrated = pa.struct([("type", pa.string()), ("plan_id", pa.string())])
    month = pa.struct(
        [
            ("month", pa.string()),
            ("buyin", pa.string()),
            ("hmo", pa.string()),
            ("dual", pa.string()),
            ("msp", pa.bool_()),
            ("medicaid", medicaid),
            ("integrated", integrated),
        ]
    )
    voluntary = pa.struct([("date", date_type), ("tin", pa.string()), ("npi", pa.string()), ("channel", pa.string())])
    claim = pa.struct(
        [
            ("claim_id", pa.string()),
            ("line", pa.int32()),
            ("from_date", date_type),
            ("tin", pa.string()),
            ("npi", pa.string()),
            ("hcpcs", pa.string()),
            ("specialty", pa.string()),
            ("allowed", money_type),
            ("pos", pa.string()),
            ("provider_type", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("bene_id", pa.string()),
            ("birth_date", date_type),
            ("death_date", date_type),
            ("residence", pa.struct([("state", pa.string()), ("county_fips", pa.string()), ("us", pa.bool_())])),
            ("months", pa.list_(month)),
            ("voluntary", pa.list_(voluntary)),
            ("claims", pa.list_(claim)),
        ]
    )


#: Parquet schema of a population (records.md): dates ``date32``, months
#: ``"YYYY-MM"`` strings, ``allowed`` ``decimal128(12, 2)``, nested lists of structs.
PARQUET_SCHEMA: Any = _schema(pa.date32(), pa.decimal128(12, 2))
# The JSON-ready records convert to this type first (ISO strings, floats), then cast.
_JSON_STRUCT: Any = pa.struct(list(_schema(pa.string(), pa.float64())))
_PARQUET_STRUCT: Any = pa.struct(list(PARQUET_SCHEMA))

# ---------------------------------------------------------------------------
# Market
# ---------------------------------------------------------------------------


def generate_market(seed: int, performance_year: int = 2028) -> dict[str, object]:
    """Return a synthetic market (records.md market format) for ``seed``.

    Six ACOs, three in NC and three in NY, each with 3-8 participant TINs
    (unique 9-digit strings) and a service area of real county FIPS codes of
    its state; the second ACO of each state shares counties with the first.
    In each state one ACO partners an MCO (``plan_ids`` like
    ``"NC-MCO-0042"``), one the state Medicaid agency (``SMA``) and one has no
    partner; the NY MCO partnership takes effect on 1 July of the performance
    year. Dates are ISO strings. The result is deterministic for
    ``(seed, performance_year)`` and can be dumped with ``yaml.safe_dump``.
    """
    rng = random.Random(f"market:{seed}:{performance_year}")
    taken_tins: set[str] = set()
    acos: list[dict[str, object]] = []
    first_id = rng.randrange(1, 9000)
    for state in ("NC", "NY"):
        names = rng.sample(ACO_NAMES[state], 3)
        pattern = list(PARTNER_PATTERN[state])
        rng.shuffle(pattern)
        previous: list[str] = []
        for k, (kind, mid_year) in enumerate(pattern):
            counties = set(rng.sample(COUNTIES[state], rng.randint(3, 6)))
            if k == 1 or (previous and rng.random() < 0.5):
                counties.update(rng.sample(previous, min(len(previous), rng.randint(1, 2))))
            partners: list[dict[str, object]] = []
            if kind == "MCO":
                plans = sorted({new_plan_id(state, rng) for _ in range(rng.randint(1, 2))})
                partner: dict[str, object] = {"state": state, "kind": "MCO", "plan_ids": plans}
                if mid_year:
                    partner["effective"] = {"from": dt.date(performance_year, 7, 1).isoformat()}
                partners.append(partner)
            elif kind == "SMA":
                partners.append({"state": state, "kind": "SMA"})
            acos.append(
                {
                    "id": f"LEAD-{first_id + len(acos):04d}",
                    "name": names[k],
                    "participant_tins": [new_tin(rng, taken_tins) for _ in range(rng.randint(3, 8))],
                    "service_area_counties": sorted(counties),
                    "medicaid_partners": partners,
                }
            )
            previous = sorted(counties)
    return {"performance_year": performance_year, "acos": acos}


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

_FORMATS = ("jsonl", "parquet")
_CONVERT_BATCH = 5_000  # records converted to Arrow at a time
_ROW_GROUP = 50_000  # records per Parquet row group


def _to_batch(records: list[dict[str, object]]) -> Any:
    array = pa.array(records, type=_JSON_STRUCT).cast(_PARQUET_STRUCT)
    return pa.RecordBatch.from_struct_array(array)


_MONTH_FIELDS = ("month", "buyin", "hmo", "dual", "msp", "medicaid", "integrated")
_month_values = itemgetter(*_MONTH_FIELDS)


class _JsonLines:
    """Encodes the records of :func:`generate_records` as compact JSON lines.

    Month objects repeat a lot, so the text of those without an integrated
    plan is memoised; the output is exactly the ``json`` module's.
    """

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self._months: dict[tuple[object, ...], str] = {}

    def _month(self, month: dict[str, Any]) -> str:
        values = _month_values(month)
        medicaid = values[5]
        if values[6] is not None or len(month) != len(_MONTH_FIELDS) or tuple(month) != _MONTH_FIELDS:
            return self._encode(month)
        key = values[:5] if medicaid is None else values[:5] + tuple(medicaid.items())
        text = self._months.get(key)
        if text is None:
            if len(self._months) >= 200_000:
                self._months.clear()
            text = self._months[key] = self._encode(month)
        return text

    def line(self, record: dict[str, Any]) -> str:
        encode = self._encode
        parts = []
        for key, value in record.items():
            text = "[" + ",".join(map(self._month, value)) + "]" if key == "months" else encode(value)
            parts.append(encode(key) + ":" + text)
        return "{" + ",".join(parts) + "}\n"


def write_population(
    out_dir: Path,
    n: int,
    seed: int,
    performance_year: int = 2028,
    formats: Sequence[str] = _FORMATS,
) -> dict[str, Path]:
    """Write a synthetic market and population of ``n`` records to ``out_dir``.

    Writes ``market.yaml`` (from :func:`generate_market`) and, as ``formats``
    asks, ``population.jsonl`` (one record a line, the records of
    :func:`generate_records`) and ``population.parquet`` (nested columns,
    schema :data:`PARQUET_SCHEMA`, row groups of 50,000 records). Records are
    streamed: JSON Lines are written record by record and Parquet is converted
    5,000 records at a time, so memory does not grow with ``n``. Returns the
    written paths by name: ``"market"``, ``"jsonl"``, ``"parquet"``.
    """
    unknown = sorted(set(formats) - set(_FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}; expected some of {list(_FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    market = generate_market(seed, performance_year)
    paths = {"market": out_dir / "market.yaml"}
    with paths["market"].open("w", encoding="utf-8") as fh:
        yaml.safe_dump(market, fh, sort_keys=False, allow_unicode=True)

    if "jsonl" in formats:
        paths["jsonl"] = out_dir / "population.jsonl"
    if "parquet" in formats:
        paths["parquet"] = out_dir / "population.parquet"
    jsonl = paths["jsonl"].open("w", encoding="utf-8") if "jsonl" in paths else None
    writer = pq.ParquetWriter(paths["parquet"], PARQUET_SCHEMA) if "parquet" in paths else None
    encoder = _JsonLines()
    pending: list[dict[str, object]] = []  # records not yet converted to Arrow
    converted: list[Any] = []  # Arrow record batches of the current row group
    converted_rows = 0

    def flush_row_group() -> None:
        nonlocal converted_rows
        if writer is not None and converted:
            writer.write_table(pa.Table.from_batches(converted, schema=PARQUET_SCHEMA), row_group_size=_ROW_GROUP)
        converted.clear()
        converted_rows = 0

    # The records hold no reference cycles, so the cyclic garbage collector
    # only costs time here (it rescans every pending record); pause it.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for record in generate_records(n, seed, market, performance_year):
            if jsonl is not None:
                jsonl.write(encoder.line(record))
            if writer is not None:
                pending.append(record)
                if len(pending) >= _CONVERT_BATCH:
                    converted.append(_to_batch(pending))
                    converted_rows += len(pending)
                    pending.clear()
                    if converted_rows >= _ROW_GROUP:
                        flush_row_group()
        if writer is not None:
            if pending:
                converted.append(_to_batch(pending))
                pending.clear()
            flush_row_group()
    finally:
        if gc_was_enabled:
            gc.enable()
        if jsonl is not None:
            jsonl.close()
        if writer is not None:
            writer.close()
    return paths
