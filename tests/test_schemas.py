"""Schemas as data: the bundled schemas, their validators, and a field added in YAML only.

The bundled beneficiary and market schemas must describe exactly what
``records.py`` (the Python compatibility layer) describes; a policy that
declares a copy of the schema with a new monthly flag, and a criterion that
reads it, decides differently, and identically on the interpreter and DuckDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, EXAMPLE_MARKET, REPO

from lead_rules.engine.policy import check_policy, load_policy
from lead_rules.language import records
from lead_rules.language.errors import Diagnostics, PolicyError
from lead_rules.language.json_schema import json_schema
from lead_rules.language.schema import bundled, fields_of, load_schema
from lead_rules.language.types import BOOL, ListT, StructT, struct_of
from lead_rules.sql.differential import compare

SCHEMAS = REPO / "policies" / "schemas"


def test_bundled_schemas_equal_the_python_models() -> None:
    assert bundled("beneficiary").struct == struct_of(records.Beneficiary)
    assert bundled("market").struct == struct_of(records.Market)


def test_beneficiary_schema_follows_records_md() -> None:
    bene = bundled("beneficiary")
    claims = bene.struct.field("claims")
    assert isinstance(claims, ListT) and isinstance(claims.elem, StructT)
    assert {"pos", "provider_type", "allowed"} <= set(claims.elem.field_names())
    required = {f.name for f in bene.fields() if f.required}
    assert required == {"bene_id"}
    residence = bene.struct.field("residence")
    assert isinstance(residence, StructT)
    us = next(f for f in fields_of(residence) if f.name == "us")
    assert us.default is True
    states = bundled("market").struct.field("medicaid_integration_states")
    assert isinstance(states, ListT) and states.is_set


def test_market_integration_states_absent_is_null_not_empty() -> None:
    model = bundled("market").model
    assert model.model_validate({"performance_year": 2028}).medicaid_integration_states is None  # type: ignore[attr-defined]
    given = model.model_validate({"performance_year": 2028, "medicaid_integration_states": ["NC"]})
    assert given.medicaid_integration_states == frozenset({"NC"})  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"bene_id": "B1", "months": [{"month": "2027-13"}]}, "months.0.month"),
        ({"bene_id": "B1", "claims": [{"tin": 561234567}]}, "claims.0.tin"),
        ({"bene_id": "B1", "residence": {"us": "maybe"}}, "residence.us"),
        ({"bene_id": ""}, "bene_id"),
        ({"months": []}, "bene_id"),
    ],
)
def test_validation_errors_name_the_record_and_field(record: dict[str, Any], field: str) -> None:
    policy = load_policy(EXAMPLE)
    d = policy.evaluate(record, EXAMPLE_MARKET)
    assert d.outcome == "error"
    assert d.bene_id == record.get("bene_id")
    assert field in [e["field"] for e in d.errors]


def test_json_and_mapping_validation_agree() -> None:
    policy = load_policy(EXAMPLE)
    line = '{"bene_id": "B1", "months": [{"month": "2027-01", "buyin": "3"}], "claims": [{"allowed": 12.5}]}'
    import json
    from decimal import Decimal

    assert policy.validate_record(line) == policy.validate_record(json.loads(line, parse_float=Decimal))


def test_json_schema_is_derived() -> None:
    js = json_schema(bundled("beneficiary"))
    assert js["required"] == ["bene_id"]
    claim = js["properties"]["claims"]["items"]
    assert "pos" in claim["properties"]
    partners = json_schema(bundled("market"))["properties"]["acos"]["items"]["properties"]["medicaid_partners"]
    assert partners["items"]["properties"]["kind"]["enum"] == ["MCO", "SMA"]
    assert "kind" in partners["items"]["required"]
    assert partners["items"]["allOf"] == [
        {"if": {"properties": {"kind": {"const": "MCO"}}, "required": ["kind"]},
         "then": {"required": ["plan_ids"], "properties": {"plan_ids": {"minItems": 1}}}}
    ]


def test_lists_default_to_empty_and_null_is_absent() -> None:
    # records.md: absent and null both mean "not known"; a null list is empty and a null field takes its default
    model = bundled("beneficiary").model
    for m in (model, records.Beneficiary):
        assert m.model_validate({"bene_id": "B1"}).months == []  # type: ignore[attr-defined]
        assert m.model_validate({"bene_id": "B1", "months": None}).months == []  # type: ignore[attr-defined]
        nulls = m.model_validate({"bene_id": "B1", "residence": {"state": "NC", "us": None}})
        assert nulls.residence.us is True  # type: ignore[attr-defined]
        with pytest.raises(ValueError):
            m.model_validate({"bene_id": "B1", "months": {"month": "2027-01"}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: {id: x, name: X, root: x}\nfields: {a: {type: strnig}}\n", "unknown type 'strnig'"),
        ("schema: {id: x, name: X, root: x}\nfields: {a: {type: string, requried: true}}\n", "unknown key 'requried'"),
        ("schema: {id: x, name: X, root: x}\nfields: {a: {type: struct}}\n", "needs 'fields'"),
        ("schema: {id: x, name: X}\nfields: {a: string}\n", "'schema.root' must be an identifier"),
        ("schema: {id: x, name: X, root: x}\nfields: {a: {type: int, enum: [A]}}\n", "'enum'"),
        ("schema: {id: x, name: X, root: x}\nfields: {a: {type: string, nonempty_when: {b: B}}}\n", "'nonempty_when'"),
        ("schema: {id: x, name: X, root: x}\nfields: {a: {type: set<string>, nonempty_when: {b: B}}}\n",
         "names no field"),
    ],
)
def test_schema_errors_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    diags = Diagnostics()
    assert load_schema(p, diags) is None
    errors = [d for d in diags.sorted() if d.severity == "error"]
    assert any(message in d.message for d in errors), [d.render() for d in errors]
    assert all(d.span.file == str(p) and d.span.line >= 1 for d in errors)


def _policy_with_schema(tmp_path: Path) -> Path:
    """A copy of the example policy that declares a copy of the bundled schemas."""
    root = tmp_path / "policies"
    shutil.copytree(EXAMPLE, root / "example", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(SCHEMAS, root / "schemas")
    policy = root / "example" / "policy.yaml"
    text = policy.read_text()
    policy.write_text(
        text.replace(
            '  version: "1.0"\n',
            '  version: "1.0"\n  schemas: {record: ../schemas/beneficiary.yaml, context: ../schemas/market.yaml}\n',
            1,
        )
    )
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


HOSPICE_CRITERION = """  not_in_hospice:
    expr: count(m for m in window_months where m.hospice == true) == 0
    description: No hospice election in the window.
    source: a test
