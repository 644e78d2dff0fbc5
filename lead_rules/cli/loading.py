"""Loading a policy or a market for a command: diagnostics on standard error and an exit code, never a traceback.

Used by every command of :mod:`.main` and by :mod:`.demo`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.policy import Policy, load_market, load_policy
from ..language.errors import Diagnostic, PolicyError
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


def alignment_policy_or_exit(path: str) -> Policy:
    """:func:`policy_or_exit` for the SQL commands (``sql``, ``align``): a decision kind (verdict,
    ranking, computation) does not compile to SQL, which is S120 and exit code 1."""
    policy = policy_or_exit(path)
    if policy.doc.decision is not None:  # the kind is the root problem, before any market check
        print(
            f"lead-rules: error[S120]: {path} is a '{policy.doc.decision.kind}' decision, which does not "
            "compile to SQL; use 'lead-rules evaluate'",
            file=sys.stderr,
        )
        raise SystemExit(1)
    return policy


def market_or_exit(path: str, policy: Policy | None = None, allow_outside_effective: bool = False) -> Market:
    """The market at ``path`` or its diagnostics on standard error and exit code 2.

    Given ``policy``, the market's performance year must be in its effective period (E403);
    with ``allow_outside_effective`` (``--allow-outside-effective``) that is a warning and the
    market is used.
    """
    try:
        return load_market(path, policy)
    except PolicyError as exc:
        errors = [d for d in exc.diagnostics if d.severity == "error"]
        outside = allow_outside_effective and errors and all(_outside_effective(d) for d in errors)
        for d in exc.diagnostics:
            shown = dataclasses.replace(d, severity="warning") if outside and d in errors else d
            print(shown.render(), file=sys.stderr)
        if not outside:
            raise SystemExit(2) from None
    return load_market(path)  # every other check of the market (not the policy's period) still holds


def _outside_effective(d: Diagnostic) -> bool:
    return d.code == "E403" and "outside the effective period" in d.message


def add_effective_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-outside-effective`` on a command that loads a market for a policy."""
    parser.add_argument(
        "--allow-outside-effective",
        action="store_true",
        help="a market whose performance year is outside the policy's effective period is a warning "
        "(E403), not an error",
    )


def note_provenance(
    counts: BatchCounts, policy: Policy, args: argparse.Namespace, market: Market | None = None
) -> None:
    """Remember an ``evaluate`` run's provenance and counts on ``args`` for :func:`deliver_provenance`.

    The decision lines stay one per input line (the output contract); the provenance goes
    to the sidecar file once the output is in place, or to standard error for standard output.
    """
    from ..engine.provenance import provenance

    context = None if market is not None else (getattr(args, "context", None) or getattr(args, "market", None))
    input_path = getattr(args, "input", None)
    record = provenance(policy, "interpreter", market=market, context=context, input_path=input_path,
                        rows=counts.read)
    args.provenance_record = {**record, "counts": counts.to_dict()}


def deliver_provenance(args: argparse.Namespace, output: str | None) -> None:
    """Write the provenance noted on ``args``: ``output``'s sidecar, or one line on standard error."""
    import json

    from ..engine.provenance import write_sidecar

    record = getattr(args, "provenance_record", None)
    if record is None:
        return
    if output is None or output == "-" or not Path(output).is_file():
        print("lead-rules: provenance " + json.dumps(record, separators=(",", ":"), default=str), file=sys.stderr)
    else:
        write_sidecar(output, record)


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


def context_key_hints(policy: Policy, docs: list[Any]) -> list[str]:
    """``context document 1 (X): unknown key 'aco_idd'; did you mean 'aco_id'?`` for each likely typo.

    A context schema may keep unknown keys (extensions), so only a key close to a declared
    field that the document lacks is reported.
    """
    from ..language.errors import did_you_mean
    from ..language.records import field_names_at

    schema = policy.context_schema
    if schema is None:
        return []
    model = schema.model
    hints: list[str] = []

    def walk(value: Any, loc: tuple[Any, ...], who: str) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*loc, i), who)
            return
        if not isinstance(value, dict):
            return
        allowed = field_names_at(model, (*loc, "_"))
        if not allowed:
            return
        for key in value:
            if key in allowed:
                walk(value[key], (*loc, key), who)
                continue
            hint = did_you_mean(str(key), [a for a in allowed if a not in value])
            if hint:
                where = ".".join(str(p) for p in (*loc, key))
                hints.append(f"{who}: unknown key '{where}'; {hint}")

    for i, doc in enumerate(docs, start=1):
        name = doc.get("id") if isinstance(doc, dict) else None
        walk(doc, (), f"context document {i}" + (f" ({name})" if name else ""))
    return hints
