"""JSON Schemas for editors: every kind of YAML file a policy folder holds.

The schemas are generated from the pydantic models that the loader validates
with (:class:`~lead_rules.language.policy_model.PolicyFileSpec` with the
``decision:`` section of :class:`~lead_rules.language.decisions.DecisionSpec`,
:class:`~lead_rules.language.policy_model.ParameterFileSpec`,
:class:`~lead_rules.language.records.Market`); for policy-test files (of
alignment and of decision-kind policies) and schema files from the models
below, whose keys are checked against the ones their parsers accept
(:mod:`lead_rules.testing.cases`, :mod:`lead_rules.testing.kind_tests`,
:mod:`lead_rules.language.schema`); and for the input documents of the
decision kinds (``samples/``) from the bundled schema files themselves
(:mod:`lead_rules.language.json_schema`). They are published in ``schemas/``
and every bundled YAML file names its schema on its first line
(``# yaml-language-server: $schema=...``, see :func:`schema_for`), so VS
Code's YAML extension completes keys and flags unknown ones. ``python -m
lead_rules.tools.json_schema [--check] [FOLDER]`` writes (or checks) the
published files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..language.decisions import DecisionSpec
from ..language.json_schema import json_schema as document_schema
from ..language.market_checks import MarketCheckSpec
from ..language.policy_model import ParameterFileSpec, PolicyFileSpec
from ..language.records import Market
from ..language.schema import bundled_schemas

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODELINE = "# yaml-language-server: $schema="


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Truth = Literal["true", "false", "unknown", "not_evaluated"] | bool


class MonthsHelper(_Strict):
    """``months:`` as a mapping: one row per month from ``from`` to ``to``."""

    from_: str | None = Field(default=None, alias="from", description="first month, YYYY-MM")
    to: str | None = Field(default=None, description="last month, YYYY-MM (inclusive)")
    with_: dict[str, Any] | None = Field(default=None, alias="with", description="the fields of every row")
    per_month: dict[str, dict[str, Any] | None] | None = Field(
        default=None, description="month -> fields merged into that row, or null to leave the month out"
    )


class ReasonExpectation(_Strict):
    """A reason the decision must carry."""

    criterion: str
    pathway: str | None = None
    value: Literal["true", "false", "unknown", "tie"] | bool | None = None
    aco: str | None = None


class Expectation(_Strict):
    """What a case expects of the decision."""

    outcome: Literal["aligned", "not_aligned", "error"] | None = None
    aco_id: str | None = None
    pathway: str | None = None
    reasons: list[str | ReasonExpectation] | None = None
    criteria: dict[str, Truth] | None = Field(default=None, description="name or name@ACO -> expected value")


class RecordOverride(BaseModel):
    """A beneficiary record (or the part of it a case overrides); ``months`` may be the months helper."""

    model_config = ConfigDict(extra="allow")

    months: MonthsHelper | list[dict[str, Any]] | None = None


class Defaults(_Strict):
    """Merged into every case."""

    record: RecordOverride | None = None
    market: str | dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    expect: Expectation | None = None


class Case(_Strict):
    """One test case."""

    name: str
    rule: str | None = Field(default=None, description="the rule the case pins down (a citation)")
    record: RecordOverride | None = None
    market: str | dict[str, Any] | None = Field(default=None, description="a path, or a mapping merged into the market")
    parameters: dict[str, Any] | None = None
    expect: Expectation | None = None


class PolicyTestFile(_Strict):
    """A ``*.test.yaml`` policy-test file (see :mod:`lead_rules.testing.cases`)."""

    description: str | None = None
    policy: str | None = Field(default=None, description="the policy tested (default: the folder above tests/)")
    market: str | dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    base: RecordOverride | None = None
    defaults: Defaults | None = None
    cases: list[Case]


class PolicyFile(PolicyFileSpec):
    """A whole policy file, with the ``decision:`` section of a verdict, ranking or computation policy."""

    decision: DecisionSpec | None = Field(
        default=None, description="a decision of kind verdict, ranking or computation (instead of pathways)"
    )
    market_checks: dict[str, MarketCheckSpec] | None = Field(
        default=None, description="checks of the market that depend on the policy (docs/language.md, Market checks)"
    )


# --- test files of the decision kinds (lead_rules.testing.kind_tests) ---------------------------


class KindReason(_Strict):
    """A reason (criterion) the result must carry."""

    criterion: str
    value: Literal["true", "false", "unknown"] | bool | None = None


class SubjectExpectation(_Strict):
    """What a case expects of one subject's result."""

    outcome: str | None = Field(default=None, description="an outcome of the policy (valid, invalid, selected, ...)")
    reasons: list[str | KindReason] | None = Field(default=None, description="criteria among the reasons")
    only_reasons: bool | None = Field(default=None, description="and no reason besides those listed")
    outputs: dict[str, Any] | None = Field(default=None, description="output name -> expected value")
    errors: list[str] | None = Field(default=None, description="fields the error rows name")
    rank: int | None = Field(default=None, description="the rank of a ranking")
    score: Any = Field(default=None, description="the score of a ranking")


