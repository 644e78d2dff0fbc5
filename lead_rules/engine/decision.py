"""Decisions: what the interpreter returns for one beneficiary.

A :class:`Decision` carries the outcome (``aligned`` | ``not_aligned`` |
``error``), the ACO and deciding pathway, the reasons (the requirements that
held for the winner, or for every pathway tried the requirements that failed
and for which ACOs), errors, the policy identity (id, version, content hash)
and, when asked for, the full :class:`~lead_rules.engine.trace.TraceNode` tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .explain import explain_decision
from .trace import TraceNode


@dataclass(frozen=True)
class Reason:
    """One requirement of one pathway, with its value and the ACOs it applies to."""

    pathway: str
    criterion: str
    value: str  # "true" | "false" | "unknown" | "tie"
    acos: tuple[str, ...] | None  # None: every ACO of the market
    source: str | None = None
    description: str | None = None
    explanation: str | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = {
            "pathway": self.pathway,
            "criterion": self.criterion,
            "value": self.value,
            "acos": list(self.acos) if self.acos is not None else "all",
        }
        for key in ("source", "description", "explanation", "at"):
            v = getattr(self, key)
            if v:
                d[key] = v
        return d


@dataclass(frozen=True)
class PathwayResult:
    """How one pathway of the hierarchy went."""

    pathway: str
    status: str  # "decided" | "failed" | "tie" | "skipped"
    aco_id: str | None
    qualifying: tuple[str, ...]
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "pathway": self.pathway,
            "status": self.status,
            "aco_id": self.aco_id,
            "qualifying": list(self.qualifying),
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass
class Decision:
    """The alignment decision for one beneficiary."""

    bene_id: str | None
    outcome: str  # "aligned" | "not_aligned" | "error"
    aco_id: str | None
    pathway: str | None
    reasons: list[Reason]
    errors: list[dict[str, Any]]
    policy_id: str
    policy_version: str
    policy_hash: str
    performance_year: int | None = None
    pathways: list[PathwayResult] = field(default_factory=list)
    trace: TraceNode | None = None

    def to_dict(self, trace: bool = True) -> dict[str, Any]:
        """JSON-ready form (the trace included when present and ``trace``)."""
        d: dict[str, Any] = {
            "bene_id": self.bene_id,
            "outcome": self.outcome,
            "aco_id": self.aco_id,
            "pathway": self.pathway,
            "reasons": [r.to_dict() for r in self.reasons],
            "errors": self.errors,
            "policy": {"id": self.policy_id, "version": self.policy_version, "hash": self.policy_hash},
            "performance_year": self.performance_year,
            "pathways": [p.to_dict() for p in self.pathways],
        }
        if trace and self.trace is not None:
            d["trace"] = self.trace.to_dict()
        return d

    def summary_dict(self) -> dict[str, Any]:
        """The short batch form: bene_id, outcome, aco_id, pathway, reasons, errors."""
        return {
            "bene_id": self.bene_id,
            "outcome": self.outcome,
            "aco_id": self.aco_id,
            "pathway": self.pathway,
            "reasons": [_short_reason(r) for r in self.reasons],
            "errors": self.errors,
        }

    def explain(self) -> str:
        """Plain English for an auditor (see :mod:`lead_rules.engine.explain`)."""
        return explain_decision(self)


def _short_reason(r: Reason) -> dict[str, Any]:
    d: dict[str, Any] = {"pathway": r.pathway, "criterion": r.criterion, "value": r.value}
    if r.acos is not None:
        d["acos"] = list(r.acos)
    if r.source:
        d["source"] = r.source
    return d
