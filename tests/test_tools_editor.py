"""Editor support: published JSON Schemas, the modeline of every bundled YAML file."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lead_rules.language import schema as schema_files  # the schema-file keys
from lead_rules.testing import cases as policy_tests  # the file format (keys) lives in testing/cases.py
from lead_rules.testing import kind_tests  # the test files of the decision kinds
from lead_rules.tools.json_schema import (
    MODELINE,
    Case,
    Defaults,
    Expectation,
    FieldDecl,
    KindCase,
    KindExpectation,
    MonthsHelper,
    PolicyTestFile,
    ReasonExpectation,
    SchemaHead,
    main,
    rendered,
    schema_for,
)

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "schemas"
BUNDLED = sorted(p for p in (REPO / "policies").rglob("*.y*ml"))


def plain(v: Any) -> Any:
    """YAML data as the YAML language server sees it (dates are strings)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / name).read_text()))


def test_published_schemas_are_generated_from_the_models() -> None:
    assert main(["--check", str(SCHEMAS)]) == 0
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(rendered())
    for text in rendered().values():
        jsonschema.Draft202012Validator.check_schema(json.loads(text))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_bundled_yaml_names_its_schema_and_validates(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith(MODELINE), f"{path} has no modeline"
    target = (path.parent / first[len(MODELINE) :]).resolve()
    assert target == (SCHEMAS / str(schema_for(path))).resolve()
    assert os.path.exists(target)
    errors = list(validator(target.name).iter_errors(plain(yaml.safe_load(path.read_text()))))
    assert errors == [], [e.message for e in errors]


def test_schemas_reject_typos() -> None:
    policy = validator("policy.schema.json")
    assert list(policy.iter_errors({"critera": {}}))
    assert list(policy.iter_errors({"criteria": {"x": {"expr": "true", "reasn": "?"}}}))
    assert not list(policy.iter_errors({"criteria": {"x": {"expr": "true", "reason": "!"}}}))
    tests = validator("policy-test.schema.json")
    assert list(tests.iter_errors({"cases": [{"name": "a", "expect": {"outcom": "aligned"}}]}))
    assert list(tests.iter_errors({"cases": [{"name": "a", "expect": {"outcome": "maybe"}}]}))
    assert not list(tests.iter_errors({"cases": [{"name": "a", "expect": {"outcome": "aligned"}}]}))


def _keys(model: Any) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def test_the_test_file_schema_has_the_parsers_keys() -> None:
    assert _keys(PolicyTestFile) == sorted(policy_tests.FILE_KEYS)
    assert _keys(Defaults) == sorted(policy_tests.DEFAULT_KEYS)
    assert _keys(Case) == sorted(policy_tests.CASE_KEYS)
    assert _keys(Expectation) == sorted(policy_tests.EXPECT_KEYS)
    assert _keys(ReasonExpectation) == sorted(policy_tests.REASON_KEYS)
    assert _keys(MonthsHelper) == sorted(policy_tests.MONTHS_KEYS)


def test_the_decision_test_and_schema_file_schemas_have_their_parsers_keys() -> None:
    assert _keys(KindCase) == sorted(kind_tests.CASE_KEYS)
    assert _keys(KindExpectation) == sorted(kind_tests.EXPECT_KEYS)
    assert _keys(SchemaHead) == sorted(schema_files.SCHEMA_KEYS)
    assert _keys(FieldDecl) == sorted(schema_files.FIELD_KEYS)


def test_the_new_kinds_of_files_get_schemas_that_reject_typos() -> None:
    policy = validator("policy.schema.json")
    verdict = {"kind": "verdict", "subject": {"id": "arrangement.id"}, "requires": ["a"]}
    assert not list(policy.iter_errors({"decision": verdict}))
    assert list(policy.iter_errors({"decision": {**verdict, "kind": "vote"}}))
    assert list(policy.iter_errors({"decision": {**verdict, "require": ["a"]}}))
    tests = validator("decision-test.schema.json")
    case = {"name": "a", "record": {"id": "X"}, "expect": {"outcome": "valid", "only_reasons": True}}
    assert not list(tests.iter_errors({"cases": [case]}))
    assert list(tests.iter_errors({"cases": [{**case, "recods": []}]}))
    assert list(tests.iter_errors({"cases": [{**case, "expect": {"outcom": "valid"}}]}))
    assert list(tests.iter_errors({"cases": [{**case, "expect": {"subjects": {"NC": {"subjects": {}}}}}]}))
    files = validator("schema-file.schema.json")
    head = {"id": "x", "name": "X", "root": "x"}
    struct = {"type": "struct", "fields": {"c": "int"}}
    assert not list(files.iter_errors({"schema": head, "fields": {"a": "string", "b": struct}}))
    assert list(files.iter_errors({"schema": head, "fields": {"b": {**struct, "fields": {"c": {"typ": "int"}}}}}))
    assert list(files.iter_errors({"schema": {**head, "unknown_fields": "drop"}, "fields": {"a": "string"}}))
    states = validator("state-profile.schema.json")
    doc = {"state": "NC"}
    assert not list(states.iter_errors(doc)) and not list(states.iter_errors([doc, doc]))
    assert list(states.iter_errors([{"state": 37}]))


# --- lead-rules fmt ---------------------------------------------------------------------------

MESSY = """\
# a comment at the top
parameters:
    window_months:          # trailing comment
        type: int
        value: 12{trailing}
    codes:
        type: set<string>
        value:
        -   "02"
        -   '04'
criteria:
    alive:
        expr: >-
          bene.death_date is null
          or bene.death_date >= date(2028, 1, 1)
        reason: ~
hierarchy: [a, b]
""".format(trailing="   ")


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


def test_fmt_normalises_keeps_comments_and_meaning_and_is_idempotent(tmp_path: Path) -> None:
    from lead_rules.tools.fmt import format_text

    once = format_text(MESSY)
    assert format_text(once) == once
    assert yaml.safe_load(once) == yaml.safe_load(MESSY)
    assert comments(once) == comments(MESSY)
    assert "  window_months:" in once and '      - "02"' in once and "      - '04'" in once
    assert "reason: null" in once and "hierarchy: [a, b]" in once
    assert all(line == line.rstrip() for line in once.splitlines())


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(REPO)))
def test_fmt_of_a_bundled_file_keeps_its_comments_and_data(path: Path) -> None:
    from lead_rules.tools.fmt import format_text

    text = path.read_text()
    out = format_text(text)
    assert format_text(out) == out
    assert yaml.safe_load(out) == yaml.safe_load(text)
    assert comments(out) == comments(text)


