"""Schemas as data: the shape of what a policy reads, declared in YAML (loading, before checking).

A schema file (``policies/schemas/*.yaml``) declares a record or context
document: its root name in expressions (``bene``, ``market``, ``state``, ...),
its fields with the type strings parameters use (``string``, ``int``,
``decimal``, ``bool``, ``date``, ``month``, ``list<T>``, ``set<T>``, and
``struct`` / ``list<struct>`` with nested ``fields:``), required or optional,
defaults, descriptions, sources, documented code sets (``codes:``) and
enforced ones (``enum:``). :func:`load_schema` turns it into a
:class:`Schema`: the checker's :class:`~lead_rules.language.types.StructT` (so
expressions are typed against exactly what is declared, and an undeclared
field is unreadable), a validator (a pydantic model built with
:func:`pydantic.create_model`, whose errors name the record and the field),
the field list the SQL readers are generated from (:func:`fields_of`) and,
in :mod:`.json_schema`, a JSON Schema. Nothing here evaluates rules.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    create_model,
    model_validator,
)

from .errors import Diagnostics, PolicyError, Span
from .limits import NAME_PATTERN, valid_name
from .records import BoundedDecimal, DateField, Int64, Money
from .types import BOOL, DATE, DECIMAL, INT, MONTH, STRING, ListT, Prim, StructT, Type, parse_type
from .values import Month
from .yaml_source import YNode, load_yaml_file

SCHEMA_KEYS = ("id", "name", "version", "root", "description", "source", "unknown_fields")
FIELD_KEYS = (
    "type", "required", "default", "description", "source", "codes", "enum", "min_length", "name", "fields",
    "nonempty_when",
)
MAX_DEPTH = 8
"""How deeply structs may nest in a schema."""


@dataclass(frozen=True)
class SchemaField:
    """One declared field: language name and type, Python attribute, validation and documentation."""

    name: str
    type: Type
    required: bool
    default: Any  # the value an absent field takes (None: unknown; lists and sets: empty)
    attr: str
    description: str | None = None
    source: str | None = None
    codes: tuple[tuple[str, str], ...] = ()
    enum: tuple[str, ...] = ()
    min_length: int | None = None
    is_map: bool = False  # ``map<T>``: a mapping of free keys, read as a list of {key, value} entries
    nonempty_when: tuple[str, str] | None = None  # (sibling, value): then this list must not be empty


class Entry(NamedTuple):
    """One entry of a ``map<T>`` field: its key and its value."""

    key: str
    value: Any


def _entries(value: dict[str, Any]) -> tuple[Entry, ...]:
    return tuple(Entry(k, v) for k, v in value.items())


@dataclass(frozen=True)
class Schema:
    """A loaded schema: the struct type, the validator model, the declared fields."""

    id: str
    name: str
    version: str | None
    root: str
    description: str | None
    source: str | None
    unknown_fields: str  # "keep" | "reject"
    struct: StructT
    path: str

    @cached_property
    def model(self) -> type[BaseModel]:
        """The validator model (built on first use: a command that validates nothing need not build it)."""
        return _build_model(self.struct, self.unknown_fields, {})

    @cached_property
    def sql_model(self) -> type[BaseModel]:
        """The validator of records the SQL engines also read: every decimal is money, as DECIMAL(18, 2)
        there (at most 2 places and 16 digits before the point), so both engines give the same verdict."""
        return _build_model(self.struct, self.unknown_fields, {}, money=True)

    def validate(self, data: Any) -> BaseModel:
        """A validated instance of ``data``; raises :class:`pydantic.ValidationError`."""
        return self.model.model_validate(data)

    def validate_json(self, text: str | bytes) -> BaseModel:
        """A validated instance of one JSON document; raises :class:`pydantic.ValidationError`."""
        return self.model.model_validate_json(text)

    def fields(self) -> list[SchemaField]:
        """The top-level fields, in declaration order."""
        return fields_of(self.struct)


_FIELDS: dict[StructT, tuple[SchemaField, ...]] = {}
"""The declared fields of every struct type a schema produced (struct types are values)."""


def fields_of(struct: StructT) -> list[SchemaField]:
    """The declared fields of ``struct`` (a struct of a loaded schema, or of the bundled ones)."""
    found = _FIELDS.get(struct)
    if found is None:
        bundled_schemas()  # the bundled record and market structs may be asked for before any load
        found = _FIELDS.get(struct)
    if found is None:
        raise KeyError(f"no schema declares struct {struct.name}")
    return list(found)


# --- the validator -------------------------------------------------------------

_MONTHS: dict[str, Month] = {}
"""Parsed months by text: a population repeats the same few dozen months, and a Month never changes."""


def _month(value: Any) -> Month:
    if type(value) is str:
        m = _MONTHS.get(value)
        if m is None:
            m = Month.parse(value)
            if len(_MONTHS) < 100_000:
                _MONTHS[value] = m
        return m
    if isinstance(value, Month):
        return value
    raise ValueError("expected a month as 'YYYY-MM'")


_MonthField = Annotated[Month, PlainValidator(_month), PlainSerializer(str, return_type=str)]
_Code = Annotated[str, Field(strict=True)]
_PRIM_ANNOTATIONS: dict[Type, Any] = {
    STRING: _Code, INT: Int64, DECIMAL: BoundedDecimal, BOOL: bool, DATE: DateField, MONTH: _MonthField,
}
"""A date is ``YYYY-MM-DD`` in ASCII digits (or a date object), never a datetime; a month ``YYYY-MM``."""
_RESERVED = set(dir(BaseModel))


def python_attr(name: str) -> str:
    """The Python attribute that holds field ``name`` (``from`` -> ``from_``)."""
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_") and name not in _RESERVED:
        return name
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in name).lstrip("_") or "field"
    if safe[0].isdigit():
        safe = "f_" + safe
    return safe + "_"


def _annotation(f: SchemaField, models: dict[StructT, type[BaseModel]], money: bool = False) -> Any:
    def of(t: Type) -> Any:
        if isinstance(t, StructT):
            return models[t]
        if isinstance(t, ListT):
            inner = of(t.elem)
            return frozenset[inner] if t.is_set else list[inner]  # type: ignore[valid-type]
        if f.enum and t == STRING:
            return Literal[f.enum]
        if money and t == DECIMAL:
            return Money
        return _PRIM_ANNOTATIONS[t]

    if f.is_map:
        assert isinstance(f.type, ListT) and isinstance(f.type.elem, StructT)
        value_type = f.type.elem.field("value")
        assert value_type is not None
        inner = of(value_type)
        ann: Any = Annotated[dict[str, inner | None], AfterValidator(_entries)]  # type: ignore[valid-type]
        return ann if f.required or nullable(f) is False else ann | None
    ann = of(f.type)
    if f.min_length is not None and f.type == STRING:
        ann = Annotated[str, Field(strict=True, min_length=f.min_length)]
    return ann if f.required or nullable(f) is False else ann | None


def nullable(f: SchemaField) -> bool:
    """True when ``null`` is a valid value of ``f`` (an optional field; a list or set defaults to empty instead)."""
    return not f.required and not (isinstance(f.type, ListT) and f.default is not None)


def _build_model(
    struct: StructT, extra: str, models: dict[StructT, type[BaseModel]], money: bool = False
) -> type[BaseModel]:
    if struct in models:
        return models[struct]
    for f in fields_of(struct):
        for t in (f.type, f.type.elem if isinstance(f.type, ListT) else None):
            if isinstance(t, StructT):
                _build_model(t, extra, models, money)
    definitions: dict[str, Any] = {}
    for f in fields_of(struct):
        ann = _annotation(f, models, money)
        alias = f.name if f.attr != f.name else None
        if f.required:
            info = Field(alias=alias)
        elif isinstance(f.type, ListT) and f.default is not None:
            info = Field(default_factory=frozenset if f.type.is_set else list, alias=alias)
        else:
            info = Field(default=f.default, alias=alias)
        definitions[f.attr] = (ann, info)
    config = ConfigDict(
        extra="allow" if extra == "keep" else "forbid", frozen=True, populate_by_name=True
    )
    rules = [(f, by_name[f.nonempty_when[0]]) for f in fields_of(struct) if f.nonempty_when
             for by_name in [{g.name: g for g in fields_of(struct)}]]
    validators: dict[str, Any] = {"nonempty_when": _nonempty_when(rules)} if rules else {}
    defaulted = {key for f in fields_of(struct) if not f.required and f.default is not None for key in (f.name, f.attr)}
    if defaulted:  # records.md: absent and null both mean "not known", so a null takes the default too
        validators["null_is_absent"] = _null_is_absent(frozenset(defaulted))
    model: type[BaseModel] = create_model(
        struct.name, __config__=config, __validators__=validators or None, **definitions
    )
    model.__doc__ = f"A {struct.name} validated against its schema."
    models[struct] = model
    return model


def _null_is_absent(keys: frozenset[str]) -> Any:
    """A before-validator dropping the keys in ``keys`` whose value is null, so they take their default.

    A list that defaults to empty, or a field with a default (``residence.us``), decides
    the same whether the key is absent or null, as in a Parquet file, which cannot be absent.
    """

    def drop(data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(k, 0) is None for k in keys):
            return {k: v for k, v in data.items() if v is not None or k not in keys}
        return data

    return model_validator(mode="before")(drop)


def _nonempty_when(rules: list[tuple[SchemaField, SchemaField]]) -> Any:
    """The model check of ``nonempty_when`` fields: a list that must not be empty when a sibling has a value."""

    def check(self: BaseModel) -> BaseModel:
        for f, sibling in rules:
            assert f.nonempty_when is not None
            if getattr(self, sibling.attr) == f.nonempty_when[1] and not getattr(self, f.attr):
                raise ValueError(
                    f"{f.name} must list at least one value when {sibling.name} is {f.nonempty_when[1]} "
                    "(an empty list would silently match nothing)"
                )
        return self

    return model_validator(mode="after")(check)


# --- loading ---------------------------------------------------------------------

class _SchemaLoader:
    def __init__(self, diags: Diagnostics, file: str) -> None:
        self.diags = diags
        self.file = file
        self.names: dict[str, Span] = {}

    def struct(self, name: str, node: YNode, span: Span, depth: int) -> StructT | None:
        if depth > MAX_DEPTH:
            self.diags.error("E501", f"structs nest more than {MAX_DEPTH} levels deep", span)
            return None
        if node.kind != "map" or not node.entries:
            self.diags.error("E501", "'fields' must be a non-empty mapping of field names to declarations", node.span)
            return None
        if name in self.names:
            self.diags.error("E502", f"struct name '{name}' is already used at {self.names[name]}", span)
            return None
        self.names[name] = span
        fields: list[SchemaField] = []
        attrs: set[str] = set()
        ok = True
        for fname, (kspan, fnode) in node.entries.items():
            if not valid_name(str(fname)):  # field names become SQL identifiers and output columns
                self.diags.error(
                    "E505",
                    f"field name {str(fname)[:40]!r} is outside the character set of names",
                    kspan,
                    f"a name matches {NAME_PATTERN}: ASCII letters, digits and '_', at most 128 characters",
                )
                ok = False
                continue
            f = self.field(str(fname), fnode, kspan, depth)
            if f is None:
                ok = False
                continue
            if f.attr in attrs:
                self.diags.error("E502", f"field '{fname}' clashes with another field's Python name", kspan)
                ok = False
                continue
            attrs.add(f.attr)
            fields.append(f)
        names = {f.name for f in fields}
        for f in fields:
            if f.nonempty_when is not None and f.nonempty_when[0] not in names:
                self.diags.error("E501", f"'nonempty_when' of '{f.name}' names no field of {name}", span)
                ok = False
        if not ok:
            return None
        struct = StructT(name, tuple((f.name, f.type) for f in fields), tuple((f.name, f.attr) for f in fields))
        _FIELDS[struct] = tuple(fields)
        return struct

    def field(self, name: str, node: YNode, span: Span, depth: int) -> SchemaField | None:
        if node.kind == "scalar" and isinstance(node.value, str):
            spec: dict[str, Any] = {"type": node.value}  # `field: string` is short for `{type: string}`
        elif node.kind == "map":
            spec = node.plain()
        else:
            self.diags.error("E501", f"field '{name}' needs a type, or a mapping with 'type'", node.span)
            return None
        for key in spec:
            if key not in FIELD_KEYS:
                from .errors import did_you_mean

                where = node.key_span(key) if node.kind == "map" else node.span
                self.diags.error(
                    "E501", f"unknown key '{key}' in field '{name}'", where,
                    did_you_mean(str(key), FIELD_KEYS) or f"allowed keys: {', '.join(FIELD_KEYS)}",
                )
                return None
        text = spec.get("type")
        type_node = node.get("type") if node.kind == "map" else None
        tspan = type_node.span if type_node is not None else node.span
        if not isinstance(text, str):
            self.diags.error("E501", f"field '{name}' needs a 'type'", span)
            return None
        text = text.strip()
        typ: Type | None
        is_map = text.startswith("map<") and text.endswith(">")
        if is_map:
            value_type = parse_type(text[4:-1])
            if value_type is None or isinstance(value_type, ListT):
                self.diags.error("E501", f"unknown type '{text}'", tspan, "map<T> takes a plain type: map<decimal>")
                return None
            sname = str(spec.get("name") or "".join(p.capitalize() for p in name.split("_")) + "Entry")
            entry = StructT(sname, (("key", STRING), ("value", value_type)), (("key", "key"), ("value", "value")))
            _FIELDS[entry] = (
                SchemaField("key", STRING, True, None, "key", "the key of the entry"),
                SchemaField("value", value_type, False, None, "value", "the value of the entry"),
            )
            typ = ListT(entry)
        elif text in ("struct", "list<struct>"):
            sub = node.get("fields") if node.kind == "map" else None
            if sub is None:
                self.diags.error("E501", f"a {text} field needs 'fields'", tspan)
                return None
            sname = spec.get("name") or "".join(p.capitalize() for p in name.split("_"))
            if not isinstance(sname, str) or not valid_name(sname):
                self.diags.error("E501", f"struct name {sname!r} must be an identifier", span)
                return None
            inner = self.struct(sname, sub, span, depth + 1)
            if inner is None:
                return None
            typ = inner if text == "struct" else ListT(inner)
        else:
            typ = parse_type(text)
            if typ is None or (isinstance(typ, ListT) and isinstance(typ.elem, ListT)):
                self.diags.error(
                    "E501", f"unknown type '{text}'", tspan,
                    "types: bool, int, decimal, string, date, month, list<T>, set<T>, struct, list<struct>",
                )
                return None
            if "fields" in spec:
                self.diags.error("E501", "'fields' belongs to struct and list<struct> fields", node.key_span("fields"))
                return None
        required = spec.get("required", False)
        if not isinstance(required, bool):
            self.diags.error("E501", "'required' must be true or false", node.key_span("required"))
            return None
        enum = spec.get("enum") or []
        if not (isinstance(enum, list) and all(isinstance(v, str) for v in enum)) or (enum and typ != STRING):
            self.diags.error("E501", "'enum' is a list of strings of a string field", node.key_span("enum"))
            return None
        codes = spec.get("codes") or {}
        if not isinstance(codes, dict):
            self.diags.error("E501", "'codes' maps each code to its meaning", node.key_span("codes"))
            return None
        min_length = spec.get("min_length")
        if min_length is not None and (not isinstance(min_length, int) or typ != STRING):
            self.diags.error("E501", "'min_length' is an int of a string field", node.key_span("min_length"))
            return None
        when = spec.get("nonempty_when")
        if when is not None and not (
            isinstance(typ, ListT) and isinstance(when, dict) and len(when) == 1
            and all(isinstance(k, str) and isinstance(v, str) for k, v in when.items())
        ):
            self.diags.error("E501", "'nonempty_when' of a list or set names one sibling field and its value: "
                             "{kind: MCO}", node.key_span("nonempty_when"))
            return None
        default: Any = None
        if isinstance(typ, ListT):
            default = None if "default" in spec and spec["default"] is None else ()
            if is_map and default == ():
                default = None  # an absent mapping is unknown
        elif "default" in spec and spec["default"] is not None:
            default = spec["default"]
            good = {BOOL: bool, INT: int, STRING: str}.get(typ) if isinstance(typ, Prim) else None
            if good is None or not isinstance(default, good) or (typ == INT and isinstance(default, bool)):
                self.diags.error("E501", f"a default is a bool, int or string of that type, not {default!r}",
                                 node.key_span("default"))
                return None
        if required and default not in (None, ()):
            self.diags.error("E501", "a required field has no default", node.key_span("default"))
            return None
        return SchemaField(
            name=name,
            type=typ,
            required=required,
            default=default,
            attr=python_attr(name),
            description=_text(spec.get("description")),
            source=_text(spec.get("source")),
            codes=tuple((str(k), str(v)) for k, v in codes.items()),
            enum=tuple(enum),
            min_length=min_length,
            is_map=is_map,
            nonempty_when=next(iter(when.items())) if when else None,
        )


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def load_schema(path: Path, diags: Diagnostics) -> Schema | None:
    """Load the schema file at ``path``; problems go to ``diags`` with their file:line:column."""
    root = load_yaml_file(path, diags)
    if root is None:
        return None
    if root.kind != "map" or root.get("schema") is None or root.get("fields") is None:
        diags.error("E500", "a schema file is a mapping with 'schema:' (id, name, root) and 'fields:'", root.span)
        return None
    for key, (kspan, _) in root.entries.items():
        if key not in ("schema", "fields"):
            diags.error("E500", f"unknown key '{key}'", kspan, "allowed keys: schema, fields")
    head_node = root.get("schema")
    assert head_node is not None
    head = head_node.plain()
    if not isinstance(head, dict):
        diags.error("E500", "'schema' must be a mapping", head_node.span)
        return None
    for key in head:
        if key not in SCHEMA_KEYS:
            hint = f"allowed keys: {', '.join(SCHEMA_KEYS)}"
            diags.error("E500", f"unknown key '{key}'", head_node.key_span(key), hint)
    for key in ("id", "name", "root"):
        if not isinstance(head.get(key), str) or not valid_name(str(head.get(key))):
            diags.error("E500", f"'schema.{key}' must be an identifier", head_node.span)
    unknown = head.get("unknown_fields", "keep")
    if unknown not in ("keep", "reject"):
        diags.error("E500", "'unknown_fields' is keep or reject", head_node.span)
    if diags.has_errors:
        return None
    fields_node = root.get("fields")
    assert fields_node is not None
    loader = _SchemaLoader(diags, str(path))
    struct = loader.struct(str(head["name"]), fields_node, root.key_span("fields"), 0)
    if struct is None:
        return None
    return Schema(
        id=str(head["id"]),
        name=str(head["name"]),
        version=_text(head.get("version")),
        root=str(head["root"]),
        description=_text(head.get("description")),
        source=_text(head.get("source")),
        unknown_fields=str(unknown),
        struct=struct,
        path=str(path),
    )


def schema_dirs() -> list[Path]:
    """Where the bundled schemas are: in the installed wheel, or in the source tree."""
    here = Path(__file__).resolve().parent
    return [p / "policies" / "schemas" for p in (here, *here.parents[:2])]


@cache
def bundled_schemas() -> dict[str, Schema]:
    """The schemas shipped with lead-rules (``policies/schemas``) by id."""
    for d in schema_dirs():
        if (d / "beneficiary.yaml").is_file():
            out: dict[str, Schema] = {}
            for p in sorted(d.glob("*.yaml")):
                diags = Diagnostics()
                s = load_schema(p, diags)
                if s is None:
                    raise PolicyError(diags.sorted())
                out[s.id] = s
            return out
    raise FileNotFoundError("the bundled schemas (policies/schemas) are not installed")


def bundled(schema_id: str) -> Schema:
    """The bundled schema ``schema_id`` (``beneficiary``, ``market``, ...)."""
    return bundled_schemas()[schema_id]


# --- schemas declared by a policy --------------------------------------------------

ROLES = ("record", "context")
"""What a policy may declare a schema for: the records it decides, and their evaluation context."""


def confined(path: Path, policy_root: Path) -> bool:
    """True when ``path`` lies in the policy folder, in a ``schemas`` folder beside it, or in the bundled schemas."""
    allowed = [policy_root.resolve(), (policy_root.resolve().parent / "schemas"), *schema_dirs()]
    real = path.resolve()
    return any(real == a or a in real.parents for a in allowed)


def declared_schemas(
    spec: dict[str, str], node: YNode | None, file: Path, policy_root: Path, diags: Diagnostics
) -> dict[str, Schema]:
    """The schemas a policy's ``policy.schemas`` names (paths relative to the declaring file)."""
    out: dict[str, Schema] = {}
    for role, text in spec.items():
        where = node.get(role) if node is not None else None
        span = where.span if where is not None else (node.span if node is not None else Span(str(file), 1, 1, 1, 2))
        if role not in ROLES:
            diags.error("E503", f"unknown schema role '{role}'", span, f"roles: {', '.join(ROLES)}")
            continue
        target = (file.parent / text)
        if not confined(target, policy_root):
            diags.error(
                "E504",
                f"schema file '{text}' is outside the policy folder and the shared schemas folder",
                span,
            )
            continue
        if not target.is_file():
            diags.error("E504", f"cannot load schema file '{text}': no such file", span)
            continue
        schema = load_schema(target, diags)
        if schema is not None:
            out[role] = schema
    if "record" in out and "context" in out and out["record"].root == out["context"].root:
        diags.error("E503", f"the record and the context both have the root name '{out['record'].root}'",
                    node.span if node is not None else Span(str(file), 1, 1, 1, 2))
    return out


def roots_of(schemas: dict[str, Schema]) -> tuple[dict[str, Type], dict[str, str]]:
    """The root names an expression may use, with their types and roles (``bene``, ``market``, ``aco``).

    A policy that declares no schema reads the bundled beneficiary record and
    market. The role of the record root is ``bene`` and that of the context
    root ``market`` (the interpreter binds them); when the context has a list
    of ``acos``, its element is the root ``aco`` (the ACO under consideration).
    """
    record = schemas.get("record")
    context = schemas.get("context")
    if not schemas:
        record, context = bundled("beneficiary"), bundled("market")
    types: dict[str, Type] = {}
    roles: dict[str, str] = {}
    if record is not None:
        types[record.root], roles[record.root] = record.struct, "bene"
    if context is not None:
        types[context.root], roles[context.root] = context.struct, "market"
        acos = context.struct.field("acos")
        if isinstance(acos, ListT) and isinstance(acos.elem, StructT) and "aco" not in types:
            types["aco"], roles["aco"] = acos.elem, "aco"
    return types, roles
