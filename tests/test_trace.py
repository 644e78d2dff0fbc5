"""Decision traces: golden files for decisions of policies/example, and what a trace must show.

The golden files hold ``Decision.to_dict()`` with the trace, after the policy
content hash and the repository path are normalised. Regenerate them with
``pytest tests/test_trace.py --update-golden`` (or ``UPDATE_GOLDEN=1``) and
review the diff. The facts that matter most are also asserted directly below,
so a regenerated golden file cannot silently hide a regression in them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, EXAMPLE_MARKET, GOLDEN, REPO

from lead_rules.engine.decision import Decision
from lead_rules.engine.policy import Policy, load_policy
from lead_rules.engine.trace import TraceNode
from lead_rules.language.values import to_json


def claim(claim_id: str, day: str, tin: str, hcpcs: str, allowed: str) -> dict[str, Any]:
    return {"claim_id": claim_id, "line": 1, "from_date": day, "tin": tin, "hcpcs": hcpcs, "allowed": allowed}


MONTHS = [{"month": "2027-01", "buyin": "3", "hmo": "0"}, {"month": "2027-02", "buyin": "C", "hmo": "4"}]

RECORDS: dict[str, dict[str, Any]] = {
    # the most recent designation (2027-05-01) names ACO-B's TIN: voluntary decides, claims is skipped
    "voluntary": {
        "bene_id": "B-VOL",
        "birth_date": "1950-01-01",
        "residence": {"state": "NC", "county_fips": "37183"},
        "months": MONTHS,
        "voluntary": [
            {"date": "2027-05-01", "tin": "222222222", "channel": "medicare_gov"},
            {"date": "2026-01-01", "tin": "111111111", "channel": "paper"},
        ],
    },
    # no designation; primary-care charges in 2027: TIN 111111111 100.00, TIN 222222222 60.00 + 30.00
    # (C4 is not primary care, C5 is from 2026): the plurality TIN is ACO-A's
    "claims": {
        "bene_id": "B-CLM",
        "birth_date": "1950-01-01",
        "residence": {"state": "NC", "county_fips": "37135"},
        "months": MONTHS,
        "claims": [
            claim("C1", "2027-03-01", "111111111", "99213", "100.00"),
            claim("C2", "2027-04-01", "222222222", "99214", "60.00"),
            claim("C3", "2027-05-01", "222222222", "99214", "30.00"),
            claim("C4", "2027-06-01", "222222222", "12345", "500.00"),
            claim("C5", "2026-12-31", "222222222", "99213", "1000.00"),
        ],
    },
    # died before the performance year: 'alive' is false, so 'eligible' stops there
    "dead": {
        "bene_id": "B-DEAD",
        "birth_date": "1940-01-01",
        "death_date": "2026-06-01",
        "residence": {"state": "NC", "county_fips": "37063"},
        "months": MONTHS,
    },
}


def normalise(decision: Decision) -> dict[str, Any]:
    text = json.dumps(decision.to_dict(), indent=1, sort_keys=False)
    text = text.replace(decision.policy_hash, "<content-hash>").replace(f"{REPO}/", "")
    data: dict[str, Any] = json.loads(text)
    return data


def decide(policy: Policy, name: str, trace: bool = True) -> Decision:
    return policy.evaluate(RECORDS[name], EXAMPLE_MARKET, trace=trace)


def walk(node: TraceNode) -> Iterator[TraceNode]:
    yield node
    for c in node.children:
        yield from walk(c)


def source_line(label: str) -> int:
    """The line of ``label:`` among the named items of policies/example/policy.yaml."""
    lines = (EXAMPLE / "policy.yaml").read_text(encoding="utf-8").splitlines()
    return next(k for k, line in enumerate(lines, start=1) if line == f"  {label}:")


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_golden_trace(example_policy: Policy, update_golden: bool, name: str) -> None:
    got = normalise(decide(example_policy, name))
    path = GOLDEN / f"example_{name}.json"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
        pytest.skip(f"rewrote {path.name}")
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert got == expected, f"trace of '{name}' differs from {path.name} (review, then --update-golden)"


def test_the_golden_decisions(example_policy: Policy) -> None:
    """The outcomes the golden files must hold, worked out by hand from the example policy."""
    vol, clm, dead = (decide(example_policy, n) for n in ("voluntary", "claims", "dead"))
    assert (vol.outcome, vol.aco_id, vol.pathway) == ("aligned", "ACO-B", "voluntary")
    assert [(p.pathway, p.status) for p in vol.pathways] == [("voluntary", "decided"), ("claims", "skipped")]
    assert (clm.outcome, clm.aco_id, clm.pathway) == ("aligned", "ACO-A", "claims")
    assert [(r.pathway, r.criterion, r.value, r.acos) for r in clm.pathways[0].reasons] == [
        ("voluntary", "designated_here", "unknown", None)  # no designation: unknown for every ACO
    ]
    assert dead.outcome == "not_aligned"
    assert [(r.pathway, r.criterion, r.value, r.acos) for r in dead.reasons] == [
        ("voluntary", "eligible", "false", None),
        ("voluntary", "designated_here", "unknown", None),
        ("claims", "eligible", "false", None),
        ("claims", "plurality_here", "unknown", None),
    ]


def test_short_circuited_operands_are_marked_skipped(example_policy: Policy) -> None:
    trace = decide(example_policy, "dead").trace
    assert trace is not None
    eligible = trace.find("criterion", "eligible")
    assert eligible is not None and eligible.value is False
    (boolop,) = eligible.children
    assert [(c.kind, c.text, c.skipped) for c in boolop.children] == [
        ("criterion", "bene.death_date is null or bene.death_date >= date(py, 1, 1)", False),
        ("expr", "part_a_and_b", True),
        ("expr", "not_in_ma", True),
    ]
    skipped = boolop.children[1].to_dict()
    assert "value" not in skipped and skipped["skipped"] is True
    # skipped operands are located where they are written
    assert skipped["at"] == f"{EXAMPLE / 'policy.yaml'}:{source_line('eligible') + 1}:21"
    # never evaluated, so no node of those criteria anywhere in the trace
    assert trace.find("criterion", "part_a_and_b") is None


def test_alive_or_skips_the_comparison(example_policy: Policy) -> None:
    trace = decide(example_policy, "claims").trace
    assert trace is not None
    alive = trace.find("criterion", "alive")
    assert alive is not None and alive.value is True
    (orop,) = alive.children
    assert [(c.text, c.skipped) for c in orop.children] == [
        ("bene.death_date is null", False),
        ("bene.death_date >= date(py, 1, 1)", True),
    ]


def test_hierarchy_skips_later_pathways(example_policy: Policy) -> None:
    trace = decide(example_policy, "voluntary").trace
    assert trace is not None
    assert [(c.kind, c.label, c.skipped) for c in trace.children] == [
        ("pathway", "voluntary", False),
        ("pathway", "claims", True),
    ]
    assert trace.children[1].note == "not evaluated: the voluntary pathway decided"
    assert trace.children[1].children == []


def test_fields_read_appear_with_values(example_policy: Policy) -> None:
    trace = decide(example_policy, "dead").trace
    assert trace is not None
    alive = trace.find("criterion", "alive")
    assert alive is not None
    assert alive.to_dict()["reads"] == [
        {"field": "bene.death_date", "value": "2026-06-01"},
        {"field": "py", "value": 2028},
    ]
    fields = [(n.text, to_json(n.value)) for n in walk(trace) if n.kind == "field"]
    assert ("bene.death_date", "2026-06-01") in fields
    assert ("aco.participant_tins", ["111111111", "111111112"]) in fields
    assert ("aco.participant_tins", ["222222222"]) in fields
    clm = decide(example_policy, "claims").trace
    assert clm is not None
    here = clm.find("criterion", "in_service_area")
    assert here is not None
    assert ("bene.residence.county_fips", "37135") in here.reads()


def test_criteria_carry_source_and_place(example_policy: Policy) -> None:
    trace = decide(example_policy, "claims").trace
    assert trace is not None
    criteria = [n for n in walk(trace) if n.kind == "criterion"]
    assert {n.label for n in criteria} == set(example_policy.criteria())
    for node in criteria:
        item = example_policy.criteria()[node.label]
        d = node.to_dict()
        assert d["source"] == item.source
        assert d["at"] == f"{EXAMPLE / 'policy.yaml'}:{source_line(node.label)}:3"
        assert d["description"] == item.description


def test_comprehension_rows_and_argmax_candidates(example_policy: Policy) -> None:
    trace = decide(example_policy, "claims").trace
    assert trace is not None
    pc = trace.find("definition", "pc_claims")
    assert pc is not None
    (comp,) = [c for c in pc.children if c.kind == "expr"]
    assert comp.rows is not None
    # one row per claim line; where is false for C4 (not primary care) and C5 (2026)
    assert [(r["index"], r["where"]) for r in comp.rows] == [(0, True), (1, True), (2, True), (3, False), (4, False)]
    assert comp.rows[0]["reads"]["c.hcpcs"] == "99213"
    plurality = trace.find("definition", "plurality_tin")
    assert plurality is not None and plurality.value == "111111111"
    (argmax,) = [c for c in plurality.children if c.kind == "expr"]
    assert argmax.candidates == [
        {"value": "111111111", "scores": [100.0], "rank": 1},
        {"value": "222222222", "scores": [90.0], "rank": 2},
    ]


def test_tie_is_noted_in_the_trace(example_policy: Policy) -> None:
    record = dict(RECORDS["claims"])
    record["claims"] = [
        {"from_date": "2027-03-01", "tin": "222222222", "hcpcs": "99213", "allowed": "50"},
        {"from_date": "2027-03-02", "tin": "111111111", "hcpcs": "99213", "allowed": "50"},
    ]
    d = example_policy.evaluate(record, EXAMPLE_MARKET)
    assert d.outcome == "not_aligned"  # tie_rule is "none"
    assert d.trace is not None
    plurality = d.trace.find("definition", "plurality_tin")
    assert plurality is not None and plurality.value is None
    (argmax,) = [c for c in plurality.children if c.kind == "expr"]
    assert argmax.note == "tie between 111111111, 222222222; rule 'none' gives None"
    assert [c["rank"] for c in argmax.candidates or []] == [1, 1]


def test_repeated_values_are_cached_not_recomputed(example_policy: Policy) -> None:
    trace = decide(example_policy, "dead").trace
    assert trace is not None
    acos = [c for c in trace.children[0].children if c.kind == "aco"]
    assert [a.label for a in acos] == ["ACO-A", "ACO-B"]
    first, second = (a.children[0] for a in acos)
    assert (first.label, first.cached, second.label, second.cached) == ("eligible", False, "eligible", True)
    assert "reads" not in second.to_dict() and "children" not in second.to_dict()


def test_named_items_used_per_row_leave_one_node(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            definitions={"limit": "market.performance_year - 2000"},
            criteria={"c": "count(x for x in [1, 2, 3, 40] where x < limit) == 3"},
        )
    )
    d = policy.evaluate({"bene_id": "X"}, {"performance_year": 2028, "acos": [{"id": "A"}]})
    assert d.outcome == "aligned" and d.trace is not None
    (comp,) = [n for n in walk(d.trace) if n.kind == "expr" and n.label == "comprehension"]
    # the source list, then 'limit' once (first row); later rows reuse it without a node each
    assert [(n.kind, n.label, n.cached) for n in comp.children] == [
        ("expr", "collection", False),
        ("definition", "limit", False),
    ]
    assert [r["where"] for r in comp.rows or []] == [True, True, True, False]


def test_if_marks_the_branch_not_taken(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            criteria={
                "c": "(if bene.death_date is null then bene.bene_id else bene.residence.state) == 'X'",
                "u": "(if bene.death_date > @2000-01-01 then bene.bene_id else bene.residence.state) is null",
            },
            pathways={"p": {"requires": ["c", "u"]}},
        )
    )
    d = policy.evaluate({"bene_id": "X"}, {"performance_year": 2028, "acos": [{"id": "A"}]})
    assert d.outcome == "aligned" and d.trace is not None
    conds = [n for n in walk(d.trace) if n.label == "cond"]
    assert [[(c.text, c.skipped) for c in n.children] for n in conds] == [
        [("bene.death_date is null", False), ("bene.bene_id", False), ("bene.residence.state", True)],
        # an unknown condition takes else
        [("bene.death_date > @2000-01-01", False), ("bene.residence.state", False), ("bene.bene_id", True)],
    ]


def test_repeated_operand_after_short_circuit_is_skipped(make_policy: Callable[..., Path]) -> None:
    policy = load_policy(
        make_policy(
            definitions={"x": "bene.death_date is null"},
            criteria={"c": "not (x and bene.bene_id == 'nope' and x)"},
        )
    )
    d = policy.evaluate({"bene_id": "X"}, {"performance_year": 2028, "acos": [{"id": "A"}]})
    assert d.trace is not None
    (andop,) = [n for n in walk(d.trace) if n.label == "boolop"]
    assert [(c.kind, c.label, c.text, c.skipped) for c in andop.children] == [
        ("definition", "x", "bene.death_date is null", False),
        ("expr", "compare", "bene.bene_id == 'nope'", False),
        ("expr", "name", "x", True),  # the same name again: still skipped, by position
    ]


def test_trace_json_values(example_policy: Policy) -> None:
    d = normalise(decide(example_policy, "dead"))
    trace = d["trace"]
    assert trace["value"] is None and trace["note"] == "not_aligned"  # no ACO: null, not "unknown"
    assert [(p["label"], p["value"], p["note"]) for p in trace["children"]] == [
        ("voluntary", None, "failed"),
        ("claims", None, "failed"),
    ]
    assert d["policy"] == {"id": "example-alignment", "version": "1.0", "hash": "<content-hash>"}


def test_without_trace_the_decision_is_the_same(example_policy: Policy) -> None:
    for name in RECORDS:
        traced, fast = decide(example_policy, name), decide(example_policy, name, trace=False)
        assert fast.trace is None
        a, b = traced.to_dict(trace=False), fast.to_dict(trace=False)
        assert a == b, name


def test_example_policy_loads_from_a_relative_copy(tmp_path: Path) -> None:
    # the content hash depends on the files, not on where the folder is
    import shutil

    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy)
    assert load_policy(copy).content_hash == load_policy(EXAMPLE).content_hash
    (copy / "codes" / "primary-care.yaml").write_text(
        (copy / "codes" / "primary-care.yaml").read_text(encoding="utf-8").replace("G0439", "G0440"), encoding="utf-8"
    )
    assert load_policy(copy).content_hash != load_policy(EXAMPLE).content_hash