"""


def _population() -> list[dict[str, Any]]:
    month = {"buyin": "3", "hmo": "0", "dual": "NA", "msp": False}
    out = []
    for i in range(8):
        months = [{"month": f"2027-{m:02d}", **month} for m in range(1, 13)]
        if i % 2:
            months[5]["hospice"] = True
        elif i % 4 == 0:
            months[3]["hospice"] = None
        out.append(
            {
                "bene_id": f"B{i}",
                "residence": {"state": "NC", "county_fips": "37063", "us": True},
                "months": months,
                "voluntary": [{"date": "2027-03-01", "tin": "111111111", "channel": "medicare_gov"}],
            }
        )
    return out


def test_a_field_added_in_yaml_changes_decisions_on_both_engines(tmp_path: Path) -> None:
    root = _policy_with_schema(tmp_path)
    folder = root / "example"
    records_ = _population()
    before = load_policy(folder)
    assert not before.warnings
    decided = [before.evaluate(r, EXAMPLE_MARKET).outcome for r in records_]
    assert set(decided) == {"aligned"}
    assert compare(before, EXAMPLE_MARKET, records_, workdir=tmp_path) == []

    # reading the flag before it is declared is an error: unknown fields are unreadable
    _edit(folder / "policy.yaml", "criteria:\n", "criteria:\n" + HOSPICE_CRITERION)
    _edit(folder / "policy.yaml", "expr: alive and part_a_and_b and not_in_ma", "expr: alive and part_a_and_b and "
          "not_in_ma and not_in_hospice")
    policy, diagnostics = check_policy(folder)
    assert policy is None
    assert any(d.code == "E201" and "hospice" in d.message for d in diagnostics)

    # declared in the (copied) schema, YAML only: the criterion reads it
    _edit(
        root / "schemas" / "beneficiary.yaml",
        "      msp:\n",
        "      hospice:\n        type: bool\n        description: hospice election this month\n      msp:\n",
    )
    after = load_policy(folder)
    months = after.record_schema.struct.field("months") if after.record_schema else None
    assert isinstance(months, ListT) and isinstance(months.elem, StructT) and months.elem.field("hospice") == BOOL
    outcomes = [after.evaluate(r, EXAMPLE_MARKET).outcome for r in records_]
    assert outcomes == ["not_aligned" if i % 2 else "aligned" for i in range(8)]  # a null flag is no election
    assert compare(after, EXAMPLE_MARKET, records_, workdir=tmp_path) == []


def test_schema_paths_stay_in_the_policy_or_shared_folder(tmp_path: Path) -> None:
    root = _policy_with_schema(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(SCHEMAS / "beneficiary.yaml", outside / "beneficiary.yaml")
    _edit(root / "example" / "policy.yaml", "../schemas/beneficiary.yaml", "../../elsewhere/beneficiary.yaml")
    with pytest.raises(PolicyError) as err:
        load_policy(root / "example")
    assert any(d.code == "E504" for d in err.value.diagnostics)


def test_schema_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from lead_rules.cli import main

    assert main(["schema", str(SCHEMAS / "beneficiary.yaml")]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["title"] == "Beneficiary" and js["required"] == ["bene_id"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: {id: x, name: X, root: x}\nfields:\n  a: {type: lsit<string>}\n")
    assert main(["schema", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and "unknown type 'lsit<string>'" in err


def test_every_bundled_schema_loads_and_has_a_root() -> None:
    from lead_rules.language.schema import bundled_schemas

    schemas = bundled_schemas()
    assert {"beneficiary", "market", "state_profile", "arrangement", "settlement"} <= set(schemas)
    assert len({s.root for s in schemas.values()}) == len(schemas)


PLANLESS_MARKET = """\
performance_year: 2028
acos:
  - id: LEAD-0001
    participant_tins: ["561234567"]
    medicaid_partners:
      - {state: NC, kind: SMA}
      - state: NC
        kind: MCO
