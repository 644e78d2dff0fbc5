"""The command line of the decision kinds (verdict, ranking, computation): evaluate, explain, market.

Called by :mod:`lead_rules.cli` when a policy has a ``decision:`` section.
Inputs are JSON Lines or YAML files; the context (``--context``) is a YAML
or JSON Lines file of documents validated against the policy's context
schema. Every input document gives one output line, in order; bad input
gives an ``error`` line naming the field, and the batch goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..batch.jsonl import BatchCounts, json_default
from ..engine.kinds import SubjectResult, decide_all, load_contexts
from ..engine.policy import Policy
from ..language.documents import read_all, read_documents
from .loading import context_key_hints, note_provenance


def _context(policy: Policy, path: str | None) -> Any:
    if path is None:
        if policy.doc.decision is not None and policy.doc.decision.lookup is not None:
            print("lead-rules: this policy looks subjects up in a context: give --context", file=sys.stderr)
            raise SystemExit(2)
        return None
    try:
        docs = read_all(path)
        for hint in context_key_hints(policy, docs):  # a typo in a key a schema keeps as an extension
            print(f"lead-rules: warning: {path}: {hint}", file=sys.stderr)
        return load_contexts(policy, docs)
    except (OSError, ValueError) as exc:
        print(f"lead-rules: {path}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _documents(path: str | None) -> Iterator[tuple[int, Any, dict[str, Any] | None]]:
    try:
        yield from read_documents(path, None if path not in (None, "-") else sys.stdin)
    except OSError as exc:
        print(f"lead-rules: cannot read {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


def decide(policy: Policy, input_path: str | None, context_path: str | None, trace: bool) -> list[SubjectResult]:
    """Decide every document of ``input_path`` against ``context_path``."""
    context = _context(policy, context_path)
    return decide_all(policy, _documents(input_path), context, trace=trace)


def evaluate(policy: Policy, args: argparse.Namespace, dst: IO[str]) -> int:
    """``lead-rules evaluate`` for a decision kind."""
    results = decide(policy, args.input, args.context or args.market, args.trace)
    counts = BatchCounts()
    for r in results:
        row = r.to_row()
        if args.trace and r.trace is not None:
            row["trace"] = r.trace.to_dict()
        dst.write(json.dumps(row, default=json_default, separators=(",", ":"), ensure_ascii=False) + "\n")
        counts.add(r.outcome)
    note_provenance(counts, policy, args)
    print(counts.summary(), file=sys.stderr)
    return 1 if args.strict and counts.errors else 0


def explain(policy: Policy, args: argparse.Namespace) -> int:
    """``lead-rules explain`` for a decision kind: the subject whose first subject field is ``--id``."""
    results = decide(policy, args.input, args.context or args.market, True)
    for r in results:
        if args.id in [str(v) for v in r.subject.values()]:
            if args.json:
                row = r.to_row()
                if r.trace is not None:
                    row["trace"] = r.trace.to_dict()
                print(json.dumps(row, default=json_default, indent=2))
            else:
                print(r.explain())
            return 0
    print(f"lead-rules: no subject {args.id!r} in {args.input or 'standard input'}", file=sys.stderr)
    return 2


def _bundled_policy(name: str) -> str:
    """The folder of the bundled policy ``name`` (installed wheel or source tree)."""
    from ..language.schema import schema_dirs

    for d in schema_dirs():
        if (d.parent / name).is_dir():
            return str(d.parent / name)
    return str(Path("policies") / name)


def _plain_market(path: Path) -> dict[str, Any]:
    docs = read_all(path)
    if len(docs) != 1:
        raise ValueError(f"{path}: a market file holds one market")
    return docs[0]


def market(args: argparse.Namespace) -> int:
    """``lead-rules market``: fill each ACO's ``medicaid_partners`` from the valid arrangements."""
    import yaml

    from ..engine.output_files import atomic_write_text
    from ..engine.policy import load_market
    from .loading import policy_or_exit
    from .tools import outputs_refused

    if outputs_refused({"--output": args.output}, [args.base, args.arrangements, args.policy]):
        return 2
    policy = policy_or_exit(args.policy or _bundled_policy("partnership"))
    try:
        base = _plain_market(Path(args.base))
    except (OSError, ValueError) as exc:
        why = "not UTF-8 text (a binary file)" if isinstance(exc, UnicodeDecodeError) else exc
        print(f"lead-rules: cannot read the base market {args.base}: {why}", file=sys.stderr)
        return 2
    results = decide_all(policy, _documents(args.arrangements), None, trace=False)
    arrangements = {line: doc for line, doc, _ in _documents(args.arrangements)}
    valid_label = policy.doc.decision.outcomes[0] if policy.doc.decision else "valid"
    acos = {a.get("id"): a for a in base.get("acos") or [] if isinstance(a, dict)}
    invalid = 0
    for r in results:
        doc = arrangements.get(r.line or -1)
        who = r.subject.get("id") or f"line {r.line}"
        if r.outcome != valid_label or doc is None:
            invalid += 1
            why = "; ".join(f"{x.criterion} {x.value}" for x in r.reasons) or "; ".join(
                f"{e.get('field') or 'record'}: {e['message']}" for e in r.errors)
            print(f"invalid arrangement {who}: {why}", file=sys.stderr)
            continue
        aco = acos.get(doc.get("aco_id"))
        if aco is None:
            invalid += 1
            print(f"arrangement {who}: ACO {doc.get('aco_id')!r} is not in the base market", file=sys.stderr)
            continue
        entity = doc.get("medicaid_entity") or {}
        entry: dict[str, Any] = {"state": entity.get("state"), "kind": entity.get("kind")}
        if entity.get("plan_ids"):
            entry["plan_ids"] = list(entity["plan_ids"])
        effective = {k: v for k, v in (doc.get("effective") or {}).items() if v is not None}
        if effective:
            entry["effective"] = effective
        partners = aco.setdefault("medicaid_partners", [])
        if entry not in partners:
            partners.append(entry)
    try:
        load_market(base)  # the result must be a valid market
    except Exception as exc:
        print(f"lead-rules: the market built is not valid: {exc}", file=sys.stderr)
        return 1
    out = Path(args.output)
    atomic_write_text(out, yaml.safe_dump(base, sort_keys=False, default_flow_style=None))
    print(f"{len(results) - invalid} valid arrangement(s), {invalid} invalid -> {out}", file=sys.stderr)
    return 0


def evaluate_alignment_documents(policy: Policy, market: Any, args: argparse.Namespace, dst: IO[str]) -> int:
    """``lead-rules evaluate`` of an alignment policy over a YAML file of records (one object or a list)."""
    from ..batch.jsonl import dumps, error_row

    counts = BatchCounts()
    for line, doc, error in _documents(args.input):
        if doc is None:
            row = error_row(None, line, error.get("field") if error else None,
                            error["message"] if error else f"line {line} cannot be read")
        else:
            decision = policy.evaluate(doc, market, trace=args.trace)
            row = {"line": line, **decision.summary_dict()}
            if args.trace and decision.trace is not None:
                row["trace"] = decision.trace.to_dict()
        dst.write(dumps(row) + "\n")
        counts.add(row["outcome"])
    note_provenance(counts, policy, args, market)
    print(counts.summary(), file=sys.stderr)
    return 1 if args.strict and counts.errors else 0
