"""Criterion coverage of policy tests: which criteria the cases saw true and false.

:class:`CaseResult` is the outcome of one case; :class:`Coverage` collects,
from the trace of every decided case, the values each criterion took (per
pathway, :func:`criterion_values`) and reports the criteria not yet seen both
true and false.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engine.decision import Decision
from ..engine.trace import TraceNode, truth

# --------------------------------------------------------------------------
# results and coverage


@dataclass
class CaseResult:
    """The outcome of one test case."""

    file: Path
    line: int
    name: str
    rule: str | None
    problems: list[str]
    decision: Decision | None = None

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.problems


@dataclass
class Coverage:
    """Which values each criterion of one policy took in the tests."""

    policy_id: str
    folder: Path
    criteria: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    cases: int = 0

    def add(self, trace: TraceNode | None) -> None:
        """Count the criterion values of one case's trace (each value once per case)."""
        self.cases += 1
        if trace is None:
            return
        seen: set[tuple[str, str]] = set()
        for (name, _aco), values in criterion_values(trace).items():
            for value in values:
                seen.add((name, value))
        for name, value in seen:
            row = self.counts.setdefault(name, {"true": 0, "false": 0, "unknown": 0})
            row[value] = row.get(value, 0) + 1

    def covered(self, name: str) -> bool:
        """True when ``name`` was seen both true and false."""
        row = self.counts.get(name, {})
        return row.get("true", 0) > 0 and row.get("false", 0) > 0

    @property
    def percent(self) -> float:
        """Share of criteria seen both true and false, in percent."""
        if not self.criteria:
            return 100.0
        return 100.0 * sum(1 for c in self.criteria if self.covered(c)) / len(self.criteria)

    def render(self) -> str:
        """The coverage table."""
        width = max([len(c) for c in self.criteria] + [9])
        lines = [
            f"Criterion coverage of policy {self.policy_id} ({self.folder}), {self.cases} case(s):",
            f"    {'criterion':<{width}}  {'true':>5}  {'false':>5}  {'unknown':>7}",
        ]
        for name in self.criteria:
            row = self.counts.get(name, {})

            def cell(value: str, w: int, row: dict[str, int] = row) -> str:
                n = row.get(value, 0)
                return f"{n if n else '-':>{w}}"

            flag = "  " if self.covered(name) else "! "
            missing = [v for v in ("true", "false") if not row.get(v, 0)]
            note = f"   never {' nor '.join(missing)}" if missing else ""
            lines.append(f"  {flag}{name:<{width}}  {cell('true', 5)}  {cell('false', 5)}  {cell('unknown', 7)}{note}")
        both = sum(1 for c in self.criteria if self.covered(c))
        lines.append(f"  criteria covered true and false: {both}/{len(self.criteria)} ({self.percent:.1f}%)")
        return "\n".join(lines)


def criterion_values(trace: TraceNode) -> dict[tuple[str, str | None], set[str]]:
    """The values each criterion took in ``trace``, keyed by (criterion, ACO or None).

    Cached re-uses count; skipped nodes do not. The ACO is that of the nearest
    enclosing ``aco`` node (None outside any, e.g. in a tie rank).
    """
    out: dict[tuple[str, str | None], set[str]] = {}
    stack: list[tuple[TraceNode, str | None]] = [(trace, None)]
    while stack:
        node, aco = stack.pop()
        if node.skipped:
            continue
        if node.kind == "aco":
            aco = node.label
        if node.kind == "criterion":
            out.setdefault((node.label, aco), set()).add(truth(node.value))
        stack.extend((child, aco) for child in node.children)
    return out


