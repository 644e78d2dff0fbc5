"""The LEAD policy's parameters as the hand-written baselines read them (shared by Python, SQL and zen).

:func:`lead_params` reads ``parameters.yaml`` and the code files of a policy
folder (:func:`load_parameters`), refuses the rule choices the baselines do not
implement (:data:`IMPLEMENTED`) and the markets whose program calendar could
change a decision, and derives once the dates every baseline needs (the
eligibility and Medicaid windows, the voluntary cut-off, the two alignment
years and their weights). ``benchmarks/lead_python.py``, ``lead_sql.py`` and
``lead_zen.py`` each read the policy through here, so a parameter is read one
way in every baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMPLEMENTED: dict[str, Any] = {
    "missing_month_rule": "unknown",
    "voluntary_tie_rule": "none",
    "voluntary_requires_recent_visit": False,
    "voluntary_on_tie": "not_aligned",
    "designation_elsewhere_blocks": True,
    "designation_elsewhere_blocks_medicaid": True,
    "shared_tin_rule": "drop",
    "claims_tie_secondary": "most_recent_visit",
    "claims_tie_rule": "none",
    "integrated_missing_means_none": True,
    "partnership_in_force_rule": "performance_year_start",
    "medicaid_on_tie": "not_aligned",
    "no_death_date_means_alive": True,
    "missing_pos_counts": True,
    "step2_specialty_rule": "any",
    "candidate_aggregation": "aco_vs_each_tin",
    "unknown_claims_block_lower_pathways": True,
    "residence_must_match_medicaid_state": False,
}
"""The rule-selecting parameters and switches at the only values the baselines implement (the defaults)."""


def load_parameters(policy: Path) -> dict[str, Any]:
    """The parameter values of a policy folder (``value`` or the ``values`` of its ``file``)."""
    import yaml

    raw = yaml.safe_load((policy / "parameters.yaml").read_text(encoding="utf-8"))["parameters"]
    out: dict[str, Any] = {}
    for name, spec in raw.items():
        if "file" in spec:
            data = yaml.safe_load((policy / spec["file"]).read_text(encoding="utf-8"))
            out[name] = frozenset(str(v) for v in data["values"])
        elif str(spec.get("type", "")).startswith("set"):
            out[name] = frozenset(str(v) for v in spec["value"])
        else:
            out[name] = spec["value"]
    return out


def add_months(d: dt.date, n: int) -> dt.date:
    """``d`` shifted by ``n`` months (the day kept: the baselines shift first days of months)."""
    k = d.year * 12 + d.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, d.day)


def month_label(year: int, month0: int) -> str:
    """``YYYY-MM`` of month ``month0`` (0 = January, may be negative or past 11) of ``year``."""
    k = year * 12 + month0
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def to_date(v: Any) -> dt.date | None:
    """A date from an ISO string or a date (None stays None)."""
    if v is None or isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v))


@dataclass(frozen=True)
class LeadParams:
    """The parameters (``p``) and the dates derived from them for one performance year."""

    p: dict[str, Any]
    py: int
    py_start: dt.date
    window: tuple[str, ...]  # the eligibility window's months, oldest first
    medicaid_window: tuple[str, ...]  # its last medicaid_window_months months
    cutoff: dt.date  # the last day a voluntary designation counts
    ap_end: dt.date  # the last day of the alignment period
    ay1_start: dt.date
    ay1_end: dt.date
    ay2_start: dt.date
    w1: int
    w2: int

    @property
    def window_start(self) -> str:
        """The first month of the eligibility window."""
        return self.window[0]

    @property
    def window_end(self) -> str:
        """The last month of both windows."""
        return self.window[-1]

    @property
    def medicaid_start(self) -> str:
        """The first month of the Medicaid window."""
        return self.medicaid_window[0]


def lead_params(policy: Path, performance_year: int, who: str = "the hand-written baseline") -> LeadParams:
    """The parameters of ``policy`` for ``performance_year``.

    Raises:
        NotImplementedError: a rule choice the baselines do not implement.
    """
    p = load_parameters(policy)
    if p["shared_tin_rule"] == "error":  # a market the policy accepts then shares no TIN, where "drop" decides alike
        p["shared_tin_rule"] = "drop"
    for name, value in IMPLEMENTED.items():
        if p[name] != value:
            raise NotImplementedError(f"{who} implements {name}={value!r}, not {p[name]!r}")
    py = int(performance_year)
    py_start = dt.date(py, 1, 1)
    we_k = -int(p["eligibility_window_end_lag_months"])
    n_window, n_medicaid = int(p["eligibility_window_months"]), int(p["medicaid_window_months"])
    window = tuple(month_label(py, we_k + 1 - n_window + k) for k in range(n_window))
    medicaid_window = tuple(month_label(py, we_k + 1 - n_medicaid + k) for k in range(n_medicaid))
    cutoff = add_months(py_start, -int(p["voluntary_cutoff_months_before_py"])) - dt.timedelta(days=1)
    lag, ay_len = int(p["alignment_period_end_lag_months"]), int(p["alignment_year_months"])
    ap_end = add_months(py_start, -lag) - dt.timedelta(days=1)
    ay2_start = add_months(py_start, -(lag + ay_len))
    return LeadParams(
        p=p,
        py=py,
        py_start=py_start,
        window=window,
        medicaid_window=medicaid_window,
        cutoff=cutoff,
        ap_end=ap_end,
        ay1_start=add_months(ay2_start, -ay_len),
        ay1_end=ay2_start - dt.timedelta(days=1),
        ay2_start=ay2_start,
        w1=int(p["ay1_weight"]),
        w2=int(p["ay2_weight"]),
    )


def check_calendar(lp: LeadParams, market: Mapping[str, Any], who: str = "the hand-written baseline") -> None:
    """Refuse a market where the program calendar (not written by hand) could change a decision."""
    if lp.py < int(lp.p["medicaid_first_performance_year"]) or market.get("medicaid_integration_states") is not None:
        raise NotImplementedError(
            f"{who} implements the Medicaid pathway from medicaid_first_performance_year on, "
            "in every partner state (no medicaid_integration_states)"
        )
