"""The ``lead-rules`` command line: check, evaluate, explain, align, sql, test, generate, demo.

A thin layer over the public API: it parses arguments, loads the policy and
market (printing diagnostics with file:line:column and a caret, never a
traceback), streams records, and reports counts on standard error. Exit codes:
0 success, 1 policy errors / failed tests / ``--strict`` batches with errors,
2 bad usage, unreadable or wrongly formatted input, an unwritable output (a
folder, a full disk), a missing optional dependency, or a broken policy test
file, 3 ``explain --from-output`` of an output whose provenance records another
policy hash (unless ``--policy-hash-mismatch=warn``). Whatever goes wrong, a
command prints one line ``lead-rules: ...`` on standard error (or located
diagnostics), never a Python traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..engine.policy import check_policy
from .files import evaluate_outputs_or_exit, open_text, output_text, refuse_input_source, refuse_output
from .loading import PROVENANCE_MISMATCH as PROVENANCE_MISMATCH  # re-exported: the documented exit code
from .loading import (
    add_effective_option,
    alignment_policy_or_exit,
    check_provenance,
    deliver_provenance,
    market_or_exit,
    note_provenance,
    policy_or_exit,
)
from .usage import CommandParser, command_typo, count_arg, option_typo


def cmd_check(args: argparse.Namespace) -> int:
    """Check policies (files, policy folders, or a folder of policy folders); print every diagnostic."""
    import json

    from .render import policy_paths, print_diagnostic, use_colour

    failed = False
    colour = use_colour(sys.stdout)
    reports = []
    for path in policy_paths(args.policy):
        policy, diagnostics = check_policy(path)
        errors = sum(1 for d in diagnostics if d.severity == "error")
        warnings = len(diagnostics) - errors
        failed = failed or policy is None
        if args.format == "json":
            reports.append(
                {
                    "path": path,
                    "ok": policy is not None,
                    "policy_id": policy.id if policy is not None else None,
                    "version": policy.version if policy is not None else None,
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": [d.to_dict() for d in diagnostics],
                }
            )
            continue
        for d in diagnostics:
            print_diagnostic(d, sys.stdout, colour)
        if policy is None:
            print(f"{path}: {errors} error(s), {warnings} warning(s)")
        else:
            n_crit = len(policy.criteria())
            decision = policy.doc.decision
            shape = f"a {decision.kind} decision" if decision else f"{len(policy.pathway_names)} pathways"
            print(f"{path}: ok — {policy.id} v{policy.version}, {shape}, {n_crit} criteria, {warnings} warning(s)")
    if args.format == "json":
        print(json.dumps({"ok": not failed, "policies": reports}, indent=2))
    return 1 if failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Decide a JSON Lines batch."""
    from ..batch.jsonl import BatchCounts, run_batch

    refuse_input_source(args.input)  # a FIFO, or Parquet on standard input: one line, exit 2
    inputs = [args.input, args.market, args.policy, getattr(args, "context", None)]
    evaluate_outputs_or_exit(args, inputs)  # before anything runs
    policy = policy_or_exit(args.policy)
    if policy.doc.decision is not None:  # a verdict, ranking or computation
        from .kinds import evaluate

        with output_text(args.output, inputs) as dst:
            code = evaluate(policy, args, dst)
        deliver_provenance(args, args.output)
        return code
    market = market_or_exit(_market_arg(args), policy, args.allow_outside_effective)
    if args.input is not None and Path(args.input).suffix.lower() in (".yaml", ".yml"):
        from .kinds import evaluate_alignment_documents

        with output_text(args.output, inputs) as dst:
            code = evaluate_alignment_documents(policy, market, args, dst)
        deliver_provenance(args, args.output)
        return code

    def decide(src: IO[str], dst: IO[str]) -> BatchCounts:
        if args.log:  # the decision log (lead_rules/tools/decision_log.py)
            from ..tools.decision_log import run_batch_logged

            return run_batch_logged(
                policy, market, src, dst, Path(args.log), trace=args.trace, encoder=_trace_encoder(args)
            )
        return run_batch(policy, market, src, dst, trace=args.trace, encoder=_trace_encoder(args))

    with open_text(args.input, "r", sys.stdin) as src, output_text(args.output, inputs) as dst:
        counts = decide(src, dst)
        note_provenance(counts, policy, args, market)
    deliver_provenance(args, args.output)  # the sidecar, once the output is in place
    print(counts.summary(), file=sys.stderr)
    return 1 if args.strict and counts.errors else 0


