"""Loading a policy or a market for a command: diagnostics on standard error and an exit code, never a traceback.

Used by every command of :mod:`.main` and by :mod:`.demo`.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from ..engine.policy import Policy, load_market, load_policy
from ..language.errors import PolicyError
from ..language.records import Market

if TYPE_CHECKING:  # typing only: the batch module is not imported at startup
    from ..batch.jsonl import BatchCounts


def policy_or_exit(path: str) -> Policy:
    """The checked policy at ``path``, or its diagnostics on standard error and exit code 1."""
    try:
        return load_policy(path)
    except PolicyError as exc:
        for d in exc.diagnostics:
            print(d.render(), file=sys.stderr)
        errors = sum(1 for d in exc.diagnostics if d.severity == "error")
        print(f"{path}: {errors} error(s); nothing evaluated", file=sys.stderr)
        raise SystemExit(1) from None


def market_or_exit(path: str, policy: Policy | None = None) -> Market:
    """The market at ``path`` or its diagnostics on standard error and exit code 2.

    Given ``policy``, the market's performance year must be in its effective period (E403).
    """
    try:
        return load_market(path, policy)
    except PolicyError as exc:
        for d in exc.diagnostics:
            print(d.render(), file=sys.stderr)
        raise SystemExit(2) from None


def write_summary_line(
    dst: IO[str], counts: BatchCounts, policy: Policy, args: argparse.Namespace, market: Market | None = None
) -> None:
    """End an ``evaluate`` output with its summary line: the counts and the provenance (the interpreter)."""
    from ..engine.provenance import provenance, summary_line

    context = None if market is not None else (getattr(args, "context", None) or getattr(args, "market", None))
    input_path = getattr(args, "input", None)
    record = provenance(policy, "interpreter", market=market, context=context, input_path=input_path,
                        rows=counts.read)
    dst.write(summary_line(record, counts.to_dict()))


PROVENANCE_MISMATCH = 3
"""The exit code of ``explain --from-output`` refusing an output made by another policy."""


def check_provenance(args: argparse.Namespace, policy: Policy, market: Market) -> int:
    """0, or :data:`PROVENANCE_MISMATCH` after one line when the output was made by another policy.

    With ``--policy-hash-mismatch=warn`` the line is a warning and the explanation goes on. An output
    without provenance (written before it was recorded) and another market are warnings.
    """
    from ..engine.provenance import market_hash, read_provenance

    record = read_provenance(args.from_output)
    if record is None:
        print(f"lead-rules: warning: {args.from_output} records no provenance; the policy that made it "
              "cannot be checked", file=sys.stderr)
        return 0
    made = record.get("policy") or {}
    if made.get("hash") != policy.content_hash:
        warn = args.policy_hash_mismatch == "warn"
        print(
            f"lead-rules: {'warning: ' if warn else ''}{args.from_output} was made by policy {made.get('id')} "
            f"v{made.get('version')} (hash {str(made.get('hash'))[:12]}), but {args.policy} is {policy.id} "
            f"v{policy.version} (hash {policy.content_hash[:12]})"
            + ("" if warn else "; explain with that policy, or pass --policy-hash-mismatch=warn"),
            file=sys.stderr,
        )
        if not warn:
            return PROVENANCE_MISMATCH
    made_market = (record.get("market") or {}).get("hash")
    if made_market is not None and made_market != market_hash(market):
        print(f"lead-rules: warning: {args.from_output} was made with another market (hash {made_market[:12]})",
              file=sys.stderr)
    return 0
