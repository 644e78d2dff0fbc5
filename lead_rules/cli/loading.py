"""Loading a policy or a market for a command: diagnostics on standard error and an exit code, never a traceback.

Used by every command of :mod:`.main` and by :mod:`.demo`.
"""

from __future__ import annotations

import sys

from ..engine.policy import Policy, load_market, load_policy
from ..language.errors import PolicyError
from ..language.records import Market


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


def market_or_exit(path: str) -> Market:
    """The market at ``path``, or its diagnostics on standard error and exit code 2."""
    try:
        return load_market(path)
    except PolicyError as exc:
        for d in exc.diagnostics:
            print(d.render(), file=sys.stderr)
        raise SystemExit(2) from None