"""


def test_the_market_schema_rejects_an_mco_partnership_without_plans() -> None:
    model = bundled("market").model
    good = {"performance_year": 2028, "acos": [{"id": "A", "medicaid_partners": [{"state": "NC", "kind": "SMA"}]}]}
    model.model_validate(good)
    for partner in ({"state": "NC", "kind": "MCO"}, {"state": "NC", "kind": "MCO", "plan_ids": []}):
        bad = {"performance_year": 2028, "acos": [{"id": "A", "medicaid_partners": [partner]}]}
        with pytest.raises(ValueError, match="plan_ids must list at least one value when kind is MCO"):
            model.model_validate(bad)
        with pytest.raises(ValueError, match="plan_ids"):
            records.Market.model_validate(bad)  # the same check, in the typed compatibility layer


def test_a_declared_market_schema_keeps_the_plan_check_with_the_market_files_line(tmp_path: Path) -> None:
    """A policy with its own market schema (here with one more field) validates markets with it, not with
    records.py: the check that an MCO partnership lists its plans comes from the schema, as E401 at the line."""
    root = _policy_with_schema(tmp_path)
    region = "  region: {type: string, description: a test field}\n"
    _edit(root / "schemas" / "market.yaml", "  acos:\n", region + "  acos:\n")
    policy = load_policy(root / "example")
    assert policy.context_schema is not None and policy.context_schema.struct != bundled("market").struct
    market = tmp_path / "market.yaml"
    market.write_text(PLANLESS_MARKET, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        policy.load_context(market)
    text = str(info.value)
    assert "E401" in text and "acos.0.medicaid_partners.1" in text and "plan_ids" in text
    assert f"{market}:7:" in text  # the line of the MCO partnership
    market.write_text(PLANLESS_MARKET + "        plan_ids: [NC-MCO-0042]\nregion: south\n", encoding="utf-8")
    assert policy.load_context(market).region == "south"
