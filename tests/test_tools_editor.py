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

from lead_rules import policy_tests
from lead_rules.tools.json_schema import (
    MODELINE,
    Case,
    Defaults,
    Expectation,
    MonthsHelper,
    PolicyTestFile,
    ReasonExpectation,
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
