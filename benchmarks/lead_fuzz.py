"""Differential check of the LEAD baselines on awkward data: are they really the same rules?

The benchmark population rarely reaches some rules (shared TINs, ties between ACOs, Medicaid tie
rank, missing fields). This script makes them common: it takes ``--n`` generated records
(``lead_data.py``), mutates each one deterministically by seed (null month and claim fields,
duplicated months, voluntary designations on the same date, missing residence fields, negative
allowed charges, death dates around the PY start, lines at shared TINs) and writes a market that
adds a TIN shared by two ACOs, a second SMA partnership in the same state (Medicaid ties, decided by
the tie rank) and a partnership not in force. Then it decides every record with the interpreter
(``Policy.evaluate``), the hand-written Python, zen-engine's JDM graph and the hand-written DuckDB
query, and prints the records whose decisions (outcome, aco_id, pathway) differ from the
interpreter's. Exit status 1 when any differs.

Usage: ``python benchmarks/lead_fuzz.py --n 3000 --seed 7``
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
POLICY = HERE.parent / "policies" / "lead"


def awkward_market(market: dict[str, Any]) -> dict[str, Any]:
    """The market with a shared TIN, a second SMA partner in a state, and a partnership not in force."""
    m = copy.deepcopy(market)
    acos = m["acos"]
    if len(acos) >= 3:
        acos[1]["participant_tins"] = [*list(acos[1]["participant_tins"]), acos[0]["participant_tins"][0]]
        first_sma = next((a for a in acos if any(p["kind"] == "SMA" for p in a.get("medicaid_partners") or ())), None)
        if first_sma is not None:
            state = next(p["state"] for p in first_sma["medicaid_partners"] if p["kind"] == "SMA")
            other = next(a for a in acos if a is not first_sma and a.get("medicaid_partners") is not None)
            other["medicaid_partners"] = [*list(other.get("medicaid_partners") or ()), {"state": state, "kind": "SMA"}]
            other["service_area_counties"] = sorted(
                set(other["service_area_counties"]) | set(first_sma["service_area_counties"])
            )
        acos[2]["medicaid_partners"] = [
            *list(acos[2].get("medicaid_partners") or ()),
            {"state": "NC", "kind": "SMA", "effective": {"from": "2028-02-01"}},
        ]
    return m


def mutate(rec: dict[str, Any], rng: random.Random, market: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``rec`` with a few awkward changes (still a valid records.md record)."""
    r = copy.deepcopy(rec)
    months, claims, vol = r.get("months") or [], r.get("claims") or [], r.get("voluntary") or []
    all_tins = [t for a in market["acos"] for t in a["participant_tins"]]
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        what = rng.randrange(14)
        if what == 0 and months:
            rng.choice(months)[rng.choice(("buyin", "hmo", "dual", "msp", "medicaid", "integrated"))] = None
        elif what == 1 and months:
            m = rng.choice(months)
            if m.get("medicaid"):
                m["medicaid"][rng.choice(("state", "delivery", "plan_id"))] = None
            else:
                m["integrated"] = {"type": rng.choice((None, "D-SNP", "OTHER")), "plan_id": None}
        elif what == 2 and months:
            months.append(dict(rng.choice(months)))  # a duplicated month
        elif what == 3 and claims:
            rng.choice(claims)[rng.choice(("hcpcs", "from_date", "tin", "allowed", "specialty"))] = None
        elif what == 4 and claims:
            c = dict(rng.choice(claims))
            c["allowed"] = -abs(c["allowed"] or 1.0)
            claims.append(c)
        elif what == 5 and claims:
            c = dict(rng.choice(claims))
            c["tin"] = market["acos"][0]["participant_tins"][0]  # the shared TIN
            claims.append(c)
        elif what == 6:
            d = rng.choice(("2027-05-05", "2027-09-30", "2027-10-01"))
            vol.extend({"date": d, "tin": rng.choice(all_tins), "npi": None, "channel": "paper"} for _ in range(2))
        elif what == 7 and vol:
            rng.choice(vol)[rng.choice(("date", "tin", "channel"))] = None
        elif what == 8:
            r["residence"] = None if rng.random() < 0.3 else dict(r.get("residence") or {}, us=None)
        elif what == 9 and r.get("residence"):
            r["residence"]["county_fips"] = None
        elif what == 10:
            r["death_date"] = rng.choice(("2027-12-31", "2028-01-01", "2028-06-01"))
        elif what == 11 and claims:
            # a tie: a copy of a primary-care line at another candidate, same date and amount
            c = dict(rng.choice(claims))
            c["tin"] = rng.choice(all_tins)
            claims.append(c)
        elif what == 12 and months:
            r["months"] = [m for m in months if m["month"] != rng.choice(months)["month"]]  # a month missing
            months = r["months"]
        elif what == 13 and months:
            for m in months:  # a full dual in Medicaid FFS throughout: the SMA partners compete
                m.update(dual="02", medicaid={"state": "NC", "delivery": "FFS", "plan_id": None}, integrated=None)
    r["voluntary"], r["claims"] = vol, claims
    return r


def main() -> int:
    """Run the differential check."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=Path("/tmp/lead-rules-bench-lead"))
    args = ap.parse_args()
    import duckdb
    import yaml
    from lead_data import make
    from lead_python import make_decider
    from lead_sql import query
    from lead_zen import load

    import lead_rules

    paths = make(
        args.data / f"n{args.n}-seed{args.seed}",
        args.n,
        args.seed,
        POLICY,
        str(Path(sys.executable).parent / "lead-rules"),
    )
    market = awkward_market(yaml.safe_load(paths["market"].read_text(encoding="utf-8")))
    rng = random.Random(f"fuzz:{args.seed}")
    with paths["jsonl"].open(encoding="utf-8") as fh:
        records = [mutate(json.loads(line), rng, market) for line in fh]
    out = args.data / f"fuzz-n{args.n}-seed{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "market.yaml").write_text(yaml.safe_dump(market, sort_keys=False), encoding="utf-8")
    with (out / "population.jsonl").open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    policy = lead_rules.load_policy(POLICY)
    mk = lead_rules.load_market(out / "market.yaml")
    engine = {}
    for rec in records:
        d = policy.evaluate(rec, mk, trace=False)
        engine[rec["bene_id"]] = (d.outcome, d.aco_id, d.pathway)
    decide = make_decider(POLICY, market)
    zd = load(market)
    con = duckdb.connect()
    con.sql(query(POLICY, market, out / "population.jsonl", out / "sql.parquet"))
    sql = {row[0]: tuple(row[1:]) for row in con.sql(f"SELECT * FROM read_parquet('{out / 'sql.parquet'}')").fetchall()}
    differ = 0
    for rec in records:
        z = zd.evaluate({"bene": rec})["result"]
        got = {
            "python": decide(rec),
            "zen": (z.get("outcome"), z.get("aco_id"), z.get("pathway")),
            "sql": sql[rec["bene_id"]],
        }
        for name, dec in got.items():
            if dec != engine[rec["bene_id"]]:
                differ += 1
                if differ <= 20:
                    print(f"{rec['bene_id']}: interpreter {engine[rec['bene_id']]}, {name} {dec}")
    counts = Counter(v[2] for v in engine.values())
    errors = sum(1 for v in engine.values() if v[0] == "error")
    print(f"{len(records)} mutated records ({dict(counts)}, {errors} errors): {differ} differing decisions")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
