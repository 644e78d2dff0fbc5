"""LEAD against LEAD: the engines and hand-written baselines of the same LEAD policy, in one run.

Usage::

    python benchmarks/lead_bench.py --n 20000 --record-n 2000 --repeat 2 --out /tmp/lead-bench.md

Data: ``benchmarks/lead_data.py`` (``lead-rules generate`` reshaped to 48 monthly rows and 18-30
claim lines per record; 12-month eligibility window, two weighted alignment years: the LEAD
policy's defaults), ``--n`` records as JSON Lines and as Parquet.

Per-record engines, on the first ``--record-n`` records, already parsed from JSON (``json.loads``),
all in this process:

* ``python`` -- ``benchmarks/lead_python.py``, the LEAD rules by hand (the baseline of the ratios);
* ``zen`` / ``zen-trace`` -- GoRules zen-engine evaluating ``benchmarks/lead_zen.json``, without and
  with its trace;
* ``validate`` -- ``Policy.validate_record`` only: the validator the engine uses, built from the
  policy's record schema (``policies/schemas/beneficiary.yaml``, ``pydantic.create_model``);
* ``interpreter`` -- ``Policy.evaluate(..., trace=False)`` on records validated beforehand (by it);
* ``validate+interpreter`` -- ``Policy.evaluate(dict, trace=False)``: validation and evaluation;
* ``interpreter-trace`` -- ``Policy.evaluate(..., trace=True)`` on records validated beforehand:
  the whole trace tree recorded;
* ``interpreter-trace-json`` -- the same, and the trace rendered to its JSON form
  (``TraceNode.to_dict``), as zen-engine hands its trace back as Python objects.

Population engines, on all ``--n`` records, each run a fresh process (imports, policy load and
compile included), on the JSON Lines file and on the Parquet file:

* ``duckdb`` -- ``lead-rules align --engine duckdb`` (full output: decisions, reasons, criteria);
* ``duckdb-decisions`` -- the same with ``--columns decisions``;
* ``sql`` -- ``benchmarks/lead_sql.py``, one hand-written DuckDB query of the LEAD rules (the
  baseline of the ratios), reading the same file (JSON Lines with an explicit schema);
* ``duckdb-startup-load`` -- the startup of issue 12's target alone, in a fresh process: the CLI's
  imports, the policy and market load and the compiled query (from the cache after the first round;
  :data:`STARTUP_LOAD`), no DuckDB run;
* ``duckdb-startup`` -- ``lead-rules align --engine duckdb`` of a one-record JSON Lines file (the
  first record): imports, policy load, the cached compiled query and DuckDB's start.

Rounds are interleaved and each engine keeps its fastest of ``--repeat`` rounds, so a slow moment
of the shared machine hits all engines alike: per-record engines take turns on chunks of 50 records
(a round's time is the sum over its chunks), population engines take turns run by run. Every engine's
decisions (outcome, aco_id, pathway) are checked equal: per-record engines against the Python
baseline, population engines against the hand-written query, and the Python baseline against the
hand-written query on the records both decided. Prints Markdown (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
POLICY = HERE.parent / "policies" / "lead"

RECORD_ENGINES = (
    "python",
    "zen",
    "zen-trace",
    "validate",
    "interpreter",
    "validate+interpreter",
    "interpreter-trace",
    "interpreter-trace-json",
)
POPULATION_ENGINES = (
    "sql:jsonl",
    "duckdb:jsonl",
    "duckdb-decisions:jsonl",
    "sql:parquet",
    "duckdb:parquet",
    "duckdb-decisions:parquet",
    "duckdb-startup:jsonl",
    "duckdb-startup-load:jsonl",
)

Decision = tuple[Any, Any, Any]
CHUNK = 50  # records per turn of the per-record engines


# --- per-record engines --------------------------------------------------------------------


def record_runners(
    records: list[dict[str, Any]], market_path: Path, engines: list[str]
) -> dict[str, Callable[[int, int], list[Decision]]]:
    """For each per-record engine, a function deciding ``records[start:stop]`` (returns the decisions)."""
    import yaml

    market_dict = yaml.safe_load(market_path.read_text(encoding="utf-8"))
    runners: dict[str, Callable[[int, int], list[Decision]]] = {}
    if "python" in engines:
        from lead_python import make_decider

        decide = make_decider(POLICY, market_dict)
        runners["python"] = lambda a, b: [decide(r) for r in records[a:b]]
    if "zen" in engines or "zen-trace" in engines:
        from lead_zen import load

        zd = load(market_dict)

        def zen_run(a: int, b: int, trace: bool) -> list[Decision]:
            out = []
            opts = {"trace": trace}
            for r in records[a:b]:
                res = zd.evaluate({"bene": r}, opts)["result"]
                out.append((res.get("outcome"), res.get("aco_id"), res.get("pathway")))
            return out

        runners["zen"] = lambda a, b: zen_run(a, b, False)
        runners["zen-trace"] = lambda a, b: zen_run(a, b, True)
    if any(e.startswith(("validate", "interpreter")) for e in engines):
        import lead_rules

        policy = lead_rules.load_policy(POLICY)
        market = lead_rules.load_market(market_path)
        validated = [policy.validate_record(r) for r in records]

        def validate(a: int, b: int) -> list[Decision]:
            for r in records[a:b]:
                policy.validate_record(r)
            return []

        def evaluate(items: list[Any], trace: bool, render: bool = False) -> list[Decision]:
            out = []
            for r in items:
                d = policy.evaluate(r, market, trace=trace)
                if render and d.trace is not None:
                    d.trace.to_dict()
                out.append((d.outcome, d.aco_id, d.pathway))
            return out

        runners["validate"] = validate
        runners["interpreter"] = lambda a, b: evaluate(validated[a:b], False)
        runners["validate+interpreter"] = lambda a, b: evaluate(records[a:b], False)
        runners["interpreter-trace"] = lambda a, b: evaluate(validated[a:b], True)
        runners["interpreter-trace-json"] = lambda a, b: evaluate(validated[a:b], True, True)
    return {e: runners[e] for e in engines if e in runners}


# --- population engines --------------------------------------------------------------------

STARTUP_LOAD = (
    "import json, sys\n"
    "import lead_rules.cli.main\n"
    "from lead_rules.engine.policy import load_market, load_policy\n"
    "from lead_rules.sql.run import cached_duckdb_sql\n"
    "policy = load_policy(sys.argv[1])\n"
    "sql, _ = cached_duckdb_sql(policy, load_market(sys.argv[2], policy), 'full', 'parquet')\n"
    "print(json.dumps({'read': 1, 'sql_bytes': len(sql)}))\n"
)
"""``duckdb-startup-load``: what a cached ``align`` does before DuckDB reads the input."""


def run_population(engine: str, paths: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    """One run of a population engine in a fresh process: wall and CPU seconds, records, output path."""
    name, kind = engine.split(":")
    source = paths[kind]
    if name == "duckdb-startup":
        source = out_dir / "one-record.jsonl"
        with paths["jsonl"].open("rb") as src:
            source.write_bytes(src.readline())
    output = out_dir / f"out-{name}-{kind}.parquet"
    bin_dir = Path(sys.executable).parent
    if name == "duckdb-startup-load":
        cmd = [sys.executable, "-c", STARTUP_LOAD, str(POLICY), str(paths["market"])]
    elif name == "sql":
        cmd = [
            sys.executable,
            str(HERE / "lead_sql.py"),
            "--policy",
            str(POLICY),
            "--market",
            str(paths["market"]),
            "--input",
            str(source),
            "--output",
            str(output),
        ]
    else:
        cmd = [
            str(bin_dir / "lead-rules"),
            "align",
            "--engine",
            "duckdb",
            "--policy",
            str(POLICY),
            "--market",
            str(paths["market"]),
            "--input",
            str(source),
            "--output",
            str(output),
            "--quiet",
            "--summary-json",
        ]
        if name == "duckdb-decisions":
            cmd += ["--columns", "decisions"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} failed: {' '.join(cmd)}")
    text = proc.stdout
    summary = json.loads(text[text.index("{") : text.rindex("}") + 1])
    records = summary.get("read", summary.get("records"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": wall, "cpu": cpu, "records": records, "output": output}


def differing(a: Path, b: Path, only_common: bool = False) -> int:
    """Beneficiaries whose (outcome, aco_id, pathway) differ between two decision files."""
    import duckdb

    join = "JOIN" if only_common else "FULL JOIN"
    return int(
        duckdb.connect()
        .sql(
            f"SELECT count(*) FROM read_parquet('{a}') x {join} read_parquet('{b}') y USING (bene_id) "
            "WHERE x.outcome IS DISTINCT FROM y.outcome OR x.aco_id IS DISTINCT FROM y.aco_id "
            "OR x.pathway IS DISTINCT FROM y.pathway"
        )
        .fetchall()[0][0]
    )


def write_decisions(ids: list[str], decisions: list[Decision], output: Path) -> None:
    """Decisions as a Parquet file (bene_id, outcome, aco_id, pathway)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*decisions, strict=True))
    pq.write_table(
        pa.table(
            {
                "bene_id": pa.array(ids, pa.string()),
                "outcome": pa.array(cols[0], pa.string()),
                "aco_id": pa.array(cols[1], pa.string()),
                "pathway": pa.array(cols[2], pa.string()),
            }
        ),
        output,
    )


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally write) the Markdown report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="population size (population engines)")
    ap.add_argument("--record-n", type=int, default=2_000, help="records for the per-record engines (first ones)")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved rounds; each engine keeps its fastest")
    ap.add_argument("--engines", default=",".join(RECORD_ENGINES + POPULATION_ENGINES))
    ap.add_argument("--seed", type=int, default=2028)
    ap.add_argument("--data", type=Path, default=Path("/tmp/lead-rules-bench-lead"))
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown report here")
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(RECORD_ENGINES) - set(POPULATION_ENGINES)
    if unknown:
        ap.error(f"unknown engines {sorted(unknown)}; known: {', '.join(RECORD_ENGINES + POPULATION_ENGINES)}")
    from lead_data import make, shape

    folder = args.data / f"n{args.n}-seed{args.seed}"
    paths = make(folder, args.n, args.seed, POLICY, str(Path(sys.executable).parent / "lead-rules"))
    data_shape = shape(paths["jsonl"])
    print(f"population {folder}: {json.dumps(data_shape)}", flush=True)

    records: list[dict[str, Any]] = []
    with paths["jsonl"].open(encoding="utf-8") as fh:
        for line in fh:
            if len(records) >= args.record_n:
                break
            records.append(json.loads(line))
    rec_engines = [e for e in RECORD_ENGINES if e in engines]
    pop_engines = [e for e in POPULATION_ENGINES if e in engines]
    runners = record_runners(records, paths["market"], rec_engines)
    best: dict[str, dict[str, Any]] = {}
    rounds: dict[str, list[float]] = {}
    decisions: dict[str, list[Decision]] = {}
    pop_outputs: dict[str, Path] = {}
    for e in rec_engines:  # warm-up (first calls compile, fill caches): not timed
        runners[e](0, CHUNK)
    for k in range(max(1, args.repeat)):
        # per-record engines: every engine on each chunk of CHUNK records in turn, so that a slow
        # moment of the shared machine costs all of them alike; a round's time is the sum
        spent = dict.fromkeys(rec_engines, 0.0)
        got: dict[str, list[Decision]] = {e: [] for e in rec_engines}
        for a in range(0, len(records), CHUNK):
            for e in rec_engines:
                started = time.perf_counter()
                got[e] += runners[e](a, a + CHUNK)
                spent[e] += time.perf_counter() - started
        for e in rec_engines:
            seconds = spent[e]
            decisions.setdefault(e, got[e])
            rounds.setdefault(e, []).append(seconds)
            if e not in best or seconds < best[e]["seconds"]:
                best[e] = {"seconds": seconds, "records": len(records)}
            print(f"round {k + 1} {e:24} {len(records) / seconds:>10,.0f} records/s {seconds:8.2f} s", flush=True)
        for e in pop_engines:
            r = run_population(e, paths, folder)
            pop_outputs[e] = r["output"]
            rounds.setdefault(e, []).append(r["seconds"])
            if e not in best or r["seconds"] < best[e]["seconds"]:
                best[e] = r
            print(
                f"round {k + 1} {e:24} {r['records'] / r['seconds']:>10,.0f} records/s {r['seconds']:8.2f} s "
                f"(cpu {r['cpu']:.1f} s)",
                flush=True,
            )

    checks: list[str] = []
    failures = 0
    base = decisions.get("python")
    for e in rec_engines:
        if e in ("python", "validate") or base is None:
            continue
        bad = [i for i, (x, y) in enumerate(zip(decisions[e], base, strict=True)) if x != y]
        failures += len(bad)
        checks.append(f"{e} vs python (first {len(records):,} records): {len(bad)} differing decisions")
        for i in bad[:3]:
            checks.append(f"  {records[i]['bene_id']}: {e} {decisions[e][i]}, python {base[i]}")
    if base is not None:
        py_out = folder / "out-python.parquet"
        write_decisions([r["bene_id"] for r in records], base, py_out)
        sql_out = pop_outputs.get("sql:jsonl") or pop_outputs.get("sql:parquet")
        if sql_out is not None:
            bad_n = differing(py_out, sql_out, True)
            failures += bad_n
            checks.append(f"python vs sql (first {len(records):,} records): {bad_n} differing decisions")
    for e in pop_engines:
        ref = pop_outputs.get("sql:jsonl") or pop_outputs.get("sql:parquet")
        if (e.startswith("sql") and e != "sql:parquet") or e.startswith("duckdb-startup"):
            continue
        if ref is not None and pop_outputs[e] != ref:
            bad_n = differing(pop_outputs[e], ref)
            failures += bad_n
            checks.append(f"{e} vs sql:jsonl ({args.n:,} records): {bad_n} differing decisions")
    report = render(best, rounds, checks, data_shape, args, rec_engines, pop_engines)
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 1 if failures else 0


