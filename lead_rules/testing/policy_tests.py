"""Policy tests: YAML files that pin down decisions, with criterion coverage.

A policy is tested by YAML files named ``*.test.yaml`` in a ``tests/`` folder
beside it (``policies/lead/tests/medicaid.test.yaml`` tests the policy
``policies/lead``). :func:`run_policy_tests` finds them under the given paths
(a folder such as ``policies/`` finds the tests of every policy below it),
runs every case with the trace on, prints a readable diff for each failing
case (expected vs actual, then the plain-English explanation of the actual
decision) and a coverage table: for every criterion of each policy, whether
the tests made it true, false and unknown. The CLI is ``lead-rules test PATHS
[--min-coverage PCT]``; ``python -m lead_rules.policy_tests PATHS`` does the
same.

Test file format
================

.. code-block:: yaml

    description: Medicaid enrollment-based alignment (RFA §VII.D)   # optional
    policy: ../..               # optional; default: the folder above tests/
    market: ../markets/demo-2028.yaml   # a path relative to this file,
                                        # or an inline market mapping
    parameters: {claims_tie_rule: lowest}   # optional parameter overrides
    base:                       # the base record of every case
      bene_id: B1
      residence: {state: NC, county_fips: "37063", us: true}
      months: {from: 2027-01, to: 2027-12, with: {buyin: "3", hmo: "0"}}
    defaults:                   # optional: merged into every case
      expect: {outcome: not_aligned}
    cases:
      - name: medicaid_rule_1_mco_plan_mismatch
        rule: RFA §VII.D, enrolled in the partnering MCO   # optional
        record:                 # overrides, deep-merged into base
          months:
            with: {dual: "02", medicaid: {state: NC, delivery: MCO, plan_id: OTHER}}
            per_month: {2027-06: {dual: "01"}, 2027-07: null}
        market: {...}           # optional: a path (replaces the market) or a
                                # mapping deep-merged into the file's market
        parameters: {...}       # optional: merged over the file's overrides
        expect:
          outcome: not_aligned  # aligned | not_aligned | error
          aco_id: null          # an ACO id, or null
          pathway: null         # a pathway name, or null
          reasons:              # must all appear among decision.reasons
            - enrolled_with_medicaid_partner          # a criterion name, or
            - {criterion: in_service_area, pathway: claims, value: false, aco: LEAD-0003}
          criteria:             # checks on the criterion values in the trace
            full_benefit_dual: true           # every evaluation of it
            in_service_area@LEAD-0003: false  # its evaluations for one ACO
            designated_here: not_evaluated

Merging. ``record`` overrides are deep-merged into ``base`` (after the
``defaults`` record): mappings merge key by key, recursively; any other value
(a list, a scalar, ``null``) replaces. ``market`` mappings and ``expect``
follow the same rule (``expect`` of a case over ``defaults.expect``).
``parameters`` override the policy's parameters by name, with the declared
type (``set<string>`` from a list, ``decimal`` from a number, ...).

Months helper. Wherever a record has ``months:`` as a *mapping*, it is
expanded, after merging, into one row per month: ``from`` and ``to``
(``YYYY-MM``, inclusive) give the months, ``with`` the fields of every row,
and ``per_month`` maps a month to fields deep-merged into that row, or to
``null`` to leave the month out (a month without data). Because the helper is
a mapping, a case can change one field of every month (``months: {with:
{dual: "02"}}``) or of one month (``months: {per_month: {2027-03: {hmo:
"1"}}}``) of the base's helper. A list of rows is taken as it is. A record
without ``bene_id`` gets the case name.

Expectations. ``reasons`` entries match the decision's reasons (for an
aligned decision, the requirements that held for the winner; otherwise every
requirement that was false or unknown, per pathway). A mapping entry may also
fix the ``pathway``, the ``value`` (true, false, unknown, tie) and an ``aco``
that the reason applies to. ``criteria`` keys are ``name`` or ``name@ACO``;
values are ``true``, ``false``, ``unknown`` or ``not_evaluated``; the check
passes when every evaluation of the criterion in the trace (for that ACO)
has that value.

Coverage. For every criterion of a policy, the runner counts the cases whose
trace holds it true, false and unknown (criterion nodes of the trace,
including cached re-uses). The percentage printed is the share of criteria
seen both true and false; ``min_coverage`` (a percentage, 0-100) fails the run
when any tested policy is below it.

Exit code: 0 when every case passes (and coverage is met), 1 when a case
fails or coverage is below ``min_coverage``, 2 when a test file or a policy
cannot be read (errors are printed as ``file:line:col: error[T...]``), or
when no test file is found.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from ..engine.decision import Decision, Reason
from ..engine.policy import Policy, check_policy
from ..engine.trace import TraceNode, truth
from ..language.checker import check_doc
from ..language.errors import Diagnostic, Diagnostics, Span, did_you_mean
from ..language.loader import coerce
from ..language.records import Market
from ..language.values import Month
from ..language.yaml_source import YNode, load_yaml_file

__all__ = [
    "CaseResult",
    "Coverage",
    "PolicyTestFileError",
    "criterion_values",
    "deep_merge",
    "discover_test_files",
    "expand_months",
    "main",
    "policy_folder_for",
    "run_policy_tests",
]

TEST_SUFFIXES = (".test.yaml", ".test.yml")
FILE_KEYS = ("description", "policy", "market", "parameters", "base", "defaults", "cases")
DEFAULT_KEYS = ("record", "market", "parameters", "expect")
CASE_KEYS = ("name", "rule", "record", "market", "parameters", "expect")
EXPECT_KEYS = ("outcome", "aco_id", "pathway", "reasons", "criteria")
REASON_KEYS = ("criterion", "pathway", "value", "aco")
MONTHS_KEYS = ("from", "to", "with", "per_month")
OUTCOMES = ("aligned", "not_aligned", "error")
TRUTH_VALUES = ("true", "false", "unknown", "not_evaluated")
REASON_VALUES = ("true", "false", "unknown", "tie")
_MAX_LINE = 240


# --------------------------------------------------------------------------
# merging and the months helper


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` merged into ``base``: mappings merge recursively, anything else replaces.

    Neither argument is modified; the result shares no mutable part with them.
    """
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out: dict[str, Any] = {str(k): copy.deepcopy(v) for k, v in base.items()}
        for key, value in override.items():
            k = str(key)
            out[k] = deep_merge(out[k], value) if k in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def _month(value: Any, what: str) -> Month:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a month 'YYYY-MM' (quote it), got {value!r}")
    return Month.parse(value)


