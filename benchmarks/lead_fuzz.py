"""Differential check of the LEAD baselines on awkward data: are they really the same rules?

The benchmark population rarely reaches some rules (shared TINs, ties between ACOs, Medicaid tie
rank, missing fields, reversed claims). This script makes them common: it takes ``--n`` generated
records (``lead_data.py``), mutates each one deterministically by seed (null month and claim fields,
duplicated months, voluntary designations on the same date, missing residence fields, negative
allowed charges, reversed and over-adjusted claims, lines without ``claim_id``, nursing-facility
visits in and out of a SNF, FQHC/RHC/CAH II lines without a specialty, a reversed most recent
visit, missing fields at unaffiliated TINs and at ACOs that do not serve the county, dates on the
alignment-year boundaries, death dates around the PY start, lines at shared TINs) and writes a
market that adds a TIN shared by two ACOs, a second SMA partnership in the same state (Medicaid
ties, decided by the tie rank) and a partnership not in force. Then it decides every record with the
interpreter (``Policy.evaluate``), the hand-written Python, zen-engine's JDM graph, the hand-written
DuckDB query and ``lead-rules align --engine duckdb``, and prints the records whose decisions
(outcome, aco_id, pathway) differ from the interpreter's. Exit status 1 when any differs.
``--plain`` checks the records and market of ``lead_data.py`` as they are (the benchmark's shape).

Usage: ``python benchmarks/lead_fuzz.py --n 3000 --seed 7`` (``--plain --n 5000 --seed 2028``)
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
POLICY = HERE.parent / "policies" / "lead"
Decision = tuple[str | None, str | None, str | None]


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


#: Mutation kinds and their weights (an index into the ``if`` chain of :func:`mutate`).
KINDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)


def mutate(rec: dict[str, Any], rng: random.Random, market: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``rec`` with a few awkward changes (still a valid records.md record)."""
    r = copy.deepcopy(rec)
    months, claims, vol = r.get("months") or [], r.get("claims") or [], r.get("voluntary") or []
    all_tins = [t for a in market["acos"] for t in a["participant_tins"]]
    own_tins = sorted({c["tin"] for c in claims if c.get("tin") is not None})
    for _ in range(rng.choice((0, 0, 1, 2, 3, 4))):
        what = rng.choice(KINDS)
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
            fields = ("hcpcs", "from_date", "tin", "allowed", "specialty", "claim_id", "pos", "provider_type")
            rng.choice(claims)[rng.choice(fields)] = None
        elif what == 4 and claims:
            c = dict(rng.choice(claims))
            c["allowed"] = -abs(c["allowed"] or 1.0)  # an adjustment (over-adjusts a one-line claim)
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
            c["tin"] = rng.choice(all_tins + own_tins)
            c["claim_id"] = f"{c.get('claim_id')}-T"
            claims.append(c)
        elif what == 12 and months:
            r["months"] = [m for m in months if m["month"] != rng.choice(months)["month"]]  # a month missing
            months = r["months"]
        elif what == 13 and months:
            for m in months:  # a full dual in Medicaid FFS throughout: the SMA partners compete
                m.update(dual="02", medicaid={"state": "NC", "delivery": "FFS", "plan_id": None}, integrated=None)
        elif what == 14 and claims:
            # a claim reversed: every line of one claim_id cancelled (net 0), sometimes over-adjusted (net < 0)
            cid = rng.choice(claims).get("claim_id")
            same = [c for c in claims if c.get("claim_id") == cid and cid is not None]
            factor = rng.choice((1.0, 1.0, 1.5, 0.5))
            claims.extend(
                dict(c, line=(c.get("line") or 0) + 50, allowed=-round(abs(c["allowed"] or 0) * factor, 2))
                for c in same
            )
        elif what == 15 and claims:
            # a nursing-facility visit, in a SNF (POS 31), a nursing facility (32) or with no POS
            c = rng.choice(claims)
            c["hcpcs"] = rng.choice(("99304", "99307", "99310", "99315"))
            c["pos"] = rng.choice(("31", "31", "32", None))
        elif what == 16 and claims:
            # an FQHC/RHC line: a G-code or a provider type, often without a specialty
            c = rng.choice(claims)
            if rng.random() < 0.5:
                c["hcpcs"] = rng.choice(("G0466", "G0467", "G0468", "G0511", "G2025"))
            c["provider_type"] = rng.choice(("FQHC", "RHC", "CAH2", None))
            c["pos"] = None
            if rng.random() < 0.6:
                c["specialty"] = None
        elif what == 17 and claims:
            c = rng.choice(claims)  # a line without claim_id (an adjustment without one, sometimes)
            c["claim_id"] = None
            if rng.random() < 0.4:
                claims.append(dict(c, allowed=-round(abs(c["allowed"] or 1.0) / 2, 2)))
        elif what == 18 and claims:
            # a field missing at an unaffiliated TIN or at an ACO that does not serve the county
            c = dict(rng.choice(claims))
            c["tin"] = rng.choice([*own_tins, "999999999", *all_tins])
            c[rng.choice(("allowed", "specialty", "from_date", "hcpcs"))] = None
            claims.append(c)
        elif what == 19 and claims:
            # the most recent service of a candidate reversed: ties are broken by standing services only
            c = dict(max(claims, key=lambda x: x.get("from_date") or ""))
            claims.append(dict(c, claim_id=f"{c.get('claim_id')}-R", allowed=abs(c["allowed"] or 1.0)))
            claims.append(dict(c, claim_id=f"{c.get('claim_id')}-R", line=99, allowed=-abs(c["allowed"] or 1.0)))
        elif what == 20 and claims:
            c = rng.choice(claims)  # a specialty change: primary-care, another, or none
            c["specialty"] = rng.choice(("08", "11", "50", "06", "26", "99", None))
        elif what == 21 and claims:
            c = rng.choice(claims)  # an adjustment of zero, or a zero-charge line
            claims.append(dict(c, line=77, allowed=0.0))
        elif what == 22 and r.get("residence"):
            acos = market["acos"]
            r["residence"]["county_fips"] = rng.choice(acos[rng.randrange(len(acos))]["service_area_counties"])
        elif what == 23 and claims:
            c = rng.choice(claims)  # the date moved to an alignment-year boundary, or out of the years
            c["from_date"] = rng.choice(
                ("2025-07-01", "2025-06-30", "2026-06-30", "2026-07-01", "2027-06-30", "2027-07-01")
            )
    r["voluntary"], r["claims"] = vol, claims
    return r