def _trace_encoder(args: argparse.Namespace) -> Any:
    """The compact trace encoder the options ask for (None: the full trace of every line)."""
    if getattr(args, "trace_format", "compact") == "full":
        return None
    from ..engine.trace_codec import TraceEncoder

    return TraceEncoder(max_depth=args.trace_depth, max_rows=args.trace_values)


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain the decision for one beneficiary of a batch."""
    import json

    from ..batch.jsonl import parse_line

    if args.from_output and args.input:
        print("lead-rules: give --input (re-run the records) or --from-output (read a batch output), not both",
              file=sys.stderr)
        return 2
    policy = policy_or_exit(args.policy)
    if policy.doc.decision is not None:
        from .kinds import explain

        return explain(policy, args)
    market = market_or_exit(_market_arg(args), policy, args.allow_outside_effective)
    if args.from_output:
        from ..sql.explain import decision_from_row, read_output_row

        if not Path(args.from_output).is_file():
            print(f"lead-rules: no such output {args.from_output}", file=sys.stderr)
            return 2
        row = read_output_row(args.from_output, args.id)  # an unreadable output is the root problem: first
        refused = check_provenance(args, policy, market)
        if refused:
            return refused
        if row is None:
            print(f"lead-rules: no row with bene_id {args.id!r} in {args.from_output}", file=sys.stderr)
            return 2
        try:
            rebuilt = decision_from_row(policy, market, row)
        except ValueError as exc:
            print(
                f"lead-rules: cannot explain {args.id!r} from {args.from_output}: {exc} (an output written with "
                "--columns decisions or reasons has no criterion columns: explain with --input instead)",
                file=sys.stderr,
            )
            return 2
        print(rebuilt.explain() if args.detail else rebuilt.explain_for_auditor(policy.audit_context()))
        return 0
    if args.input is None and sys.stdin.isatty():
        print("lead-rules: give --input records.jsonl or --from-output decisions", file=sys.stderr)
        return 2
    unreadable = None  # the first line naming the id that is not a record
    with open_text(args.input, "r", sys.stdin) as src:
        for number, line in enumerate(src, start=1):
            if args.id not in line:
                continue
            record, bad = parse_line(line, number)
            if record is None and bad is not None and unreadable is None:
                unreadable = bad["errors"][0]["message"]
            if record is None or record.get("bene_id") != args.id:
                continue
            decision = policy.evaluate(record, market, trace=True)
            if args.json:
                from ..batch.jsonl import json_default

                print(json.dumps(decision.to_dict(), default=json_default, indent=2))
            elif args.detail:
                print(decision.explain())
            else:
                print(decision.explain_for_auditor(policy.audit_context()))
            return 0
    where = args.input or "standard input"
    if unreadable is not None:
        print(f"lead-rules: {where}: the line holding {args.id!r} is unreadable ({unreadable})", file=sys.stderr)
        return 2
    print(f"lead-rules: no record with bene_id {args.id!r} in {where}", file=sys.stderr)
    return 2


def _market_arg(args: argparse.Namespace) -> str:
    """The market of an alignment policy: ``--market``, or its general name ``--context``."""
    path: str | None = args.market or getattr(args, "context", None)
    if path is None:
        print("lead-rules: an alignment policy needs --market (or --context)", file=sys.stderr)
        raise SystemExit(2)
    return path


def cmd_schema(args: argparse.Namespace) -> int:
    """Check a schema file and print the JSON Schema derived from it."""
    import json

    from ..language.errors import Diagnostics
    from ..language.json_schema import json_schema
    from ..language.schema import load_schema

    diags = Diagnostics()
    schema = load_schema(Path(args.schema), diags)
    for d in diags.sorted():
        print(d.render(), file=sys.stderr)
    if schema is None or diags.has_errors:  # a duplicate key is an error, even when a schema came out
        return 1
    print(json.dumps(json_schema(schema), indent=2, ensure_ascii=False))
    return 0


def cmd_market(args: argparse.Namespace) -> int:
    """Fill a market's Medicaid partnerships from the arrangements the partnership policy finds valid."""
    from .kinds import market

    return market(args)


def cmd_align(args: argparse.Namespace) -> int:
    """Align a whole population with DuckDB, Spark or the interpreter (files, or standard input and output)."""
    from .streams import is_stream, run_align
    from .tools import outputs_refused

    output = None if is_stream(args.output) else args.output
    # before anything runs: an output or log that is a folder, an input, or the other one
    if outputs_refused({"--output": output, "--log": args.log}, [args.input, args.market, args.policy]):
        return 2
    return run_align(args, refuse_output)


