"""JSON Schemas for editors: policy files, policy-test files, parameter (code list) files and markets.

The schemas are generated from the pydantic models that the loader validates
with (:class:`~lead_rules.policy_model.PolicyFileSpec`,
:class:`~lead_rules.policy_model.ParameterFileSpec`,
:class:`~lead_rules.records.Market`) and, for policy-test files, from the
models below, whose keys are checked against the ones the test-file parser
accepts (:mod:`lead_rules.testing.cases`). They are published in ``schemas/``
and every bundled YAML file names its schema on its first line
(``# yaml-language-server: $schema=...``), so VS Code's YAML extension
completes keys and flags unknown ones. ``python -m lead_rules.tools.json_schema
[--check] [FOLDER]`` writes (or checks) the published files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..language.policy_model import ParameterFileSpec, PolicyFileSpec
from ..language.records import Market

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


SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "policy.schema.json": (PolicyFileSpec, "lead-rules policy file"),
    "policy-test.schema.json": (PolicyTestFile, "lead-rules policy-test file (*.test.yaml)"),
    "parameter-file.schema.json": (ParameterFileSpec, "lead-rules parameter data file (code list)"),
    "market.schema.json": (Market, "lead-rules market file"),
}


def schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema of ``model`` (by alias, as written in YAML)."""
    s = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": SCHEMA_DIALECT, "title": title, **{k: v for k, v in s.items() if k != "title"}}


def rendered() -> dict[str, str]:
    """Every published schema file name and its text."""
    return {name: json.dumps(schema(m, t), indent=2, sort_keys=True) + "\n" for name, (m, t) in SCHEMAS.items()}


def schema_for(path: Path) -> str | None:
    """The schema file a bundled YAML file should name, from its place in a policy folder."""
    if path.name.endswith((".test.yaml", ".test.yml")):
        return "policy-test.schema.json"
    parent = path.parent.name
    if parent == "codes":
        return "parameter-file.schema.json"
    if parent == "markets":
        return "market.schema.json"
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
