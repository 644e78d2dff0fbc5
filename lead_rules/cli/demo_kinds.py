"""The demo of the three decisions beside alignment: state selection, partnership check, savings settlement.

Runs the bundled policies (``policies/state-selection``, ``policies/partnership``,
``policies/savings-sharing``) on their bundled samples and prints each
decision with its explanation; ``make demo`` runs it after the alignment demo.
``python -m lead_rules.cli.demo_kinds`` does the same.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..engine.kinds import decide_all, load_contexts
from ..engine.policy import load_policy
from ..language.documents import read_all, read_documents
from ..language.schema import schema_dirs


def policies_dir() -> Path:
    """The folder of the bundled policies."""
    for d in schema_dirs():
        if (d.parent / "partnership").is_dir():
            return d.parent
    raise FileNotFoundError("the bundled policies are not installed")


def run(out: TextIO = sys.stdout) -> int:
    """Decide the bundled samples with the three policies and print the explained results."""
    root = policies_dir()
    arrangements = root / "partnership" / "samples" / "arrangements.yaml"
    plan = [
        ("State selection (RFA §VII.D): up to two states", "state-selection",
         root / "state-selection" / "samples" / "states.yaml", None),
        ("Partnership arrangement minimum elements (RFA §VII.D)", "partnership", arrangements, None),
        ("Savings sharing settlement (integration.md §3)", "savings-sharing",
         root / "savings-sharing" / "samples" / "settlements.yaml", arrangements),
    ]
    for title, name, inputs, context_path in plan:
        policy = load_policy(root / name)
        context = load_contexts(policy, read_all(context_path)) if context_path is not None else None
        results = decide_all(policy, read_documents(inputs), context, trace=True)
        out.write(f"\n=== {title}: {policy.id} v{policy.version}, {len(results)} input(s) ===\n")
        for r in results:
            out.write(r.explain() + "\n\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
