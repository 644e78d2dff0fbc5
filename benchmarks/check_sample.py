"""Align a generated population with DuckDB and compare a random sample with the interpreter.

Usage: ``python benchmarks/check_sample.py POPULATION_DIR [--sample 20000] [--policy policies/lead]``
where POPULATION_DIR holds ``market.yaml`` and ``population.parquet`` (``lead-rules generate``).
Prints the align summary and how many sampled decisions differ (expected: 0).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import pyarrow.parquet as pq

from lead_rules import load_market, load_policy
from lead_rules.sql.run import align


def main() -> int:
    """Run the check; exit 1 when a sampled decision differs."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("population", type=Path)
    ap.add_argument("--sample", type=int, default=20_000)
    ap.add_argument("--policy", default="policies/lead")
    ap.add_argument("--output", type=Path, default=Path("/tmp/lead-rules-check-sample.parquet"))
    args = ap.parse_args()
    started = time.monotonic()
    market_path = args.population / "market.yaml"
    source = args.population / "population.parquet"
    summary = align(args.policy, market_path, source, args.output, progress=False)
    print("align:", {k: summary[k] for k in ("read", "decided", "errors", "aligned", "not_aligned", "seconds")})
    decided = pq.read_table(args.output, columns=["bene_id", "outcome", "aco_id", "pathway"]).to_pylist()
    by_id = {r["bene_id"]: (r["outcome"], r["aco_id"], r["pathway"]) for r in decided}
    policy, market = load_policy(args.policy), load_market(market_path)
    parquet = pq.ParquetFile(source)
    groups = list(range(parquet.num_row_groups))
    random.Random(20).shuffle(groups)
    checked = differ = 0
    per_group = max(1, args.sample // max(1, min(4, len(groups))))
    for g in groups:
        if checked >= args.sample:
            break
        for record in parquet.read_row_group(g).to_pylist()[:per_group]:
            d = policy.evaluate(record, market, trace=False)
            checked += 1
            differ += (d.outcome, d.aco_id, d.pathway) != by_id[record["bene_id"]]
    seconds = time.monotonic() - started
    print(f"sample: {checked} records compared with the interpreter, {differ} differ; {seconds:.0f} s")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