def align_duckdb(policy: Path, market: Path, source: Path, output: Path) -> dict[str, Decision]:
    """``lead-rules align --engine duckdb`` of ``source``: bene_id -> (outcome, aco_id, pathway)."""
    import duckdb

    cmd = [str(Path(sys.executable).parent / "lead-rules"), "align", "--engine", "duckdb", "--policy", str(policy)]
    cmd += ["--market", str(market), "--input", str(source), "--output", str(output), "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    rows = duckdb.connect().sql(f"SELECT bene_id, outcome, aco_id, pathway FROM read_parquet('{output}')").fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def main() -> int:
    """Run the differential check."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=Path("/tmp/lead-rules-bench-lead"))
    ap.add_argument(
        "--plain", action="store_true", help="the records and market of lead_data.py as they are (no mutation)"
    )
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
    market = yaml.safe_load(paths["market"].read_text(encoding="utf-8"))
    out = args.data / f"{'plain' if args.plain else 'fuzz'}-n{args.n}-seed{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    if args.plain:
        with paths["jsonl"].open(encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh]
        shutil.copyfile(paths["market"], out / "market.yaml")
        shutil.copyfile(paths["jsonl"], out / "population.jsonl")
    else:
        market = awkward_market(market)
        rng = random.Random(f"fuzz:{args.seed}")
        with paths["jsonl"].open(encoding="utf-8") as fh:
            records = [mutate(json.loads(line), rng, market) for line in fh]
        (out / "market.yaml").write_text(yaml.safe_dump(market, sort_keys=False), encoding="utf-8")
        with (out / "population.jsonl").open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    # the awkward market shares a TIN, which the LEAD policy refuses by default (shared_tin_rule "error"):
    # every engine runs a copy of the policy under the MSSP drop rule
    policy_dir = out / "lead-drop"
    shutil.rmtree(policy_dir, ignore_errors=True)
    shutil.copytree(POLICY, policy_dir, ignore=shutil.ignore_patterns("tests", "markets"))
    params = policy_dir / "parameters.yaml"
    text = params.read_text(encoding="utf-8")
    rule = '  shared_tin_rule:\n    type: string\n    value: "error"'
    assert rule in text, "parameters.yaml: shared_tin_rule moved"
    params.write_text(text.replace(rule, rule.replace('"error"', '"drop"')), encoding="utf-8")
    policy = lead_rules.load_policy(policy_dir)
    mk = lead_rules.load_market(out / "market.yaml", policy)
    engine: dict[str, Decision] = {}
    for rec in records:
        d = policy.evaluate(rec, mk, trace=False)
        engine[rec["bene_id"]] = (d.outcome, d.aco_id, d.pathway)
    decide = make_decider(policy_dir, market)
    zd = load(market)
    con = duckdb.connect()
    con.sql(query(policy_dir, market, out / "population.jsonl", out / "sql.parquet"))
    sql = {row[0]: tuple(row[1:]) for row in con.sql(f"SELECT * FROM read_parquet('{out / 'sql.parquet'}')").fetchall()}
    aligned = align_duckdb(policy_dir, out / "market.yaml", out / "population.jsonl", out / "align.parquet")
    differ: Counter[str] = Counter()
    for rec in records:
        z = zd.evaluate({"bene": rec})["result"]
        got = {
            "python": decide(rec),
            "zen": (z.get("outcome"), z.get("aco_id"), z.get("pathway")),
            "sql": sql[rec["bene_id"]],
            "align-duckdb": aligned.get(rec["bene_id"]),
        }
        for name, dec in got.items():
            if dec != engine[rec["bene_id"]]:
                differ[name] += 1
                if sum(differ.values()) <= 20:
                    print(f"{rec['bene_id']}: interpreter {engine[rec['bene_id']]}, {name} {dec}")
    counts = Counter(v[2] for v in engine.values())
    errors = sum(1 for v in engine.values() if v[0] == "error")
    kind = "plain" if args.plain else "mutated"
    print(
        f"{len(records)} {kind} records ({dict(counts)}, {errors} errors): "
        f"{sum(differ.values())} differing decisions {dict(differ)}"
    )
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
