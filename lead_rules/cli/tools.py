"""The command-line face of the tools: ``diff``, ``why-not``, ``report``, ``verify-log``, ``fmt``, ``eval-expr``.

:func:`register` adds the subcommands to the parser of :mod:`lead_rules.cli.main`;
each ``cmd_*`` function parses nothing itself, loads the policy and market with
the same located diagnostics as the other commands, calls its module in :mod:`lead_rules.tools` and
reports on standard error. Exit codes follow :mod:`lead_rules.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..engine.policy import Policy
from ..language.errors import PolicyError
from ..language.records import Market
from .loading import market_or_exit, policy_or_exit


def _policy(path: str) -> Policy:
    return policy_or_exit(path)


def _market(path: str, *policies: Policy | None) -> Market:
    from ..engine.policy import load_document

    market = market_or_exit(path)
    for policy in policies:  # the policies' market checks (market_checks:), at the file's lines, as align runs them
        if policy is None:
            continue
        try:
            load_document(path, Market, policy.check_market)
        except PolicyError as exc:
            raise SystemExit(_diagnostics_exit(exc)) from None
        policy.check_market(market)  # passes (the same data): remembered for the engines
    return market


def outputs_refused(outputs: dict[str, str | None], inputs: list[str | None]) -> bool:
    """Print one line and say True when an output is a folder, an input or another output (check it first)."""
    from ..engine.output_files import OutputRefused, refuse_outputs

    try:
        refuse_outputs(outputs, inputs)
    except OutputRefused as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return True
    return False


def refuse_outputs_or_exit(outputs: dict[str, str | None], inputs: list[str | None]) -> None:
    """:func:`outputs_refused`, exiting 2 (for a check deep inside a command)."""
    if outputs_refused(outputs, inputs):
        raise SystemExit(2)


def _diagnostics_exit(exc: PolicyError, code: int = 2) -> int:
    for d in exc.diagnostics:
        print(d.render(), file=sys.stderr)
    return code


def _context(args: argparse.Namespace) -> str | None:
    market: str | None = args.market or getattr(args, "context", None)
    return market


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare the decisions of two policy versions (or one policy with --set) on one population."""
    from ..tools.diff import diff_policies, write_result
    from ..tools.overrides import with_parameters

    market_path = _context(args)
    if outputs_refused({"--output": args.output}, [args.input, market_path, args.old, args.new]):
        return 2
    if args.new is None and not args.set:
        print("lead-rules: diff needs --new P2, or --set name=value to change a parameter of --old", file=sys.stderr)
        return 2
    for path in (args.input, market_path):
        if path is not None and not Path(path).exists():
            print(f"lead-rules: no such file {path}", file=sys.stderr)
            return 2
    old = _policy(args.old)
    new = _policy(args.new) if args.new else old
    try:
        new = with_parameters(new, args.set or [])
    except PolicyError as exc:
        return _diagnostics_exit(exc)
    kinds = [p.doc.decision.kind if p.doc.decision is not None else "alignment" for p in (old, new)]
    if kinds[0] != kinds[1]:
        print(f"lead-rules: cannot diff {old.id} (kind {kinds[0]}) with {new.id} (kind {kinds[1]}): "
              "they are different kinds (diff two versions of one policy)", file=sys.stderr)
        return 2
    try:
        if old.doc.decision is not None or new.doc.decision is not None:  # a verdict, ranking or computation
            from ..tools.kind_diff import diff_kinds

            result = diff_kinds(old, new, args.input, market_path)
        elif market_path is None:
            print("lead-rules: diff of an alignment policy needs --market (or --context)", file=sys.stderr)
            return 2
        else:
            result = diff_policies(old, new, _market(market_path, old, new), args.input, engine=args.engine)
    except ValueError as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    if args.output:
        try:
            write_result(result, Path(args.output))
        except ValueError as exc:
            print(f"lead-rules: {exc}", file=sys.stderr)
            return 2
    print(result.summary(), file=sys.stderr if args.output else sys.stdout)
    return 0


