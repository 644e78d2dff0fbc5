"""The policy-test file format: ``*.test.yaml`` files parsed into cases, with positions.

Finds the test files beside a policy (:func:`discover_test_files`,
:func:`policy_folder_for`), merges ``base``/``defaults`` into each case
(:func:`deep_merge`), expands the ``months`` helper (:func:`expand_months`), and
parses every case with :class:`FileParser` into a :class:`Case` and its
:class:`Expect`, reporting a broken file as :class:`PolicyTestFileError` with
file:line:column. The format itself is documented in :mod:`.policy_tests`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..engine.decision import Reason
from ..engine.policy import Policy
from ..language.errors import Diagnostic, Diagnostics, Span, did_you_mean
from ..language.loader import coerce
from ..language.records import Market
from ..language.values import Month
from ..language.yaml_source import YNode, load_yaml_file

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
# parsing test files


class PolicyTestFileError(Exception):
    """A test file that cannot be run; carries its diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join(d.render() for d in diagnostics))
        self.diagnostics = diagnostics


@dataclass
class ReasonSpec:
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
class Expect:
    given: set[str] = field(default_factory=set)
    outcome: str | None = None
    aco_id: str | None = None
    pathway: str | None = None
    reasons: list[ReasonSpec] = field(default_factory=list)
    criteria: list[tuple[str, str | None, str]] = field(default_factory=list)


@dataclass
class Case:
    name: str
    rule: str | None
    span: Span
    record: dict[str, Any]
    market: Market
    parameters: dict[str, Any]
    param_spans: dict[str, tuple[Span, YNode]]
    expect: Expect


def _truth_word(value: Any) -> str | None:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str) and value in (*TRUTH_VALUES, "tie"):
        return value
    return None


class FileParser:
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
    def parse(self) -> list[Case]:
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
        cases: list[Case] = []
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
    ) -> Case | None:
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
        return Case(name, rule, node.span, record, market, values, params, expect)

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

    def expect(self, node: YNode | None, default: YNode | None, case_node: YNode) -> Expect | None:
        if node is None and default is None:
            self.error("a case needs 'expect:'", case_node.span)
            return None
        exp = Expect()
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

    def expect_entry(self, exp: Expect, key: str, kspan: Span, value: YNode) -> None:
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

    def reason_spec(self, item: YNode) -> ReasonSpec | None:
        if item.kind == "scalar" and isinstance(item.value, str):
            self.reason_name(item.value, item.span)
            return ReasonSpec(item.value)
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
        spec = ReasonSpec(crit)
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