def test_fmt_command_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lead_rules.cli import main as cli

    (tmp_path / "p").mkdir()
    messy = tmp_path / "p" / "policy.yaml"
    messy.write_text(MESSY)
    assert cli(["fmt", "--check", str(tmp_path / "p")]) == 1
    assert messy.read_text() == MESSY  # --check writes nothing
    assert "would reformat" in capsys.readouterr().out
    assert cli(["fmt", str(tmp_path / "p")]) == 0
    assert cli(["fmt", "--check", str(messy)]) == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    assert cli(["fmt", str(broken)]) == 2
    assert broken.read_text() == "a: [1, 2\n"
    assert cli(["fmt", str(tmp_path / "missing.yaml")]) == 2


# --- lead-rules eval-expr ------------------------------------------------------------------------


def test_eval_expr_agrees_with_the_interpreter(tmp_path: Path) -> None:
    from lead_rules.engine.policy import load_market, load_policy
    from lead_rules.sql.reference import Reference
    from lead_rules.synth.generate import write_population
    from lead_rules.tools.eval_expr import evaluate_expression

    pop = write_population(tmp_path, 25, 4, formats=("jsonl",))
    policy = load_policy(REPO / "policies" / "lead")
    market = load_market(pop["market"])
    ref = Reference(policy, market)
    records = [json.loads(line) for line in pop["jsonl"].read_text().splitlines()]
    seen = set()
    for record in records:
        row = ref.row(record)
        for aco in market.acos[:2]:
            for name in ("claims_plurality_here", "in_service_area", "full_benefit_dual"):
                column = f"c:{name}@{aco.id}" if f"c:{name}@{aco.id}" in row else f"c:{name}"
                got = evaluate_expression(policy, name, record, market, aco.id)
                assert got.value == row[column], (record["bene_id"], aco.id, name)
                seen.add(got.value)
        total = evaluate_expression(policy, "count(bene.claims)", record, market).value
        assert total == len(record.get("claims") or [])
    assert {True, False} <= seen


def test_eval_expr_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lead_rules.cli import main as cli

    record = tmp_path / "r.json"
    record.write_text(json.dumps({"bene_id": "B1", "claims": [{"allowed": 10.5}, {"allowed": 2}]}))
    base = ["eval-expr", "--policy", str(REPO / "policies" / "lead"), "--record", str(record)]
    assert cli([*base, "sum(c.allowed for c in bene.claims)"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "12.5" and "expression sum(c.allowed for c in bene.claims) = 12.5" in out
    assert cli([*base, "--json", "voluntary_cutoff"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["value"] == "2027-09-30" and data["trace"]["children"][0]["label"] == "voluntary_cutoff"
    assert cli([*base, "count(bene.claim)"]) == 1
    err = capsys.readouterr().err
    assert "<expression>:1:12" in err and "did you mean 'claims'" in err
    assert cli([*base, "count(bene.claims) +"]) == 1
    assert cli([*base, "--aco", "NOPE", "in_service_area"]) == 2


def test_bundled_files_are_formatted_except_the_lead_policy() -> None:
    # `make policy-tests` runs `lead-rules fmt --check policies/`; policies/lead is formatted on merge
    from lead_rules.tools.fmt import format_text

    lead = REPO / "policies" / "lead"
    unformatted = [p for p in BUNDLED if lead not in p.parents and format_text(p.read_text()) != p.read_text()]
    assert not unformatted