def _find_record(path: str, bene_id: str) -> dict[str, Any] | None:
    from ..sql.run import iter_records

    bad: dict[int, str] = {}
    try:
        for number, record, cause in iter_records(path):
            if record is not None and record.get("bene_id") == bene_id:
                return dict(record)
            if record is None and cause is not None:
                bad[number] = cause
    except (OSError, ValueError) as exc:  # a Parquet file cut short, or not Parquet (pyarrow's errors)
        if isinstance(exc, UnicodeDecodeError):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read {path}: {reason}") from None
    if bad:  # the record may be on a line that is not JSON: say so, not "no record with bene_id"
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            for number, line in enumerate(fh, start=1):
                if number in bad and bene_id in line:
                    raise ValueError(f"{path}: the line holding {bene_id!r} is unreadable ({bad[number]})")
    return None


def cmd_why_not(args: argparse.Namespace) -> int:
    """The smallest verified record changes that would align one beneficiary to one ACO."""
    from ..tools.why_not import why_not

    if outputs_refused({"--output": args.output}, [args.input, _context(args), args.policy]):

        return 2
    policy = _policy(args.policy)
    for path in (args.input, _context(args)):
        if path is not None and not Path(path).exists():
            print(f"lead-rules: no such file {path}", file=sys.stderr)
            return 2
    if policy.doc.decision is not None:  # a verdict, ranking or computation
        return _why_not_kind(policy, args)
    if getattr(args, "want", None) is not None:
        print(f"lead-rules: --want is for decision kinds; {policy.id} is an alignment policy: use --aco "
              "(the ACO the beneficiary should align to)", file=sys.stderr)
        return 2
    if args.aco is None or _context(args) is None:
        print("lead-rules: why-not on an alignment policy needs --market and --aco", file=sys.stderr)
        return 2
    market = _market(str(_context(args)), policy)
    try:
        record = _find_record(args.input, args.id)
    except ValueError as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    if record is None:
        print(f"lead-rules: no record with bene_id {args.id!r} in {args.input}", file=sys.stderr)
        return 2
    try:
        answer = why_not(policy, market, record, args.aco)
    except ValueError as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    now = answer.current
    print(f"{args.id} is now {now['outcome']}" + (f" to {now['aco_id']} ({now['pathway']})" if now["aco_id"] else ""))
    if now["aco_id"] == args.aco:
        print(f"{args.id} is already aligned to {args.aco}: nothing to change")
        return 0
    shown = [f"({s.pathway}) {s.description}" for s in answer.suggestions]
    lines = [s.to_dict() for s in answer.suggestions]
    return _suggestions_out(args, shown, lines, answer.impossible, f"aligns {args.id} to {args.aco}")


def _suggestions_out(
    args: argparse.Namespace, shown: list[str], lines: list[dict[str, Any]], impossible: list[str], what: str
) -> int:
    """Print the numbered suggestions and the reasons none works, write ``--output``; the exit code."""
    from ..batch.jsonl import dumps
    from ..engine.output_files import atomic_write_text

    for n, text in enumerate(shown, start=1):
        print(f"{n}. {text}")
    if args.output:
        atomic_write_text(Path(args.output), "".join(dumps(line) + "\n" for line in lines))
    if not lines:
        print(f"no change to the record {what}:")
    elif impossible:
        print("not possible through:")
    for reason in impossible:
        print(f"  - {reason}")
    return 0 if lines else 1


