"""The command-line face of the tools: ``diff``, ``why-not``, ``report``, ``verify-log``, ``fmt``, ``eval-expr``.

:func:`register` adds the subcommands to the parser of :mod:`lead_rules.cli`;
each ``cmd_*`` function parses nothing itself, loads the policy and market with
the same located diagnostics as the other commands, calls its tool module and
reports on standard error. Exit codes follow :mod:`lead_rules.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import PolicyError
from ..policy import Policy


def _policy(path: str) -> Policy:
    from ..cli import _policy_or_exit

    return _policy_or_exit(path)


def _market(path: str) -> Any:
    from ..cli import _market_or_exit

    return _market_or_exit(path)


def _diagnostics_exit(exc: PolicyError, code: int = 2) -> int:
    for d in exc.diagnostics:
        print(d.render(), file=sys.stderr)
    return code


def _context(args: argparse.Namespace) -> str | None:
    market: str | None = args.market or getattr(args, "context", None)
    return market


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare the decisions of two policy versions (or one policy with --set) on one population."""
    from .diff import diff_policies, write_result
    from .overrides import with_parameters

    market_path = _context(args)
    if market_path is None:
        print("lead-rules: diff needs --market (or --context)", file=sys.stderr)
        return 2
    if args.new is None and not args.set:
        print("lead-rules: diff needs --new P2, or --set name=value to change a parameter of --old", file=sys.stderr)
        return 2
    if not Path(args.input).exists():
        print(f"lead-rules: no such input {args.input}", file=sys.stderr)
        return 2
    old = _policy(args.old)
    new = _policy(args.new) if args.new else old
    try:
        new = with_parameters(new, args.set or [])
    except PolicyError as exc:
        return _diagnostics_exit(exc)
    market = _market(market_path)
    try:
        result = diff_policies(old, new, market, args.input, engine=args.engine)
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


def register(sub: Any) -> None:
    """Add the tools' subcommands to the ``lead-rules`` subparsers ``sub``."""
    d = sub.add_parser("diff", help="impact of a policy change: transitions and their causes")
    d.add_argument("--old", required=True, help="the current policy (file or folder)")
    d.add_argument("--new", help="the changed policy (default: --old with the --set changes)")
    where = d.add_mutually_exclusive_group(required=True)
    where.add_argument("--market", help="market YAML or JSON file")
    where.add_argument("--context", help="the decision context file (the market, for alignment)")
    d.add_argument("--input", required=True, help="population: .jsonl, .parquet, or a folder of relational tables")
    d.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="change a parameter of the new policy (repeatable)"
    )
    d.add_argument("--engine", choices=["duckdb", "interpreter"], default="duckdb")
    d.add_argument("--output", help="D.json (machine-readable) or D.html; the summary goes to standard output")
    d.set_defaults(func=cmd_diff)