class KindExpectation(SubjectExpectation):
    """What a case expects: of its one subject, or of each subject by id (``subjects``)."""

    subjects: dict[str, SubjectExpectation] | None = Field(
        default=None, description="subject id -> its expectations (a ranking's whole input)"
    )


class KindCase(_Strict):
    """One test case of a decision-kind policy."""

    name: str
    rule: str | None = Field(default=None, description="the rule the case pins down (a citation)")
    record: dict[str, Any] | None = Field(default=None, description="the subject, deep-merged into base")
    records: list[dict[str, Any]] | None = Field(
        default=None, description="the whole input (a ranking), each deep-merged into base"
    )
    parameters: dict[str, Any] | None = None
    context: str | list[dict[str, Any]] | dict[str, Any] | None = Field(
        default=None, description="a file of context documents, or inline documents"
    )
    expect: KindExpectation


class DecisionTestFile(_Strict):
    """A ``*.test.yaml`` file of a verdict, ranking or computation policy (see :mod:`lead_rules.testing.kind_tests`)."""

    description: str | None = None
    policy: str | None = Field(default=None, description="the policy tested (default: the folder above tests/)")
    context: str | list[dict[str, Any]] | dict[str, Any] | None = Field(
        default=None, description="a file of context documents, or inline documents"
    )
    base: dict[str, Any] | None = Field(default=None, description="the base document of every case")
    cases: list[KindCase]


# --- schema files (lead_rules.language.schema) -----------------------------------------------


class SchemaHead(_Strict):
    """The ``schema:`` section of a schema file."""

    id: str = Field(description="an identifier: what policy.schemas and the published JSON Schema name")
    name: str = Field(description="the struct name (an identifier)")
    version: str | int | None = None
    root: str = Field(description="the root name in expressions: bene, market, arrangement, ...")
    description: str | None = None
    source: str | None = None
    unknown_fields: Literal["keep", "reject"] | None = Field(default=None, description="default keep")


class FieldDecl(_Strict):
    """One declared field (or just its type string: ``field: string``)."""

    type: str = Field(description="bool, int, decimal, string, date, month, list<T>, set<T>, map<T>, struct, "
                      "list<struct>")
    required: bool | None = None
    default: bool | int | str | None = None
    description: str | None = None
    source: str | None = None
    codes: dict[str, str] | None = Field(default=None, description="documented codes: code -> meaning")
    enum: list[str] | None = Field(default=None, description="the only values a string field may take")
    min_length: int | None = None
    name: str | None = Field(default=None, description="the struct name of a struct or list<struct> field")
    fields: dict[str, FieldDecl | str] | None = Field(default=None, description="the fields of a struct")
    nonempty_when: dict[str, str] | None = Field(
        default=None, description="one sibling field and its value: then this list must not be empty"
    )


class SchemaFile(_Strict):
    """A schema file (``policies/schemas/*.yaml``): the shape of a record or context document."""

    schema_: SchemaHead = Field(alias="schema")
    fields: dict[str, FieldDecl | str]


SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "policy.schema.json": (PolicyFile, "lead-rules policy file"),
    "policy-test.schema.json": (PolicyTestFile, "lead-rules policy-test file (*.test.yaml)"),
    "decision-test.schema.json": (
        DecisionTestFile, "lead-rules policy-test file of a verdict, ranking or computation policy (*.test.yaml)"
    ),
    "parameter-file.schema.json": (ParameterFileSpec, "lead-rules parameter data file (code list)"),
    "market.schema.json": (Market, "lead-rules market file"),
    "schema-file.schema.json": (SchemaFile, "lead-rules schema file (policies/schemas/*.yaml)"),
}


def schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema of ``model`` (by alias, as written in YAML)."""
    s = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": SCHEMA_DIALECT, "title": title, **{k: v for k, v in s.items() if k != "title"}}


def data_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schemas of input documents: ``<stem>.schema.json`` for every bundled schema file.

    A document file holds one document or a list of them (as
    :func:`lead_rules.language.documents.read_documents` reads YAML). The
    bundled market schema is left out: ``market.schema.json`` is the market
    file the loader validates (:class:`~lead_rules.language.records.Market`).
    """
    out: dict[str, dict[str, Any]] = {}
    for s in bundled_schemas().values():
        name = f"{Path(s.path).stem}.schema.json"
        if name in SCHEMAS:
            continue
        doc = {k: v for k, v in document_schema(s).items() if k not in ("$schema", "title")}
        ref = {"$ref": "#/$defs/document"}
        out[name] = {
            "$schema": SCHEMA_DIALECT,
            "title": f"lead-rules {s.id} documents (one, or a list): schema {s.name} of {Path(s.path).name}",
            "$defs": {"document": doc},
            "anyOf": [ref, {"type": "array", "items": ref}],
        }
    return out


def rendered() -> dict[str, str]:
    """Every published schema file name and its text."""
    out = {name: schema(m, t) for name, (m, t) in SCHEMAS.items()}
    out.update(data_schemas())
    return {name: json.dumps(s, indent=2, sort_keys=True) + "\n" for name, s in sorted(out.items())}


def _yaml_files(folder: Path) -> list[Any]:
    """The data of the YAML files directly in ``folder`` (a policy's files; tests and samples are below)."""
    out = []
    for p in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            out.append(yaml.safe_load(p.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue
    return out


def _is_decision_policy(folder: Path) -> bool:
    return any(isinstance(d, dict) and "decision" in d for d in _yaml_files(folder))


def _tested_folder(path: Path) -> Path:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("policy"), str):
        return path.parent / str(data["policy"])
    return path.parent.parent


def _record_schema(folder: Path) -> str:
    for d in _yaml_files(folder):
        meta = d.get("policy") if isinstance(d, dict) else None
        declared = meta.get("schemas") if isinstance(meta, dict) else None
        if isinstance(declared, dict) and isinstance(declared.get("record"), str):
            return f"{Path(declared['record']).stem}.schema.json"
    return "beneficiary.schema.json"  # a policy that declares no schema reads beneficiary records


def schema_for(path: Path) -> str | None:
    """The schema file a bundled YAML file should name, from its place in a policy folder.

    ``*.test.yaml``: ``decision-test`` when the policy tested has a
    ``decision:`` section, else ``policy-test``; ``codes/``: ``parameter-file``;
    ``markets/``: ``market``; ``schemas/``: ``schema-file``; ``samples/``: the
    documents of the policy's record schema (``policy.schemas.record``), or
    ``market`` for a file whose name ends in ``market``; any other YAML file:
    ``policy``.
    """
    if path.name.endswith((".test.yaml", ".test.yml")):
        return "decision-test.schema.json" if _is_decision_policy(_tested_folder(path)) else "policy-test.schema.json"
    parent = path.parent.name
    if parent == "codes":
        return "parameter-file.schema.json"
    if parent == "markets":
        return "market.schema.json"
    if parent == "schemas":
        return "schema-file.schema.json"
    if parent == "samples" and path.suffix in (".yaml", ".yml"):
        return "market.schema.json" if path.stem.endswith("market") else _record_schema(path.parent.parent)
    if path.suffix in (".yaml", ".yml"):
        return "policy.schema.json"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Write the schemas to FOLDER (default ``schemas``), or ``--check`` that they are up to date."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    rest = [a for a in args if a != "--check"]
    folder = Path(rest[0]) if rest else Path("schemas")
    stale = []
    for name, text in rendered().items():
        path = folder / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for s in stale:
        print(f"{s} is not up to date: run python -m lead_rules.tools.json_schema", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