def _why_not_kind(policy: Policy, args: argparse.Namespace) -> int:
    """why-not for a decision kind: the changes that give the subject ``--id`` the outcome ``--want``."""
    from ..batch.jsonl import dumps
    from ..engine.kinds import decide_all
    from ..language.documents import read_documents
    from ..tools.kind_diff import read_context
    from ..tools.kind_why_not import find_subject, why_not_kind

    kind = policy.doc.decision.kind if policy.doc.decision is not None else "alignment"
    if args.aco is not None:
        print(f"lead-rules: --aco is for alignment; {policy.id} is a {kind}: use --want",
              file=sys.stderr)
        return 2
    try:
        context = read_context(policy, _context(args))
        docs = list(read_documents(args.input))
        index = find_subject(decide_all(policy, docs, context), args.id)
        answer = why_not_kind(policy, docs, index, context, args.want)
    except OSError as exc:
        print(f"lead-rules: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    def shown(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {dumps(v)}" for k, v in d.items() if not isinstance(v, dict))

    print(f"{args.id} is now: {shown(answer.current)}; wanted: {answer.goal}")
    if answer.reached:
        print(f"{args.id} already has {answer.goal}: nothing to change")
        return 0
    pairs = list(zip(answer.suggestions, answer.after, strict=True))
    texts = [f"{s.description}\n   then: {shown(after)}" for s, after in pairs]
    lines = [{**s.to_dict(), "decision": after} for s, after in pairs]
    return _suggestions_out(args, texts, lines, answer.impossible, f"gives {args.id} {answer.goal}")


def cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML audit report of a decisions file."""
    from ..tools.report import counts_add_up, write_report

    decisions = Path(args.input)
    if outputs_refused({"--output": args.output}, [args.input, args.policy, args.market, args.population]):
        return 2
    if not decisions.exists():
        print(f"lead-rules: no such input {args.input}", file=sys.stderr)
        return 2
    policy = _policy(args.policy) if args.policy else None
    market = _market(args.market, policy) if args.market else None
    population = Path(args.population) if args.population else None
    if population is not None and not population.exists():
        print(f"lead-rules: no such population {args.population}", file=sys.stderr)
        return 2
    try:
        data = write_report(decisions, Path(args.output), policy, market, population)
    except (ValueError, duckdb_error()) as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    c = data.counts
    print(
        f"{args.output}: {c['records']} records ({c['aligned']} aligned, {c['not_aligned']} not aligned, "
        f"{c['error']} errors)" + ("" if counts_add_up(data) else " -- the counts do not add up"),
        file=sys.stderr,
    )
    return 0 if counts_add_up(data) else 1


def duckdb_error() -> type[Exception]:
    """DuckDB's error class (a bad decisions file)."""
    import duckdb

    err: type[Exception] = duckdb.Error
    return err


def write_align_log_or_exit(args: argparse.Namespace) -> None:
    """Write the decision log of an ``align`` run (``--log``)."""
    from ..engine.policy import load_market, load_policy
    from ..tools.decision_log import write_align_log

    try:
        n = write_align_log(
            load_policy(args.policy),
            load_market(args.market),
            Path(args.input),
            Path(args.output),
            args.engine,
            Path(args.log),
        )
    except ValueError as exc:
        print(f"lead-rules: no decision log: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"logged {n} decisions -> {args.log}", file=sys.stderr)


def cmd_verify_log(args: argparse.Namespace) -> int:
    """Re-decide a decision log (or a sample of it) against its input and report differences."""
    import json

    from ..tools.decision_log import read_log, verify_log

    policy = _policy(args.policy)
    market = _market(args.market, policy)
    for path in (args.log, args.input):
        if not Path(path).exists():
            print(f"lead-rules: no such file {path}", file=sys.stderr)
            return 2
    try:
        entries = read_log(Path(args.log))
        result = verify_log(policy, market, entries, Path(args.input), sample=args.sample, seed=args.seed)
    except ValueError as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    for diff in result.differences:
        print(json.dumps(diff, default=str, separators=(",", ":")))
    print(result.summary(), file=sys.stderr)
    return 1 if result.differences else 0


def cmd_fmt(args: argparse.Namespace) -> int:
    """Format policy YAML files (or --check that they are formatted)."""
    from ..tools.fmt import fmt_paths

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"lead-rules: no such file or folder {missing[0]}", file=sys.stderr)
        return 2
    result = fmt_paths([Path(p) for p in args.paths], check=args.check)
    for path, message in result.errors:
        print(message if message.startswith(f"{path}:") else f"{path}: {message}", file=sys.stderr)
    for path in result.changed:
        print(f"{'would reformat' if args.check else 'reformatted'} {path}")
    n = len(result.changed) + len(result.unchanged)
    if n or not result.errors:  # a lone bad file: its diagnostic alone
        print(f"{len(result.changed)} of {n} file(s) {'would change' if args.check else 'changed'}", file=sys.stderr)
    if result.errors:
        return 2
    return 1 if args.check and result.changed else 0


