"""The ``lead-rules`` command line: check, evaluate, explain, align, sql, test, generate, demo.

A thin layer over the public API: it parses arguments, loads the policy and
market (printing diagnostics with file:line:column and a caret, never a
traceback), streams records, and reports counts on standard error. Exit codes:
0 success, 1 policy errors / failed tests / ``--strict`` batches with errors,
2 bad usage, unreadable input, or a broken policy test file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ..engine.policy import check_policy
from .loading import market_or_exit, policy_or_exit


@contextlib.contextmanager
def _open(path: str | None, mode: str, default: IO[str]) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield default
        return
    try:
        f = open(path, mode, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        print(f"lead-rules: cannot open {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        yield f
    finally:
        f.close()


def cmd_check(args: argparse.Namespace) -> int:
    """Check policies; print every diagnostic."""
    failed = False
    for path in args.policy:
        policy, diagnostics = check_policy(path)
        for d in diagnostics:
            print(d.render())
        errors = sum(1 for d in diagnostics if d.severity == "error")
        warnings = len(diagnostics) - errors
        if policy is None:
            failed = True
            print(f"{path}: {errors} error(s), {warnings} warning(s)")
        else:
            n_crit = len(policy.criteria())
            print(
                f"{path}: ok — {policy.id} v{policy.version}, {len(policy.pathway_names)} pathways, "
                f"{n_crit} criteria, {warnings} warning(s)"
            )
    return 1 if failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Decide a JSON Lines batch."""
    from ..batch.jsonl import run_batch

    policy = policy_or_exit(args.policy)
    market = market_or_exit(args.market)
    with _open(args.input, "r", sys.stdin) as src, _open(args.output, "w", sys.stdout) as dst:
        counts = run_batch(policy, market, src, dst, trace=args.trace)
    print(counts.summary(), file=sys.stderr)
    return 1 if args.strict and counts.errors else 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain the decision for one beneficiary of a batch."""
    import json

    from ..batch.jsonl import parse_line

    policy = policy_or_exit(args.policy)
    market = market_or_exit(args.market)
    if args.from_output:
        from ..sql.explain import decision_from_row, read_output_row

        row = read_output_row(args.from_output, args.id)
        if row is None:
            print(f"lead-rules: no row with bene_id {args.id!r} in {args.from_output}", file=sys.stderr)
            return 2
        print(decision_from_row(policy, market, row).explain())
        return 0
    if args.input is None and sys.stdin.isatty():
        print("lead-rules: give --input records.jsonl or --from-output decisions", file=sys.stderr)
        return 2
    with _open(args.input, "r", sys.stdin) as src:
        for number, line in enumerate(src, start=1):
            if args.id not in line:
                continue
            record, _ = parse_line(line, number)
            if record is None or record.get("bene_id") != args.id:
                continue
            decision = policy.evaluate(record, market, trace=True)
            if args.json:
                from ..batch.jsonl import json_default

                print(json.dumps(decision.to_dict(), default=json_default, indent=2))
            else:
                print(decision.explain())
            return 0
    print(f"lead-rules: no record with bene_id {args.id!r} in {args.input or 'standard input'}", file=sys.stderr)
    return 2


def cmd_align(args: argparse.Namespace) -> int:
    """Align a whole population with DuckDB, Spark or the interpreter."""
    import json

    from ..sql.run import align

    policy = policy_or_exit(args.policy)  # located diagnostics before any engine starts
    market = market_or_exit(args.market)
    if not Path(args.input).exists():
        print(f"lead-rules: no such input {args.input}", file=sys.stderr)
        return 2
    summary = align(
        policy,
        market,
        args.input,
        args.output,
        engine=args.engine,
        progress=not args.quiet,
        columns=args.columns,
    )
    print(
        f"read {summary['read']}, decided {summary['decided']}, errors {summary['errors']} "
        f"(aligned {summary['aligned']}, not_aligned {summary['not_aligned']}) "
        f"in {summary['seconds']} s with {summary['engine']} -> {summary['output']}",
        file=sys.stderr,
    )
    if args.summary_json:
        print(json.dumps(summary, indent=2, default=str))
    return 1 if args.strict and summary["errors"] else 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Print the SQL a policy compiles to."""
    from ..sql.compiler import compile_policy

    policy = policy_or_exit(args.policy)
    market = market_or_exit(args.market)
    compiled = compile_policy(policy, market, args.dialect)
    for issue in compiled.issues:
        print(str(issue), file=sys.stderr)
    if compiled.errors:
        print(f"lead-rules: the policy cannot be compiled to {args.dialect}", file=sys.stderr)
        return 1
    print(compiled.sql(args.dialect) + ";")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Run the YAML policy tests."""
    from ..testing.policy_tests import run_policy_tests

    code: int = run_policy_tests([Path(p) for p in args.paths], args.min_coverage, sys.stdout)
    return code


def cmd_generate(args: argparse.Namespace) -> int:
    """Write a synthetic population and market."""
    from ..synth.generate import write_population

    paths = write_population(Path(args.output), args.n, args.seed, args.performance_year, tuple(args.formats))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Generate a population, align it with the LEAD policy and summarise."""
    from .demo import run_demo

    return run_demo(Path(args.output), args.n, args.seed, args.policy)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lead-rules``."""
    p = argparse.ArgumentParser(prog="lead-rules", description="LEAD ACO alignment rules as data.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="check policies and print diagnostics")
    c.add_argument("policy", nargs="+", help="policy file or folder")
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("evaluate", help="decide records (JSON Lines) with the interpreter")
    e.add_argument("--policy", required=True, help="policy file or folder")
    e.add_argument("--market", required=True, help="market YAML or JSON file")
    e.add_argument("--input", help="records.jsonl (default: standard input)")
    e.add_argument("--output", help="decisions.jsonl (default: standard output)")
    e.add_argument("--trace", action="store_true", help="include the full decision trace in each line")
    e.add_argument("--strict", action="store_true", help="exit 1 when any line is an error")
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("explain", help="explain the decision for one beneficiary")
    x.add_argument("--policy", required=True)
    x.add_argument("--market", required=True)
    x.add_argument("--input", help="records.jsonl (default: standard input)")
    x.add_argument("--from-output", help="explain from a batch output (criterion columns) instead of re-running")
    x.add_argument("--id", required=True, help="the bene_id to explain")
    x.add_argument("--json", action="store_true", help="print the decision with its trace as JSON")
    x.set_defaults(func=cmd_explain)

    a = sub.add_parser("align", help="align a whole population (DuckDB by default, Spark, or the interpreter)")
    a.add_argument("--engine", choices=["duckdb", "spark", "interpreter"], default="duckdb")
    a.add_argument("--policy", required=True)
    a.add_argument("--market", required=True)
    a.add_argument("--input", required=True, help="population: .jsonl, .parquet, or a folder of relational tables")
    a.add_argument("--output", required=True, help="decisions: .parquet, .csv or .jsonl")
    a.add_argument(
        "--columns",
        choices=["full", "reasons", "decisions"],
        default="full",
        help="full: decisions, reasons and every criterion column (explain --from-output needs them); "
        "reasons: decisions and reasons; decisions: bene_id, outcome, aco_id, pathway, cause",
    )
    a.add_argument("--quiet", action="store_true", help="no progress display")
    a.add_argument("--strict", action="store_true", help="exit 1 when any record is an error row")
    a.add_argument("--summary-json", action="store_true", help="print the summary as JSON on standard output")
    a.set_defaults(func=cmd_align)

    q = sub.add_parser("sql", help="print the SQL the policy compiles to")
    q.add_argument("--dialect", choices=["duckdb", "spark", "snowflake", "bigquery", "postgres"], default="duckdb")
    q.add_argument("--policy", required=True)
    q.add_argument("--market", required=True)
    q.set_defaults(func=cmd_sql)

    t = sub.add_parser("test", help="run the YAML policy tests and report criterion coverage")
    t.add_argument("paths", nargs="+", help="folders or *.test.yaml files")
    t.add_argument("--min-coverage", type=float, default=None, help="fail below this percentage")
    t.set_defaults(func=cmd_test)

    g = sub.add_parser("generate", help="write a deterministic synthetic population and market")
    g.add_argument("--n", type=int, default=10_000)
    g.add_argument("--seed", type=int, default=2028)
    g.add_argument("--performance-year", type=int, default=2028)
    g.add_argument("--output", required=True, help="output folder")
    g.add_argument("--formats", nargs="+", default=["jsonl", "parquet"], choices=["jsonl", "parquet"])
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="generate a population, align it with the LEAD policy, summarise")
    d.add_argument("--n", type=int, default=10_000)
    d.add_argument("--seed", type=int, default=2028)
    d.add_argument("--output", default="demo-output")
    d.add_argument("--policy", default=None, help="policy folder (default: the bundled LEAD policy)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lead-rules`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: Any = args.func(args)
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return 0
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
