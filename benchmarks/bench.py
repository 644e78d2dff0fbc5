"""Benchmark: the interpreter and DuckDB against hand-written baselines, in one run.

Usage::

    python benchmarks/bench.py --sizes 10000,100000,1000000 --duckdb-10m --out docs/benchmarks.md

Generates synthetic populations with :mod:`lead_rules.generate` (36 monthly
rows and ~15 claim lines per beneficiary; shards in parallel; the 10M
population is the 1M one ten times over with distinct ids), then measures,
each in a fresh subprocess (peak memory = that process's max RSS):

* ``duckdb`` -- ``lead_rules.sql.run.align`` (validation, decision, reasons,
  criterion columns, Parquet output), policy load and compile included;
* ``duckdb-decisions`` -- the same with ``columns="decisions"``: validation and
  error rows, but only the columns the SQL baseline writes;
* ``interpreter`` -- ``Policy.evaluate`` on every record (records read with
  pyarrow, validated by the record model), with and without the trace;
* ``sql-baseline`` -- a hand-written DuckDB query computing the same decisions
  (outcome, ACO, pathway) of ``policies/example``;
* ``python-baseline`` -- a hand-written plain-Python function computing them.

The baselines implement the example policy, so the ratios use it; the LEAD
policy is measured too (engines only). Every baseline's decisions are checked
against DuckDB's before its time is reported. The DuckDB engines and SQL
baselines run ``--repeat`` times (interleaved, so that a slow moment of the
machine hits them alike) and report their fastest run; the others run once.
Results are printed as a Markdown table (and written to ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EXAMPLE = REPO / "policies" / "example"
LEAD = REPO / "policies" / "lead"
SEED = 2028


# --- data --------------------------------------------------------------------------------


def _shard(args: tuple[int, int, str, dict[str, Any]]) -> str:
    import pyarrow.parquet as pq

    from lead_rules.synth import generate as g

    start, stop, path, market = args
    ctx = g._context(SEED, market, 2028)
    writer = pq.ParquetWriter(path, g.PARQUET_SCHEMA)
    batch: list[dict[str, object]] = []
    for i in range(start, stop):
        batch.append(g._make_record(ctx, SEED, i))
        if len(batch) >= 20_000:
            writer.write_batch(g._to_batch(batch))
            batch.clear()
    if batch:
        writer.write_batch(g._to_batch(batch))
    writer.close()
    return path


def make_population(folder: Path, n: int, workers: int) -> Path:
    """``folder/population.parquet`` and ``market.yaml`` with ``n`` records (reused when present)."""
    import duckdb
    import yaml

    from lead_rules.synth.generate import generate_market

    target = folder / "population.parquet"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    market = generate_market(SEED, 2028)
    (folder / "market.yaml").write_text(yaml.safe_dump(market, sort_keys=False), encoding="utf-8")
    step = max(1, -(-n // (workers * 4)))
    starts = list(range(0, n, step))
    jobs = [(s, min(n, s + step), str(folder / f"_shard{k:04d}.parquet"), market) for k, s in enumerate(starts)]
    with Pool(workers) as pool:
        shards = pool.map(_shard, jobs)
    files = ", ".join(f"'{s}'" for s in shards)
    duckdb.connect().sql(f"COPY (SELECT * FROM read_parquet([{files}])) TO '{target}' (FORMAT parquet)")
    for s in shards:
        Path(s).unlink()
    return target


def replicate(source: Path, folder: Path, times: int) -> Path:
    """A population ``times`` as large: copies of ``source`` with distinct bene_ids."""
    import duckdb

    target = folder / "population.parquet"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "market.yaml").write_text((source.parent / "market.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    duckdb.connect().sql(
        f"COPY (SELECT bene_id || '-' || r.range AS bene_id, * EXCLUDE (bene_id) FROM read_parquet('{source}'), "
        f"range({times}) AS r) TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 100000)"
    )
    return target


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a Parquet population as dicts (pyarrow)."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=20_000):
        yield from batch.to_pylist()


# --- the hand-written baselines (policies/example) ---------------------------------------

PC_HCPCS = ("99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215", "G0438", "G0439")


def python_decide(rec: dict[str, Any], acos: list[dict[str, Any]]) -> tuple[str, str | None, str | None]:
    """The example policy by hand: voluntary, then claims plurality."""
    death = rec.get("death_date")
    alive = death is None or death >= dt.date(2028, 1, 1)
    window = [m for m in rec.get("months") or () if m["month"].startswith("2027-")]
    ab: bool | None = len(window) > 0
    if ab:
        buyins = [m.get("buyin") for m in window]
        ab = False if any(b is not None and b not in ("3", "C") for b in buyins) else (None if None in buyins else True)
    hmos = [m.get("hmo") for m in window]
    ffs = False if any(h is not None and h not in ("0", "4") for h in hmos) else (None if None in hmos else True)
    if not (alive and ab is True and ffs is True):
        return "not_aligned", None, None
    # voluntary: the tin of the latest dated designation (a tie between values -> none)
    best_date, tins = None, set()
    for v in rec.get("voluntary") or ():
        d = v.get("date")
        if d is None:
            continue
        if best_date is None or d > best_date:
            best_date, tins = d, {v.get("tin")}
        elif d == best_date:
            tins.add(v.get("tin"))
    latest = next(iter(tins)) if len(tins) == 1 else None
    if latest is not None:
        found = [a["id"] for a in acos if latest in a["tins"]]
        if len(found) == 1:
            return "aligned", found[0], "voluntary"
    # claims: plurality TIN of primary-care allowed charges of 2027
    totals: dict[str, Any] = {}
    for c in rec.get("claims") or ():
        tin, date = c.get("tin"), c.get("from_date")
        if tin is None or date is None or date.year != 2027 or c.get("hcpcs") not in PC_HCPCS:
            continue
        a = c.get("allowed")
        cur = totals.get(tin)
        totals[tin] = cur if a is None else (a if cur is None else cur + a)
    known = [(t, v) for t, v in totals.items() if v is not None]
    if not known:
        return "not_aligned", None, None
    top = max(v for _, v in known)
    winners = [t for t, v in known if v == top]
    if len(winners) != 1:
        return "not_aligned", None, None
    county = (rec.get("residence") or {}).get("county_fips")
    found = [a["id"] for a in acos if winners[0] in a["tins"] and county in a["counties"]]
    if len(found) == 1:
        return "aligned", found[0], "claims"
    return "not_aligned", None, None


def sql_baseline(population: Path, market: dict[str, Any], output: Path, validated: bool = False) -> str:
    """The example policy as one hand-written DuckDB query.

    ``validated``: read the engine's validated input view (``population``, with
    ``_error``) and write error rows, as a hand-written pipeline that rejects
    bad records would; otherwise read the Parquet file as it is.
    """
    acos = ", ".join(
        "{" + f"'id': '{a['id']}', 'tins': {list(a.get('participant_tins') or [])}, "
        f"'counties': {list(a.get('service_area_counties') or [])}" + "}"
        for a in market["acos"]
    )
    pc = ", ".join(f"'{c}'" for c in PC_HCPCS)
    source = "population" if validated else f"read_parquet('{population}')"
    err = "_error" if validated else "NULL::VARCHAR AS _error"
    return f"""