def render(
    best: dict[str, dict[str, Any]],
    rounds: dict[str, list[float]],
    checks: list[str],
    data_shape: dict[str, float],
    args: argparse.Namespace,
    rec_engines: list[str],
    pop_engines: list[str],
) -> str:
    """The Markdown report."""

    def rate(e: str) -> float:
        return float(best[e]["records"]) / float(best[e]["seconds"])

    cpu_model = platform.processor() or platform.machine()
    lines = [
        f"Machine: {cpu_model}, {os.cpu_count()} cores (shared with other jobs), Python {platform.python_version()}, "
        f"{platform.platform()}",
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"Command: `.venv/bin/python benchmarks/lead_bench.py --n {args.n} --record-n {args.record_n} "
        f"--repeat {args.repeat} --seed {args.seed}`",
        f"Population: {int(data_shape['records']):,} records, {data_shape['months_mean']:.1f} monthly rows "
        f"(max {data_shape['months_max']:.0f}; {100 * data_shape['share_48_months']:.0f}% with 48) and "
        f"{data_shape['claims_mean']:.1f} claim lines (max {data_shape['claims_max']:.0f}) per record",
        "",
    ]
    if rec_engines:
        labels = {
            "python": "hand-written plain Python of the LEAD rules",
            "zen": "GoRules zen-engine, LEAD rules as a JDM graph",
            "zen-trace": "zen-engine with its trace",
            "validate": "lead-rules record validation only (the policy's schema validator)",
            "interpreter": "lead-rules interpreter, no trace (records validated beforehand)",
            "validate+interpreter": "lead-rules validation + interpreter",
            "interpreter-trace": "lead-rules interpreter with trace (records validated beforehand)",
            "interpreter-trace-json": "lead-rules interpreter with trace, rendered to JSON objects",
        }
        lines += [
            f"Per record ({args.record_n:,} records already parsed from JSON, best of {args.repeat} interleaved "
            "rounds):",
            "",
            "| engine | records/s | x hand-written Python time | vs zen-engine | rounds (s) |",
            "|---|---:|---:|---|---|",
        ]
        for e in rec_engines:
            vs_py = f"{rate('python') / rate(e):.1f}x" if "python" in best else ""
            vs_zen = ""
            if e.startswith("interpreter") or e == "validate+interpreter":
                ref = "zen-trace" if e.startswith("interpreter-trace") else "zen"
                if ref in best:
                    vs_zen = f"{rate(e) / rate(ref):.2f}x {ref} throughput"
            r = ", ".join(f"{s:.2f}" for s in rounds[e])
            lines.append(f"| {labels[e]} | {rate(e):,.0f} | {vs_py} | {vs_zen} | {r} |")
        lines.append("")
    if pop_engines:
        lines += [
            f"Population ({args.n:,} records, each run a fresh process incl. imports, policy load and compile; "
            f"Parquet out; best of {args.repeat} interleaved rounds):",
            "",
            "| input | engine | seconds | records/s | x hand-written query time | cpu s | x query cpu "
            "| cpu s / wall s | rounds (s) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        labels = {
            "sql": "hand-written DuckDB query",
            "duckdb": "`lead-rules align --engine duckdb` (full)",
            "duckdb-decisions": "`align --engine duckdb --columns decisions`",
            "duckdb-startup": "startup: `lead-rules align` of a 1-record file",
            "duckdb-startup-load": "startup: imports, policy and market load, cached compile (no DuckDB run)",
        }
        for e in pop_engines:
            name, kind = e.split(":")
            b = best[e]
            ref = f"sql:{kind}"
            same = ref in best and not name.startswith("duckdb-startup")
            ratio = f"{b['seconds'] / best[ref]['seconds']:.2f}x" if same else ""
            cpu_ratio = f"{b['cpu'] / best[ref]['cpu']:.2f}x" if same else ""
            r = ", ".join(f"{s:.2f}" for s in rounds[e])
            lines.append(
                f"| {'JSON Lines' if kind == 'jsonl' else 'Parquet'} | {labels[name]} | {b['seconds']:.2f} | "
                f"{rate(e):,.0f} | {ratio} | {b['cpu']:.2f} | {cpu_ratio} | {b['cpu'] / b['seconds']:.2f} | {r} |"
            )
        lines.append("")
    lines += ["Decision checks (outcome, aco_id, pathway):", ""] + [f"- {c}" for c in checks]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