def cmd_sql(args: argparse.Namespace) -> int:
    """Print the SQL a policy compiles to."""
    from ..sql.compiler import compile_policy

    policy = alignment_policy_or_exit(args.policy)
    market = market_or_exit(args.market, policy, args.allow_outside_effective)
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
    from ..testing.policy_tests import run_from_args

    code: int = run_from_args(args, sys.stdout)
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
    p = CommandParser(prog="lead-rules", description="LEAD ACO alignment rules as data.")
    p.add_argument("--version", action="version", version=f"lead-rules {_version()}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="check policies and print diagnostics")
    c.add_argument("policy", nargs="+", help="policy file, policy folder, or a folder of policy folders")
    c.add_argument(
        "--format", choices=["text", "json"], default="text", help="text (coloured in a terminal) or JSON"
    )
    c.set_defaults(func=cmd_check)

    e = sub.add_parser("evaluate", help="decide records (JSON Lines) with the interpreter")
    e.add_argument("--policy", required=True, help="policy file or folder")
    e.add_argument("--market", help="market YAML or JSON file (alignment policies)")
    e.add_argument("--context", help="the evaluation context: a market, or a file of context documents")
    e.add_argument("--input", help="records: .jsonl, or .yaml (one object or a list) (default: standard input)")
    e.add_argument("--output", help="decisions.jsonl (default: standard output)")
    e.add_argument("--trace", action="store_true", help="include the full decision trace in each line")
    e.add_argument("--strict", action="store_true", help="exit 1 when any line is an error")
    e.add_argument("--log", help="decisions.log.jsonl: one decision log line per decision (see docs/tools.md)")
    e.add_argument(
        "--trace-format",
        choices=["compact", "full"],
        default="compact",
        help="compact (default): each value written once in the output and referred to by id "
        "('trace_values' of the line that first needs it); full: the whole trace on every line",
    )
    e.add_argument(
        "--trace-depth", type=count_arg, default=None, metavar="N", help="cut the compact trace below depth N"
    )
    e.add_argument(
        "--trace-values",
        type=count_arg,
        default=None,
        metavar="N",
        help="keep the first N rows of each comprehension and N candidates of each ranking in the compact trace",
    )
    add_effective_option(e)
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("explain", help="explain the decision for one beneficiary")
    x.add_argument("--policy", required=True, help="policy file or folder")
    x.add_argument("--market", help="market YAML or JSON file (alignment policies)")
    x.add_argument("--context", help="the evaluation context (a market, or context documents)")
    x.add_argument("--input", help="records.jsonl or .yaml (default: standard input)")
    x.add_argument("--from-output", help="explain from a batch output (criterion columns) instead of re-running")
    x.add_argument(
        "--policy-hash-mismatch",
        choices=["refuse", "warn"],
        default="refuse",
        help="when the --from-output file records another policy hash than --policy: refuse (default, "
        "exit 3) or warn and explain anyway",
    )
    x.add_argument("--id", required=True, help="the bene_id to explain")
    x.add_argument("--json", action="store_true", help="print the decision with its trace as JSON")
    x.add_argument(
        "--detail",
        action="store_true",
        help="the programmer's view: every requirement of every pathway with the fields it read",
    )
    add_effective_option(x)
    x.set_defaults(func=cmd_explain)

    a = sub.add_parser("align", help="align a whole population (DuckDB by default, Spark, or the interpreter)")
    a.add_argument(
        "--engine",
        choices=["duckdb", "spark", "interpreter"],
        default="duckdb",
        help="duckdb (default, embedded), spark (local mode, needs pyspark and Java) or interpreter",
    )
    a.add_argument("--policy", required=True, help="policy file or folder")
    a.add_argument("--market", required=True, help="market YAML or JSON file")
    a.add_argument(
        "--input",
        required=True,
        help="population: .jsonl, .parquet, a folder of relational tables, or - for standard input "
        "(JSON Lines, or Parquet when it starts with PAR1)",
    )
    a.add_argument(
        "--output",
        required=True,
        help="decisions: .parquet, .csv or .jsonl, or - for standard output (the summary goes to standard error)",
    )
    a.add_argument(
        "--format",
        choices=["jsonl", "parquet", "csv"],
        default=None,
        help="output format, whatever the --output extension (default: from the extension; jsonl on a stream)",
    )
    a.add_argument(
        "--input-format",
        choices=["jsonl", "parquet"],
        default=None,
        help="input format, whatever the --input extension (default: from the extension; sniffed on standard input)",
    )
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
    a.add_argument("--log", help="decisions.log.jsonl: one decision log line per decision (see docs/tools.md)")
    add_effective_option(a)
    a.set_defaults(func=cmd_align)

    m = sub.add_parser("market", help="fill a market's medicaid_partners from the valid partnership arrangements")
    m.add_argument("--base", required=True, help="the market YAML to start from")
    m.add_argument("--arrangements", required=True, help="arrangements: .jsonl or .yaml (one or a list)")
    m.add_argument("--output", required=True, help="the market YAML to write")
    m.add_argument("--policy", default=None, help="the partnership policy (default: the bundled one)")
    m.set_defaults(func=cmd_market)

    s = sub.add_parser("schema", help="check a schema file (policies/schemas/*.yaml) and print its JSON Schema")
    s.add_argument("schema", help="schema YAML file")
    s.set_defaults(func=cmd_schema)

    q = sub.add_parser("sql", help="print the SQL the policy compiles to")
    q.add_argument(
        "--dialect",
        choices=["duckdb", "spark", "snowflake", "bigquery", "postgres"],
        default="duckdb",
        help="the SQL dialect to print (default duckdb)",
    )
    q.add_argument("--policy", required=True, help="policy file or folder")
    q.add_argument("--market", required=True, help="market YAML or JSON file")
    add_effective_option(q)
    q.set_defaults(func=cmd_sql)

    t = sub.add_parser("test", help="run the YAML policy tests and report criterion coverage")
    t.add_argument("paths", nargs="+", help="folders or *.test.yaml files")
    t.add_argument("--min-coverage", type=float, default=None, help="fail below this percentage")
    from ..testing.policy_tests import add_runner_options

    add_runner_options(t)
    t.set_defaults(func=cmd_test)

    g = sub.add_parser("generate", help="write a deterministic synthetic population and market")
    g.add_argument("--n", type=int, default=10_000, help="number of beneficiaries (default 10000)")
    g.add_argument("--seed", type=int, default=2028, help="random seed: the same seed writes the same files")
    g.add_argument("--performance-year", type=int, default=2028, help="performance year of the market (default 2028)")
    g.add_argument("--output", required=True, help="output folder")
    g.add_argument(
        "--formats",
        nargs="+",
        default=["jsonl", "parquet"],
        choices=["jsonl", "parquet"],
        help="population formats to write (default: jsonl parquet)",
    )
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="generate a population, align it with the LEAD policy, summarise")
    d.add_argument("--n", type=int, default=10_000, help="number of beneficiaries (default 10000)")
    d.add_argument("--seed", type=int, default=2028, help="random seed of the generated population")
    d.add_argument("--output", default="demo-output", help="output folder (default demo-output)")
    d.add_argument("--policy", default=None, help="policy folder (default: the bundled LEAD policy)")
    d.set_defaults(func=cmd_demo)

    from .tools import register

    register(sub)  # diff, why-not, report, verify-log, fmt, eval-expr
    p.commands = list(sub.choices)  # subcommands added above (or by other modules) are all listed
    p.subcommands = {name: parser for name, parser in sub.choices.items() if isinstance(parser, CommandParser)}
    return p


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("lead-rules")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lead-rules`` command."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    suggestion = command_typo(parser, words) or option_typo(parser, words)
    if suggestion is not None:
        print(f"lead-rules: error: {suggestion}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        code: Any = args.func(args)
    except KeyboardInterrupt:
        print("lead-rules: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return 0
    except Exception as exc:
        if _interrupted(exc):  # DuckDB turns Ctrl-C into "Query interrupted"
            print("lead-rules: interrupted", file=sys.stderr)
            return INTERRUPTED
        print(f"lead-rules: {describe_failure(exc)}", file=sys.stderr)
        return 2
    return int(code)


INTERRUPTED = 130  # the exit code of a command stopped by Ctrl-C (128 + SIGINT)


def _interrupted(exc: BaseException) -> bool:
    return "interrupted" in str(exc).lower() and type(exc).__name__ in ("RuntimeError", "InterruptException")


_EXTRAS = {"pyspark": "spark", "duckdb": "", "pyarrow": ""}


def describe_failure(exc: BaseException) -> str:
    """One line for an exception that reached the command line (bad input, missing dependency, full disk)."""
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"the input is not UTF-8 text ({exc.reason} at byte {exc.start}); this command reads JSON Lines "
            "(a Parquet population is read by 'lead-rules align')"
        )
    if isinstance(exc, ModuleNotFoundError):
        name = (exc.name or "").split(".")[0]
        extra = _EXTRAS.get(name)
        install = f"pip install 'lead-rules[{extra}]'" if extra else f"pip install {name}"
        return f"this needs the optional dependency '{name}', which is not installed: {install}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, ValueError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, (OverflowError, RecursionError, MemoryError)):
        what = {OverflowError: "a number is out of range", RecursionError: "the input is nested too deeply",
                MemoryError: "out of memory"}[type(exc)]
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return f"{what}" + (f" ({detail})" if detail and detail not in what else "")
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.Error):
        from ..sql.explain import duckdb_message

        return f"cannot process the input: {duckdb_message(exc)}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {type(exc).__name__}" + (f": {first}" if first else "")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