def expand_months(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Expand a months helper ``{from, to, with, per_month}`` into monthly rows.

    Raises:
        ValueError: when the helper is malformed (the message says why).
    """
    unknown = [k for k in spec if k not in MONTHS_KEYS]
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' in the months helper (keys: {', '.join(MONTHS_KEYS)})")
    if "from" not in spec or "to" not in spec:
        raise ValueError("the months helper needs 'from' and 'to' (YYYY-MM)")
    start, end = _month(spec["from"], "'from'"), _month(spec["to"], "'to'")
    if end < start:
        raise ValueError(f"the months helper runs backwards: from {start} to {end}")
    fields = spec.get("with") or {}
    if not isinstance(fields, Mapping):
        raise ValueError("'with' must be a mapping of month fields")
    per_month = spec.get("per_month") or {}
    if not isinstance(per_month, Mapping):
        raise ValueError("'per_month' must map months (YYYY-MM) to fields or null")
    overrides: dict[Month, Any] = {}
    for key, value in per_month.items():
        m = _month(key, f"per_month key {key!r}")
        if not start <= m <= end:
            raise ValueError(f"per_month key {m} is outside {start}..{end}")
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"per_month {m} must be a mapping of fields or null")
        overrides[m] = value
    rows: list[dict[str, Any]] = []
    for ordinal in range(start.ordinal, end.ordinal + 1):
        m = Month.from_ordinal(ordinal)
        row: dict[str, Any] = deep_merge({"month": str(m)}, fields)
        if m in overrides:
            if overrides[m] is None:
                continue
            row = deep_merge(row, overrides[m])
        row["month"] = str(m)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# discovery


def _is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIXES)


def discover_test_files(paths: Iterable[Path]) -> list[Path]:
    """Every ``*.test.yaml`` file at or under ``paths`` (hidden folders skipped), sorted, unique."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            if _is_test_file(path):
                found.setdefault(path, None)
            continue
        if path.is_dir():
            hits = [p for suffix in TEST_SUFFIXES for p in path.rglob("*" + suffix)]
            for p in sorted(hits):
                rel = p.relative_to(path).parts
                if p.is_file() and not any(part.startswith(".") for part in rel):
                    found.setdefault(p, None)
    return list(found)


def policy_folder_for(test_file: Path) -> Path | None:
    """The policy a test file belongs to: the folder above its nearest ``tests/`` folder."""
    for parent in test_file.parents:
        if parent.name == "tests":
            return parent.parent
    return None


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


# --------------------------------------------------------------------------
# parsing test files


class PolicyTestFileError(Exception):
    """A test file that cannot be run; carries its diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join(d.render() for d in diagnostics))
        self.diagnostics = diagnostics


@dataclass
class _ReasonSpec:
    criterion: str
    pathway: str | None = None
    value: str | None = None
    aco: str | None = None

    def describe(self) -> str:
        parts = [self.criterion]
        if self.pathway:
            parts.insert(0, self.pathway + "/")
        if self.value:
            parts.append(f"={self.value}")
        if self.aco:
            parts.append(f" for {self.aco}")
        return "".join(parts)

    def matches(self, r: Reason) -> bool:
        if r.criterion != self.criterion:
            return False
        if self.pathway is not None and r.pathway != self.pathway:
            return False
        if self.value is not None and r.value != self.value:
            return False
        return not (self.aco is not None and r.acos is not None and self.aco not in r.acos)


@dataclass
class _Expect:
    given: set[str] = field(default_factory=set)
    outcome: str | None = None
    aco_id: str | None = None
    pathway: str | None = None
    reasons: list[_ReasonSpec] = field(default_factory=list)
    criteria: list[tuple[str, str | None, str]] = field(default_factory=list)


@dataclass
class _Case:
    name: str
    rule: str | None
    span: Span
    record: dict[str, Any]
    market: Market
    parameters: dict[str, Any]
    param_spans: dict[str, tuple[Span, YNode]]
    expect: _Expect


def _truth_word(value: Any) -> str | None:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str) and value in (*TRUTH_VALUES, "tie"):
        return value
    return None


class _FileParser:
    """Reads one test file into cases, collecting diagnostics with spans."""

    def __init__(self, path: Path, policy: Policy) -> None:
        self.path = path
        self.policy = policy
        self.diags = Diagnostics()
        self.shared_record_broken = False  # the base or defaults record has reported errors

    # --- small helpers ---
    def error(self, message: str, span: Span, hint: str | None = None, code: str = "T001") -> None:
        self.diags.error(code, message, span, hint)

    def keys(self, node: YNode, allowed: Sequence[str], what: str) -> None:
        for key in node.entries:
            if key not in allowed:
                hint = did_you_mean(key, list(allowed)) or f"allowed keys: {', '.join(allowed)}"
                self.error(f"unknown key '{key}' in {what}", node.key_span(key), hint)

    def mapping(self, node: YNode | None, what: str) -> YNode | None:
        if node is None:
            return None
        if node.kind == "scalar" and node.value is None:
            return None
        if node.kind != "map":
            self.error(f"{what} must be a mapping", node.span)
            return None
        return node

    def string(self, node: YNode | None, what: str) -> str | None:
        if node is None:
            return None
        if node.kind != "scalar" or not isinstance(node.value, str):
            self.error(f"{what} must be a string", node.span)
            return None
        return node.value

    # --- the file ---
    def parse(self) -> list[_Case]:
        root = load_yaml_file(self.path, self.diags)
        if root is None:
            raise PolicyTestFileError(self.diags.sorted())
        if root.kind != "map":
            self.error("a test file must be a YAML mapping (market, base, cases)", root.span)
            raise PolicyTestFileError(self.diags.sorted())
        self.keys(root, FILE_KEYS, "the test file")
        defaults = self.mapping(root.get("defaults"), "'defaults'")
        if defaults is not None:
            self.keys(defaults, DEFAULT_KEYS, "'defaults'")
        base = self.mapping(root.get("base"), "'base'")
        base_record: dict[str, Any] = {}
        if base is not None:
            self.shared_record_broken |= not self.check_record(base)
            base_record = base.plain()
        default_record: dict[str, Any] = {}
        default_expect: YNode | None = None
        default_market: YNode | None = None
        default_params: YNode | None = None
        if defaults is not None:
            rec = self.mapping(defaults.get("record"), "'defaults.record'")
            if rec is not None:
                self.shared_record_broken |= not self.check_record(rec)
                default_record = rec.plain()
            default_expect = self.mapping(defaults.get("expect"), "'defaults.expect'")
            default_market = defaults.get("market")
            default_params = self.mapping(defaults.get("parameters"), "'defaults.parameters'")
        file_market: dict[str, Any] | None = None
        file_market_node: YNode | None = None
        for mnode in (root.get("market"), default_market):
            if mnode is not None:
                file_market = self.market_data(mnode, file_market)
                file_market_node = mnode
        file_market_obj: Market | None = None
        if file_market is not None and file_market_node is not None:
            file_market_obj = self.validate_market(file_market, file_market_node)
        params: dict[str, tuple[Span, YNode]] = {}
        for pnode in (self.mapping(root.get("parameters"), "'parameters'"), default_params):
            if pnode is not None:
                params.update({k: (s, v) for k, (s, v) in pnode.entries.items()})
        cases_node = root.get("cases")
        if cases_node is None:
            self.error("a test file needs 'cases:' (a list of cases)", root.span)
            raise PolicyTestFileError(self.diags.sorted())
        if cases_node.kind != "seq":
            self.error("'cases' must be a list", cases_node.span)
            raise PolicyTestFileError(self.diags.sorted())
        cases: list[_Case] = []
        names: dict[str, Span] = {}
        for case_node in cases_node.items:
            case = self.case(
                case_node, base_record, default_record, default_expect, (file_market, file_market_obj), params, names
            )
            if case is not None:
                cases.append(case)
        if self.diags.has_errors:
            raise PolicyTestFileError(self.diags.sorted())
        return cases

    def market_data(self, node: YNode, current: dict[str, Any] | None) -> dict[str, Any] | None:
        """A market from a path (replaces) or a mapping (merged into ``current``)."""
        if node.kind == "scalar" and isinstance(node.value, str):
            mpath = (self.path.parent / node.value).resolve()
            diags = Diagnostics()
            mroot = load_yaml_file(mpath, diags)
            if mroot is None:
                self.error(f"cannot load the market file '{node.value}'", node.span)
                for d in diags.items:
                    self.diags.items.append(d)
                return None
            data = mroot.plain()
            if not isinstance(data, dict):
                self.error(f"the market file '{node.value}' must hold a mapping", node.span)
                return None
            return data if self.validate_market(data, mroot) is not None else None
        if node.kind == "map":
            merged = deep_merge(current or {}, node.plain())
            assert isinstance(merged, dict)
            return merged
        self.error("a market is a path (relative to the test file) or a mapping", node.span)
        return None

    def validate_market(self, data: Any, node: YNode) -> Market | None:
        """The market model of ``data``; errors point into ``node`` (a path node: already checked)."""
        if node.kind == "scalar":
            return Market.model_validate(data)
        try:
            return Market.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                span, _ = node.at(loc)
                where = ".".join(str(p) for p in loc) or "market"
                self.error(f"invalid market: {where}: {err['msg']}", span, code="T002")
            return None

    def check_record(self, node: YNode) -> bool:
        """Check what can be checked before merging (the months helper); False when errors were reported."""
        before = len(self.diags.items)
        months = node.get("months")
        if months is None or months.kind != "map":
            return True
        self.keys(months, MONTHS_KEYS, "the months helper")
        for key in ("from", "to"):
            sub = months.get(key)
            if sub is not None:
                try:
                    _month(sub.value, f"'{key}'")
                except ValueError as exc:
                    self.error(str(exc), sub.span)
        with_node = months.get("with")
        if with_node is not None:
            self.mapping(with_node, "'with'")
        per = months.get("per_month")
        if per is not None and self.mapping(per, "'per_month'") is not None:
            for key, (kspan, value) in per.entries.items():
                try:
                    _month(key, f"per_month key {key!r}")
                except ValueError as exc:
                    self.error(str(exc), kspan)
                if not (value.kind == "map" or (value.kind == "scalar" and value.value is None)):
                    self.error(f"per_month {key} must be a mapping of fields or null", value.span)
        return len(self.diags.items) == before

    def case(
        self,
        node: YNode,
        base_record: dict[str, Any],
        default_record: dict[str, Any],
        default_expect: YNode | None,
        file_market: tuple[dict[str, Any] | None, Market | None],
        file_params: dict[str, tuple[Span, YNode]],
        names: dict[str, Span],
    ) -> _Case | None:
        if node.kind != "map":
            self.error("a case must be a mapping (name, record, expect)", node.span)
            return None
        self.keys(node, CASE_KEYS, "a case")
        errors_before = len(self.diags.items)
        name_node = node.get("name")
        if name_node is None:
            self.error("a case needs a 'name'", node.span)
            return None
        name = self.string(name_node, "'name'")
        if name is None:
            return None
        if name in names:
            self.error(f"case name '{name}' is already used at {names[name]}", name_node.span)
        names[name] = node.span
        rule = self.string(node.get("rule"), "'rule'")
        record: Any = deep_merge(base_record, default_record)
        rnode = self.mapping(node.get("record"), "'record'")
        if rnode is not None:
            self.check_record(rnode)
            record = deep_merge(record, rnode.plain())
        if isinstance(record.get("months"), Mapping):
            try:
                record["months"] = expand_months(record["months"])
            except ValueError as exc:
                own = rnode.get("months") if rnode is not None else None
                if own is not None or not self.shared_record_broken:  # else: reported at the base already
                    self.error(f"case '{name}': {exc}", own.span if own is not None else node.span)
        record.setdefault("bene_id", name)
        file_data, file_obj = file_market
        market: Market | None = file_obj
        mnode = node.get("market")
        if mnode is not None:
            market_data = self.market_data(mnode, file_data)
            market = self.validate_market(market_data, mnode) if market_data is not None else None
        elif file_data is None:
            self.error(f"case '{name}' has no market (give 'market:' in the file or the case)", node.span)
        params = dict(file_params)
        pnode = self.mapping(node.get("parameters"), "'parameters'")
        if pnode is not None:
            params.update({k: (s, v) for k, (s, v) in pnode.entries.items()})
        values = self.parameters(params)
        expect = self.expect(node.get("expect"), default_expect, node)
        if market is None or values is None or expect is None or len(self.diags.items) > errors_before:
            return None
        return _Case(name, rule, node.span, record, market, values, params, expect)

    def parameters(self, params: dict[str, tuple[Span, YNode]]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        ok = True
        declared = self.policy.doc.parameters
        for pname, (kspan, vnode) in params.items():
            param = declared.get(pname)
            if param is None:
                self.error(f"unknown parameter '{pname}'", kspan, did_you_mean(pname, list(declared)))
                ok = False
                continue
            diags = Diagnostics()
            good, value = coerce(vnode.plain(), param.type, vnode, diags)
            if not good:
                for d in diags.items:
                    self.error(f"parameter '{pname}' ({param.type}): {d.message}", d.span)
                ok = False
                continue
            out[pname] = value
        return out if ok else None

    def expect(self, node: YNode | None, default: YNode | None, case_node: YNode) -> _Expect | None:
        if node is None and default is None:
            self.error("a case needs 'expect:'", case_node.span)
            return None
        exp = _Expect()
        for part in (default, node):
            if part is None:
                continue
            if part.kind != "map":
                self.error("'expect' must be a mapping", part.span)
                return None
            self.keys(part, EXPECT_KEYS, "'expect'")
            for key, (kspan, value) in part.entries.items():
                if key in EXPECT_KEYS:
                    self.expect_entry(exp, key, kspan, value)
        return exp

    def expect_entry(self, exp: _Expect, key: str, kspan: Span, value: YNode) -> None:
        exp.given.add(key)
        if key == "outcome":
            text = self.string(value, "'outcome'")
            if text is not None and text not in OUTCOMES:
                hint = did_you_mean(text, OUTCOMES)
                self.error(f"outcome '{text}' is not one of {', '.join(OUTCOMES)}", value.span, hint)
            exp.outcome = text
        elif key in ("aco_id", "pathway"):
            if value.kind == "scalar" and value.value is None:
                setattr(exp, key, None)
            else:
                text = self.string(value, f"'{key}'")
                if key == "pathway" and text is not None and text not in self.policy.pathway_names:
                    self.error(f"unknown pathway '{text}'", value.span, did_you_mean(text, self.policy.pathway_names))
                setattr(exp, key, text)
        elif key == "reasons":
            exp.reasons = []
            if value.kind != "seq":
                self.error("'reasons' must be a list", value.span)
                return
            for item in value.items:
                spec = self.reason_spec(item)
                if spec is not None:
                    exp.reasons.append(spec)
        elif key == "criteria":
            exp.criteria = []
            if value.kind != "map":
                self.error("'criteria' must map criterion names to true/false/unknown/not_evaluated", value.span)
                return
            for ckey, (cspan, cval) in value.entries.items():
                name, _, aco = ckey.partition("@")
                self.criterion_name(name, cspan)
                word = _truth_word(cval.value) if cval.kind == "scalar" else None
                if word is None or word == "tie":
                    self.error(f"criterion '{ckey}': expected true, false, unknown or not_evaluated", cval.span)
                    continue
                exp.criteria.append((name, aco or None, word))

    def criterion_name(self, name: str, span: Span) -> None:
        criteria = list(self.policy.criteria())
        if name not in criteria:
            self.error(f"unknown criterion '{name}'", span, did_you_mean(name, criteria))

    def reason_spec(self, item: YNode) -> _ReasonSpec | None:
        if item.kind == "scalar" and isinstance(item.value, str):
            self.reason_name(item.value, item.span)
            return _ReasonSpec(item.value)
        if item.kind != "map":
            self.error("a reason is a criterion name or {criterion, pathway, value, aco}", item.span)
            return None
        self.keys(item, REASON_KEYS, "a reason")
        crit = self.string(item.get("criterion"), "'criterion'")
        if crit is None:
            if item.get("criterion") is None:
                self.error("a reason needs 'criterion'", item.span)
            return None
        self.reason_name(crit, (item.get("criterion") or item).span)
        spec = _ReasonSpec(crit)
        pnode = item.get("pathway")
        if pnode is not None:
            spec.pathway = self.string(pnode, "'pathway'")
            if spec.pathway is not None and spec.pathway not in self.policy.pathway_names:
                hint = did_you_mean(spec.pathway, self.policy.pathway_names)
                self.error(f"unknown pathway '{spec.pathway}'", pnode.span, hint)
        vnode = item.get("value")
        if vnode is not None:
            word = _truth_word(vnode.value) if vnode.kind == "scalar" else None
            if word not in REASON_VALUES:
                self.error("a reason's value is true, false, unknown or tie", vnode.span)
            spec.value = word
        anode = item.get("aco")
        if anode is not None:
            spec.aco = self.string(anode, "'aco'")
        return spec

    def reason_name(self, name: str, span: Span) -> None:
        known = set(self.policy.criteria()) | {"tie.rank", "tie.on_tie", "market_has_acos"}
        if name not in known and not name.startswith(("all(", "any(", "not ")):
            self.error(f"unknown criterion '{name}' in reasons", span, did_you_mean(name, sorted(known)))


# --------------------------------------------------------------------------
# checking a decision


def _fmt(value: Any) -> str:
    return "null" if value is None else repr(value)


def _reason_text(r: Reason) -> str:
    scope = "" if r.acos is None else f" for {', '.join(r.acos)}"
    return f"{r.pathway}/{r.criterion}={r.value}{scope}"


def _check(expect: _Expect, decision: Decision) -> list[str]:
    problems: list[str] = []
    if "outcome" in expect.given and decision.outcome != expect.outcome:
        problems.append(f"outcome: expected {_fmt(expect.outcome)}, got {_fmt(decision.outcome)}")
    if "aco_id" in expect.given and decision.aco_id != expect.aco_id:
        problems.append(f"aco_id: expected {_fmt(expect.aco_id)}, got {_fmt(decision.aco_id)}")
    if "pathway" in expect.given and decision.pathway != expect.pathway:
        problems.append(f"pathway: expected {_fmt(expect.pathway)}, got {_fmt(decision.pathway)}")
    missing = [spec for spec in expect.reasons if not any(spec.matches(r) for r in decision.reasons)]
    if missing:
        got = "; ".join(_reason_text(r) for r in decision.reasons) or "(none)"
        for spec in missing:
            problems.append(f"reasons: expected {spec.describe()} among the reasons")
        problems.append(f"    actual reasons: {got}")
    if expect.criteria:
        values = criterion_values(decision.trace) if decision.trace is not None else {}
        for name, aco, want in expect.criteria:
            seen: set[str] = set()
            for (cname, caco), vals in values.items():
                if cname == name and (aco is None or caco == aco):
                    seen |= vals
            got_word = "not_evaluated" if not seen else "/".join(sorted(seen))
            if (want == "not_evaluated" and seen) or (want != "not_evaluated" and seen != {want}):
                label = f"{name}@{aco}" if aco else name
                problems.append(f"criteria: {label} expected {want}, got {got_word}")
    return problems


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


# --------------------------------------------------------------------------
# the runner


@dataclass
class _PolicyEntry:
    folder: Path
    policy: Policy
    coverage: Coverage
    variants: dict[tuple[tuple[str, str], ...], Policy] = field(default_factory=dict)


class _Runner:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.policies: dict[Path, _PolicyEntry | None] = {}
        self.results: list[CaseResult] = []
        self.broken_files = 0

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def policy_entry(self, folder: Path) -> _PolicyEntry | None:
        key = folder.resolve()
        if key in self.policies:
            return self.policies[key]
        policy, diagnostics = check_policy(folder)
        entry: _PolicyEntry | None = None
        if policy is None:
            self.print(f"ERROR policy {folder} has errors; its tests cannot run:")
            for d in diagnostics:
                self.print(d.render())
        else:
            for w in policy.warnings:
                self.print(w.render())
            entry = _PolicyEntry(folder, policy, Coverage(policy.id, folder, sorted(policy.criteria())))
        self.policies[key] = entry
        return entry

    def variant(self, entry: _PolicyEntry, case: _Case) -> Policy | str:
        """The policy with the case's parameter overrides (or a message why not)."""
        if not case.parameters:
            return entry.policy
        key = tuple(sorted((n, repr(case.param_spans[n][1].plain())) for n in case.parameters))
        found = entry.variants.get(key)
        if found is not None:
            return found
        doc = entry.policy.doc
        params = dict(doc.parameters)
        for pname, value in case.parameters.items():
            params[pname] = dataclasses.replace(params[pname], value=value)
        new_doc = dataclasses.replace(doc, parameters=params)
        diags = Diagnostics()
        res = check_doc(new_doc, diags)
        if diags.has_errors:
            messages = "; ".join(d.message for d in diags.items if d.severity == "error")
            where = ", ".join(str(case.param_spans[n][0]) for n in case.parameters)
            return f"the parameter overrides ({where}) make the policy invalid: {messages}"
        variant = Policy(new_doc, res, diags.sorted())
        entry.variants[key] = variant
        return variant

    def run_file(self, path: Path) -> None:
        pfile_folder = policy_folder_for(path)
        explicit = self.explicit_policy(path)
        folder = explicit if explicit is not None else pfile_folder
        if folder is None:
            self.print(
                f"{path}:1:1: error[T003]: cannot tell which policy this test file tests: "
                "put it in a 'tests/' folder beside the policy, or give 'policy:'"
            )
            self.broken_files += 1
            return
        entry = self.policy_entry(folder)
        if entry is None:
            self.broken_files += 1
            return
        if entry.policy.doc.decision is not None:  # a verdict, ranking or computation
            from .kind_tests import run_kind_file

            run_kind_file(self, path, entry)
            return
        try:
            cases = _FileParser(path, entry.policy).parse()
        except PolicyTestFileError as exc:
            for d in exc.diagnostics:
                self.print(d.render())
            self.print(f"ERROR {path}: the test file has errors; none of its cases ran")
            self.broken_files += 1
            return
        failed = 0
        for case in cases:
            result = self.run_case(path, entry, case)
            self.results.append(result)
            if not result.passed:
                failed += 1
                self.report_failure(result)
        status = "ok" if not failed else f"{failed} FAILED"
        self.print(f"{path}: {len(cases)} case(s), {status}")

    def explicit_policy(self, path: Path) -> Path | None:
        diags = Diagnostics()
        root = load_yaml_file(path, diags)
        if root is None or root.kind != "map":
            return None
        node = root.get("policy")
        if node is None or node.kind != "scalar" or not isinstance(node.value, str):
            return None
        return path.parent / node.value

    def run_case(self, path: Path, entry: _PolicyEntry, case: _Case) -> CaseResult:
        policy = self.variant(entry, case)
        if isinstance(policy, str):
            return CaseResult(path, case.span.line, case.name, case.rule, [policy])
        decision = policy.evaluate(case.record, market=case.market, trace=True)
        entry.coverage.add(decision.trace)
        return CaseResult(path, case.span.line, case.name, case.rule, _check(case.expect, decision), decision)

    def report_failure(self, result: CaseResult) -> None:
        rule = f"  [rule: {result.rule}]" if result.rule else ""
        self.print(f"FAIL {result.file}:{result.line}: case '{result.name}'{rule}")
        for problem in result.problems:
            self.print(f"    {problem}")
        if result.decision is not None:
            self.print("    explanation of the actual decision:")
            for line in result.decision.explain().splitlines():
                self.print(_clip(f"      | {line}"))
        self.print()

    def finish(self, min_coverage: float | None) -> int:
        entries = [e for e in self.policies.values() if e is not None]
        below = []
        for entry in entries:
            if not entry.coverage.cases:
                continue  # none of its test files could run (reported above)
            self.print()
            self.print(entry.coverage.render())
            if min_coverage is not None and entry.coverage.percent < min_coverage:
                below.append(entry)
        passed = sum(1 for r in self.results if r.passed)
        failed = len(self.results) - passed
        self.print()
        if self.broken_files:
            self.print(f"{self.broken_files} test file(s) or policies with errors")
        self.print(f"policy-cases: {passed} passed, {failed} failed")
        for entry in below:
            self.print(
                f"FAIL coverage of {entry.coverage.policy_id} ({entry.folder}) is "
                f"{entry.coverage.percent:.1f}%, below --min-coverage {min_coverage:g}%"
            )
        if self.broken_files:
            return 2
        if failed or below:
            return 1
        return 0


def run_policy_tests(paths: list[Path], min_coverage: float | None, out: TextIO) -> int:
    """Run the policy tests found under ``paths``; print results to ``out``; return the exit code.

    Args:
        paths: test files, policy folders or folders of policies (searched recursively).
        min_coverage: the least percentage (0-100) of criteria that the tests
            must make both true and false, per policy; None for no threshold.
        out: where the report goes.

    Returns:
        0 when every case passed (and coverage is met); 1 when a case failed or
        coverage is below ``min_coverage``; 2 when a test file or policy has
        errors, a path does not exist, or no test file was found.
    """
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        out.write(f"{p}: error: no such file or folder\n")
    files = discover_test_files(p for p in paths if p.exists())
    if not files:
        out.write(f"no policy test files (*.test.yaml) found under {', '.join(str(p) for p in paths)}\n")
        return 2
    runner = _Runner(out)
    for path in files:
        runner.run_file(path)
    code = runner.finish(min_coverage)
    return 2 if missing else code


def main(argv: list[str] | None = None) -> int:
    """``python -m lead_rules.policy_tests PATHS [--min-coverage PCT]``."""
    parser = argparse.ArgumentParser(prog="lead-rules test", description="Run policy tests (*.test.yaml).")
    parser.add_argument("paths", nargs="+", type=Path, help="test files or folders (e.g. policies/)")
    parser.add_argument(
        "--min-coverage", type=float, default=None, metavar="PCT",
        help="fail when less than PCT%% of a policy's criteria were seen both true and false",
    )
    args = parser.parse_args(argv)
    return run_policy_tests(list(args.paths), args.min_coverage, sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
