"""Record validation speed: the interpreter's bottleneck, measured per way of validating.

Usage::

    python benchmarks/validation.py --n 20000

Generates ``n`` synthetic records (:mod:`lead_rules.generate`), encodes them as
JSON lines, and times, best of ``--repeat`` runs, each way the interpreter can
turn a line into a validated record:

* ``records-dict``: ``json.loads`` (decimals exact) then the hand-written
  ``records.Beneficiary`` model (the path before schemas were data);
* ``schema-dict``: ``json.loads`` then the model built from
  ``policies/schemas/beneficiary.yaml``;
* ``schema-json``: the schema model's ``model_validate_json`` on the line
  (JSON parsed in pydantic-core; the path ``lead-rules evaluate`` takes).
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal

from lead_rules.language import records
from lead_rules.language.schema import bundled
from lead_rules.synth.generate import generate_market, generate_records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    market = generate_market(2028)
    lines = [json.dumps(r) for r in generate_records(args.n, 2028, market, 2028)]
    model = bundled("beneficiary").model

    def records_dict() -> None:
        for line in lines:
            records.Beneficiary.model_validate(json.loads(line, parse_float=Decimal))

    def schema_dict() -> None:
        for line in lines:
            model.model_validate(json.loads(line, parse_float=Decimal))

    def schema_json() -> None:
        for line in lines:
            model.model_validate_json(line)

    for name, fn in (("records-dict", records_dict), ("schema-dict", schema_dict), ("schema-json", schema_json)):
        best = min(_time(fn) for _ in range(args.repeat))
        print(f"{name:14s} {args.n / best:10,.0f} records/s  ({best:.2f} s for {args.n:,})")


def _time(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
