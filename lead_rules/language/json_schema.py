"""The JSON Schema (draft 2020-12) of a loaded schema (``lead-rules schema FILE`` prints it).

Derived from the same declared fields as the checker's struct types and the
validator (:mod:`.schema`): types, required fields, nullability, defaults,
``enum`` and ``min_length``, documented code sets as examples, and
``nonempty_when`` rules as ``if``/``then``. Nothing here validates data.
"""

from __future__ import annotations

from typing import Any

from .schema import Schema, fields_of, nullable
from .types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, StructT, Type


def json_schema(schema: Schema) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the documents ``schema`` validates."""
    out = _json_schema(schema.struct, schema.unknown_fields)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = schema.name
    if schema.description:
        out["description"] = schema.description
    return out


_JSON_PRIMS: dict[Type, dict[str, Any]] = {
    STRING: {"type": "string"},
    INT: {"type": "integer"},
    DECIMAL: {"type": ["number", "string"]},
    BOOL: {"type": "boolean"},
    DATE: {"type": "string", "format": "date"},
    MONTH: {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
}


def _json_type(t: Type, unknown: str) -> dict[str, Any]:
    if isinstance(t, StructT):
        return _json_schema(t, unknown)
    if isinstance(t, ListT):
        out: dict[str, Any] = {"type": "array", "items": _json_type(t.elem, unknown)}
        if t.is_set:
            out["uniqueItems"] = True
        return out
    return dict(_JSON_PRIMS[t])


def _json_schema(struct: StructT, unknown: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in fields_of(struct):
        p = _json_type(f.type, unknown)
        if f.is_map and isinstance(f.type, ListT) and isinstance(f.type.elem, StructT):
            value_type = f.type.elem.field("value")
            assert value_type is not None
            p = {"type": "object", "additionalProperties": _json_type(value_type, unknown)}
        if f.enum:
            p["enum"] = list(f.enum)
        if f.min_length is not None:
            p["minLength"] = f.min_length
        if f.codes:
            p["examples"] = [c for c, _ in f.codes]
        doc = "; ".join(x for x in (f.description, f.codes and ", ".join(f"{c} {m}" for c, m in f.codes)) if x)
        if doc:
            p["description"] = doc
        if f.source:
            p["x-source"] = f.source
        if nullable(f):
            p = {"anyOf": [p, {"type": "null"}]}
        if f.default not in (None, ()):
            p["default"] = f.default
        props[f.name] = p
    out: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": [f.name for f in fields_of(struct) if f.required],
        "additionalProperties": unknown == "keep",
    }
    rules = [
        {"if": {"properties": {k: {"const": v}}, "required": [k]},
         "then": {"required": [f.name], "properties": {f.name: {"minItems": 1}}}}
        for f in fields_of(struct) if f.nonempty_when for k, v in [f.nonempty_when]
    ]
    if rules:
        out["allOf"] = rules
    return out
