"""The shape of a policy file, validated with pydantic (part of YAML loading).

These models describe what keys each section of a policy YAML file may hold;
unknown keys are errors. Expressions stay strings here (parsed later), and a
validation error is mapped back to the YAML line of the offending key by
:func:`validate_section`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import Diagnostics
from .yaml_source import YNode


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SourceRef(_Strict):
    """A citation the policy uses."""

    id: str
    title: str | None = None
    url: str | None = None
    note: str | None = None


class Period(_Strict):
    """An effective period."""

    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None


class PolicyMetaSpec(_Strict):
    """The ``policy:`` section."""

    id: str
    title: str
    version: str
    effective: Period | None = None
    description: str | None = None
    sources: list[SourceRef] = Field(default_factory=list)
    schemas: dict[str, str] | None = None


class ParameterSpec(_Strict):
    """One entry of ``parameters:``."""

    type: str
    value: Any = None
    file: str | None = None
    description: str | None = None
    source: str | None = None
    notes: str | None = None


class ParameterFileSpec(_Strict):
    """A separately versioned parameter (code list) file."""

    values: list[Any]
    version: str | None = None
    description: str | None = None
    source: str | None = None
    notes: str | None = None
    effective: Period | None = None


class NamedSpec(_Strict):
    """One entry of ``definitions:`` or ``criteria:``."""

    expr: Any
    description: str | None = None
    source: str | None = None
    reason: str | None = None
    type: str | None = None


Requirement = str | dict[str, Any]


class TieSpec(_Strict):
    """How a pathway chooses between several qualifying ACOs."""

    rank: Any = None
    on_tie: Any = None


class PathwaySpec(_Strict):
    """One entry of ``pathways:``."""

    requires: list[Requirement]
    description: str | None = None
    source: str | None = None
    tie: TieSpec | None = None


class PolicyFileSpec(_Strict):
    """A whole policy file: every section is optional, merged across files."""

    policy: PolicyMetaSpec | None = None
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    definitions: dict[str, NamedSpec] = Field(default_factory=dict)
    criteria: dict[str, NamedSpec] = Field(default_factory=dict)
    pathways: dict[str, PathwaySpec] = Field(default_factory=dict)
    hierarchy: list[str] | None = None


M = TypeVar("M", bound=BaseModel)


def validate_section(
    model: type[M], node: YNode, diags: Diagnostics, code: str = "E010", where: str = ""
) -> M | None:
    """Validate ``node`` against ``model``; map every error to its YAML place.

    ``where`` names the place of ``node`` in its file (``parameters.codes``) for messages.
    """
    try:
        return model.model_validate(node.plain())
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                span, _ = node.at(loc)
                parent, _ = node.at(loc[:-1])
                key = str(loc[-1])
                found = _find_key(node, loc)
                allowed = _allowed_keys(model, loc[:-1])
                from .errors import did_you_mean

                hint = did_you_mean(key, allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
                diags.error(code, f"unknown key '{key}'", found or parent, hint)
                continue
            span, _ = node.at(loc)
            path = ".".join([where] * bool(where) + [str(p) for p in loc]) or "document"
            diags.error(code, f"{path}: {err['msg']}", span)
        return None


def _find_key(node: YNode, loc: tuple[Any, ...]) -> Any:
    cur: YNode | None = node
    for part in loc[:-1]:
        if cur is None:
            return None
        if cur.kind == "map" and isinstance(part, str):
            cur = cur.get(part)
        elif cur.kind == "seq" and isinstance(part, int) and part < len(cur.items):
            cur = cur.items[part]
    if cur is not None and cur.kind == "map" and str(loc[-1]) in cur.entries:
        return cur.key_span(str(loc[-1]))
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part)
            if info is None:  # a mapping key (a parameter's name, ...)
                continue
            current = _model_in(info.annotation)
        else:
            current = _model_in(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _model_in(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