COPY (
WITH b AS (
  SELECT bene_id, {err},
    (death_date IS NULL OR death_date >= DATE '2028-01-01') AS alive,
    list_filter(months, lambda m: m.month LIKE '2027-%') AS w,
    residence.county_fips AS county,
    list_filter(voluntary, lambda v: v.date IS NOT NULL) AS vol,
    list_filter(claims, lambda c: c.hcpcs IN ({pc}) AND year(c.from_date) = 2027 AND c.tin IS NOT NULL) AS pc
  FROM {source}
), e AS (
  SELECT bene_id, _error, county,
    alive AND (len(w) > 0 AND NOT list_bool_or(list_transform(w, lambda m: m.buyin NOT IN ('3', 'C')))
               AND NOT list_bool_or(list_transform(w, lambda m: m.buyin IS NULL)))
          AND NOT coalesce(list_bool_or(list_transform(w, lambda m: m.hmo IS NULL OR m.hmo NOT IN ('0', '4'))), false)
      AS eligible,
    list_filter(vol, lambda v: v.date = list_max(list_transform(vol, lambda x: x.date))) AS latest,
    list_transform(list_distinct(list_transform(pc, lambda c: c.tin)),
      lambda t: {{'tin': t,
                  'total': list_sum(list_transform(list_filter(pc, lambda c: c.tin = t), lambda c: c.allowed))}})
      AS totals
  FROM b
), r AS (
  SELECT bene_id, _error, county, eligible,
    CASE WHEN len(list_distinct(list_transform(latest, lambda v: coalesce(v.tin, chr(0))))) = 1
         THEN latest[1].tin END AS vtin,
    list_filter(totals, lambda g: g.total = list_max(list_transform(totals, lambda x: x.total))) AS top
  FROM e
), a AS (
  SELECT bene_id, _error, eligible,
    list_filter([{acos}], lambda a: list_contains(a.tins, vtin)) AS vol_acos,
    CASE WHEN len(top) = 1 THEN list_filter([{acos}], lambda a: list_contains(a.tins, top[1].tin)
                                                          AND list_contains(a.counties, county)) END AS claim_acos
  FROM r
)
SELECT bene_id,
  CASE WHEN _error IS NOT NULL THEN 'error'
       WHEN eligible IS TRUE AND (len(vol_acos) = 1 OR len(claim_acos) = 1) THEN 'aligned' ELSE 'not_aligned' END
    AS outcome,
  CASE WHEN eligible IS NOT TRUE THEN NULL WHEN len(vol_acos) = 1 THEN vol_acos[1].id
       WHEN len(claim_acos) = 1 THEN claim_acos[1].id END AS aco_id,
  CASE WHEN eligible IS NOT TRUE THEN NULL WHEN len(vol_acos) = 1 THEN 'voluntary'
       WHEN len(claim_acos) = 1 THEN 'claims' END AS pathway
FROM a
) TO '{output}' (FORMAT parquet)
"""


# --- one measurement (in its own process) -------------------------------------------------


def measure(engine: str, policy: str, population: Path, output: Path) -> dict[str, Any]:
    """Run one engine over ``population``; return seconds and the number of records."""
    import yaml

    started = time.monotonic()
    market_path = population.parent / "market.yaml"
    policy_path = {"example": EXAMPLE, "lead": LEAD}[policy]
    if engine in ("duckdb", "duckdb-decisions"):
        from lead_rules.sql.run import align

        columns = "decisions" if engine == "duckdb-decisions" else "full"
        summary = align(policy_path, market_path, population, output, engine="duckdb", progress=False, columns=columns)
        n = summary["read"]
    elif engine in ("interpreter", "interpreter-trace"):
        from lead_rules.engine.policy import load_market, load_policy

        pol, mk = load_policy(policy_path), load_market(market_path)
        trace = engine == "interpreter-trace"
        rows = []
        for rec in records(population):
            d = pol.evaluate(rec, mk, trace=trace)
            rows.append((d.bene_id, d.outcome, d.aco_id, d.pathway))
        n = len(rows)
        _write_decisions(rows, output)
    elif engine == "python-baseline":
        market = yaml.safe_load(market_path.read_text(encoding="utf-8"))
        acos = [
            {
                "id": a["id"],
                "tins": set(a.get("participant_tins") or ()),
                "counties": set(a.get("service_area_counties") or ()),
            }
            for a in market["acos"]
        ]
        rows = [(r["bene_id"], *python_decide(r, acos)) for r in records(population)]
        n = len(rows)
        _write_decisions(rows, output)
    elif engine in ("sql-baseline", "sql-baseline-validated"):
        import duckdb

        market = yaml.safe_load(market_path.read_text(encoding="utf-8"))
        con = duckdb.connect()
        validated = engine == "sql-baseline-validated"
        if validated:
            from lead_rules.sql.run import register_input

            register_input(con, population)
        con.sql(sql_baseline(population, market, output, validated))
        n = con.sql(f"SELECT count(*) FROM read_parquet('{output}')").fetchall()[0][0]
    else:
        raise ValueError(engine)
    return {"seconds": time.monotonic() - started, "records": n, "peak_mb": _peak_mb()}


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM; exec starts it afresh, unlike the rusage of a child)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_decisions(rows: list[tuple[Any, ...]], output: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    table = pa.table(
        {
            k: pa.array(list(v), pa.string())
            for k, v in zip(("bene_id", "outcome", "aco_id", "pathway"), cols, strict=True)
        }
    )
    pq.write_table(table, output)


def run_child(engine: str, policy: str, population: Path, output: Path) -> dict[str, Any]:
    """Measure in a fresh process: seconds, records/second, peak RSS (MB)."""
    cmd = [sys.executable, __file__, "--child", engine, policy, str(population), str(output)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} failed on {population}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["rate"] = result["records"] / result["seconds"]
    return result


def same_decisions(a: Path, b: Path) -> int:
    """The number of beneficiaries whose (outcome, aco_id, pathway) differ between two outputs."""
    import duckdb

    return int(
        duckdb.connect()
        .sql(
            f"SELECT count(*) FROM read_parquet('{a}') x FULL JOIN read_parquet('{b}') y USING (bene_id) "
            "WHERE x.outcome IS DISTINCT FROM y.outcome OR x.aco_id IS DISTINCT FROM y.aco_id "
            "OR x.pathway IS DISTINCT FROM y.pathway"
        )
        .fetchall()[0][0]
    )


def policy_load_ms() -> float:
    from lead_rules.engine.policy import load_policy

    load_policy(EXAMPLE)  # warm imports
    best = min(_timed(lambda: load_policy(LEAD)) for _ in range(5))
    return best * 1000


def _timed(fn: Any) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--interpreter-max", type=int, default=100_000, help="largest size for the interpreter")
    p.add_argument("--trace-max", type=int, default=10_000, help="largest size for the interpreter with trace")
    p.add_argument("--duckdb-10m", action="store_true", help="also DuckDB (LEAD policy) on 10M records")
    p.add_argument("--data", default="/tmp/lead-rules-bench")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--repeat", type=int, default=3, help="runs of the DuckDB engines and SQL baselines (best kept)")
    p.add_argument("--out", default=None, help="write the Markdown report here")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        engine, policy, population, output = args.child
        print(json.dumps(measure(engine, policy, Path(population), Path(output))))
        return 0
    data = Path(args.data)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]  # --sizes "" with --duckdb-10m: 10M only
    results: list[dict[str, Any]] = []
    checks: list[str] = []
    for n in sizes:
        pop = make_population(data / f"n{n}", n, args.workers)
        fast = [
            ("duckdb", "example"),
            ("duckdb-decisions", "example"),
            ("sql-baseline", "example"),
            ("sql-baseline-validated", "example"),
            ("duckdb", "lead"),
        ]
        runs = fast * max(args.repeat, 1) + [("python-baseline", "example")]
        if n <= args.interpreter_max:
            runs += [("interpreter", "example"), ("interpreter", "lead")]
        if n <= args.trace_max:
            runs += [("interpreter-trace", "example"), ("interpreter-trace", "lead")]
        outputs: dict[tuple[str, str], Path] = {}
        best: dict[tuple[str, str], dict[str, Any]] = {}
        for engine, policy in runs:
            out = data / f"n{n}" / f"out-{engine}-{policy}.parquet"
            r = run_child(engine, policy, pop, out)
            r.update(engine=engine, policy=policy, size=n)
            if (engine, policy) not in best or r["seconds"] < best[(engine, policy)]["seconds"]:
                best[(engine, policy)] = r
            outputs[(engine, policy)] = out
            line = f"{n:>10} {policy:8} {engine:22} {r['rate']:>10,.0f}/s {r['seconds']:>8.1f} s"
            print(f"{line} {r['peak_mb']:>8.0f} MB", flush=True)
        results += best.values()
        for (engine, policy), out in outputs.items():
            if engine != "duckdb":
                bad = same_decisions(outputs[("duckdb", policy)], out)
                checks.append(f"{n}: {engine} ({policy}) vs duckdb: {bad} differing decisions")
                if bad:
                    print(f"WARNING {checks[-1]}", flush=True)
    if args.duckdb_10m:
        base = make_population(data / "n1000000", 1_000_000, args.workers)
        pop = replicate(base, data / "n10000000", 10)
        r = run_child("duckdb", "lead", pop, data / "n10000000" / "out-duckdb-lead.parquet")
        r.update(engine="duckdb", policy="lead", size=10_000_000)
        results.append(r)
        print(f"{10_000_000:>10} lead     duckdb {r['rate']:>10,.0f}/s {r['seconds']:>8.1f} s {r['peak_mb']:>8.0f} MB")
    report = render(results, checks, policy_load_ms())
    print(report)
    if args.out:
        Path(args.out).write_text(report, encoding="utf-8")
    return 0


def render(results: list[dict[str, Any]], checks: list[str], load_ms: float) -> str:
    def rate(engine: str, policy: str, n: int) -> float | None:
        for r in results:
            if (r["engine"], r["policy"], r["size"]) == (engine, policy, n):
                return float(r["rate"])
        return None

    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{_memory_gb():.0f} GB RAM, Python {platform.python_version()}, {platform.platform()}",
        f"Date: {dt.date.today().isoformat()}",
        "",
        "| size | policy | engine | records/s | seconds | peak MB |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['policy']} | {r['engine']} | {r['rate']:,.0f} | {r['seconds']:.1f} "
            f"| {r['peak_mb']:,.0f} |"
        )
    lines += ["", "Ratios (same run; example policy unless noted):", ""]
    for n in sorted({r["size"] for r in results}):
        duck, sqlb = rate("duckdb", "example", n), rate("sql-baseline", "example", n)
        decisions = rate("duckdb-decisions", "example", n)
        pyb, interp, trace = (
            rate("python-baseline", "example", n),
            rate("interpreter", "example", n),
            rate("interpreter-trace", "example", n),
        )
        parts = []
        sqlv = rate("sql-baseline-validated", "example", n)
        if decisions and sqlb:
            parts.append(
                f"DuckDB engine writing the baseline's columns (decisions) takes {sqlb / decisions:.2f}x "
                "the hand-written SQL time"
            )
        if duck and sqlb:
            parts.append(f"with the full output (reasons, criterion columns) {sqlb / duck:.2f}x")
        if duck and sqlv:
            parts.append(f"full output vs the hand-written SQL validating the same input {sqlv / duck:.2f}x")
        if pyb and interp:
            parts.append(f"interpreter (no trace) takes {pyb / interp:.1f}x the hand-written Python time")
        if pyb and trace:
            parts.append(f"interpreter (trace) takes {pyb / trace:.1f}x the hand-written Python time")
        if duck and interp:
            parts.append(f"DuckDB / interpreter throughput = {duck / interp:.1f}x")
        lead_duck, lead_interp = rate("duckdb", "lead", n), rate("interpreter", "lead", n)
        if lead_duck and lead_interp:
            parts.append(f"LEAD: DuckDB / interpreter throughput = {lead_duck / lead_interp:.1f}x")
        if parts:
            lines.append(f"- {n:,}: " + "; ".join(parts))
    lines += ["", f"Policy load + check (LEAD, best of 5): {load_ms:.0f} ms", "", "Decision checks:", ""]
    lines += [f"- {c}" for c in checks]
    return "\n".join(lines) + "\n"


def _memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):  # pragma: no cover
        return 0.0


if __name__ == "__main__":
    sys.exit(main())