def _read_record(path: str, bene_id: str | None) -> dict[str, Any] | None:
    from ..language.strict_json import parse_record, read_json_lines

    p = Path(path)
    if p.suffix.lower() == ".json":
        value, bad = parse_record(p.read_text(encoding="utf-8", errors="surrogateescape"))
        if bad is not None:
            raise ValueError(f"{path}: {bad}")
        if not isinstance(value, dict):
            raise ValueError(f"{path} does not hold one JSON object (a record)")
        return value
    if bene_id is None and p.suffix.lower() in (".jsonl", ".ndjson"):
        for number, _line, value, bad in read_json_lines(p):  # the first record of the file
            if bad is not None:
                raise ValueError(f"{path}:{number}: {bad}")
            return value if isinstance(value, dict) else None
        return None
    if bene_id is None:
        raise ValueError("give --id to choose the record of a population file")
    return _find_record(path, bene_id)


def cmd_eval_expr(args: argparse.Namespace) -> int:
    """Print an expression's value and trace against one record."""
    import datetime as dt
    import json

    from ..language.records import Market
    from ..tools.eval_expr import evaluate_expression, render_trace

    policy = _policy(args.policy)
    if args.market:
        market = _market(args.market, policy)
    else:
        folder = Path(args.policy)
        found = sorted((folder / "markets").glob("*.yaml")) if folder.is_dir() else []
        if len(found) == 1:
            market = _market(str(found[0]), policy)
            print(f"(market: {found[0]})", file=sys.stderr)
        else:
            market = Market(performance_year=args.performance_year or dt.date.today().year, acos=[])
            print(f"(no market: performance year {market.performance_year}, no ACO)", file=sys.stderr)
    if not Path(args.record).exists():
        print(f"lead-rules: no such record file {args.record}", file=sys.stderr)
        return 2
    try:
        record = _read_record(args.record, args.id)
        if record is None:
            print(f"lead-rules: no record {args.id or ''} in {args.record}", file=sys.stderr)
            return 2
        result = evaluate_expression(policy, args.expression, record, market, args.aco)
    except PolicyError as exc:
        return _diagnostics_exit(exc, 1)
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(w.render(), file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return 0
    from ..language.values import to_json

    value = to_json(result.value)
    print(
        ("unknown" if value is None else json.dumps(value, default=str))
        + (f"    (for {result.aco_id})" if result.aco_id else "")
    )
    print("\n".join(render_trace(result.trace)))
    return 0


def register(sub: Any) -> None:
    """Add the tools' subcommands to the ``lead-rules`` subparsers ``sub``."""
    d = sub.add_parser("diff", help="impact of a policy change: transitions and their causes")
    d.add_argument("--old", required=True, help="the current policy (file or folder)")
    d.add_argument("--new", help="the changed policy (default: --old with the --set changes)")
    where = d.add_mutually_exclusive_group()
    where.add_argument("--market", help="market YAML or JSON file (an alignment policy needs it)")
    where.add_argument(
        "--context", help="the decision context: the market, or the context documents of a decision kind"
    )
    d.add_argument(
        "--input", required=True,
        help="population: .jsonl, .parquet, or a folder of relational tables; a decision kind's .jsonl or .yaml",
    )
    d.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="change a parameter of the new policy (repeatable)"
    )
    d.add_argument(
        "--engine",
        choices=["duckdb", "interpreter"],
        default="duckdb",
        help="engine that decides both versions (default duckdb; the interpreter where a policy does not compile)",
    )
    d.add_argument("--output", help="D.json (machine-readable) or D.html; the summary goes to standard output")
    d.set_defaults(func=cmd_diff)

    w = sub.add_parser(
        "why-not", help="the smallest verified record changes that would align a beneficiary (or change an outcome)"
    )
    w.add_argument("--policy", required=True, help="policy file or folder")
    wc = w.add_mutually_exclusive_group()
    wc.add_argument("--market", help="market YAML or JSON file (alignment)")
    wc.add_argument("--context", help="the market, or a decision kind's context documents (e.g. arrangements)")
    w.add_argument("--input", required=True, help="records (.jsonl or .parquet; a decision kind's .jsonl or .yaml)")
    w.add_argument("--id", required=True, help="the bene_id, or the value of a subject field (a state, an id)")
    w.add_argument("--aco", help="alignment: the ACO the beneficiary should be aligned to")
    w.add_argument(
        "--want",
        help="a decision kind: the outcome wanted (default: the other one), or for a computation "
        "CRITERION[=false] (default: its first note that does not hold)",
    )
    w.add_argument("--output", help="S.jsonl: one suggestion a line, with the whole changed record")
    w.set_defaults(func=cmd_why_not)

    r = sub.add_parser("report", help="one self-contained HTML audit report of a decisions file")
    r.add_argument("--input", required=True, help="decisions (.parquet, .csv or .jsonl from align or evaluate)")
    r.add_argument("--policy", help="the policy that decided (id, version, hash, descriptions, citations)")
    r.add_argument("--market", help="the market (to spread reasons that hold for every ACO over the ACOs)")
    r.add_argument("--population", help="the population decided (for the state of residence)")
    r.add_argument("--output", required=True, help="report.html")
    r.set_defaults(func=cmd_report)

    v = sub.add_parser("verify-log", help="re-decide a decision log (or a sample) and report any difference")
    v.add_argument("--log", required=True, help="decisions.log.jsonl written by evaluate --log or align --log")
    v.add_argument("--policy", required=True, help="policy file or folder")
    v.add_argument("--market", required=True, help="market YAML or JSON file")
    v.add_argument("--input", required=True, help="the records that were decided (.jsonl or .parquet)")
    v.add_argument("--sample", type=int, help="re-decide only this many logged decisions, chosen at random")
    v.add_argument("--seed", type=int, default=0, help="seed of the sample")
    v.set_defaults(func=cmd_verify_log)

    f = sub.add_parser("fmt", help="format policy YAML files (comments kept); --check for CI")
    f.add_argument("paths", nargs="+", help="YAML files or folders")
    f.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file would change")
    f.set_defaults(func=cmd_fmt)

    x = sub.add_parser("eval-expr", help="print an expression's value and trace against one record")
    x.add_argument("--policy", required=True, help="policy file or folder")
    x.add_argument("--record", required=True, help="record.json (one object), or records .jsonl/.parquet with --id")
    x.add_argument("--id", help="the bene_id, in a file of several records")
    x.add_argument("--market", help="market file (default: the policy's markets/*.yaml when there is one)")
    x.add_argument(
        "--aco", help="bind `aco` to this ACO of the market (default: the first, when the expression reads it)"
    )
    x.add_argument("--performance-year", type=int, help="without a market: the performance year")
    x.add_argument("--json", action="store_true", help="print the value and the whole trace as JSON")
    x.add_argument("expression", help="an expression of the policy language, e.g. 'count(bene.claims)'")
    x.set_defaults(func=cmd_eval_expr)
