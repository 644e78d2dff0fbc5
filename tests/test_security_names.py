"""Schema field names are names (issue 8): they become SQL identifiers and output columns, so a
field name outside :data:`lead_rules.language.limits.NAME_PATTERN` is a located error (E505)
in the schema file, and a policy that declares such a schema does not load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_schemas import _edit, _policy_with_schema

from lead_rules.engine.policy import check_policy
from lead_rules.language.errors import Diagnostics
from lead_rules.language.limits import valid_name
from lead_rules.language.schema import bundled_schemas, fields_of, load_schema
from lead_rules.language.types import ListT, StructT

HOSTILE = ['a"b', "x` FROM t --", "with space", "caf\u00e9", "1st", "a" * 129, "x;DROP"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_field_name_outside_the_character_set_is_a_located_error(tmp_path: Path, name: str) -> None:
    p = tmp_path / "s.yaml"
    key = '"' + name.replace('"', '\\"') + '"'
    p.write_text(
        "schema: {id: x, name: X, root: x}\n"
        "fields:\n"
        "  ok: string\n"
        "  nested:\n"
        "    type: struct\n"
        "    fields:\n"
        f"      {key}: string\n"
    )
    diags = Diagnostics()
    assert load_schema(p, diags) is None
    errors = [d for d in diags.sorted() if d.severity == "error"]
    assert [d.code for d in errors] == ["E505"]
    assert (errors[0].span.file, errors[0].span.line, errors[0].span.column) == (str(p), 7, 7)
    assert str(errors[0].span) == f"{p}:7:7"


def test_names_of_the_character_set_still_load(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("schema: {id: x, name: X, root: x}\nfields:\n  _a1: string\n  " + "b" * 128 + ": int\n")
    diags = Diagnostics()
    schema = load_schema(p, diags)
    assert schema is not None and not diags.has_errors
    assert [f.name for f in fields_of(schema.struct)] == ["_a1", "b" * 128]


def test_every_bundled_field_name_is_a_name() -> None:
    def names(struct: StructT) -> Iterator[str]:
        for f in fields_of(struct):
            yield f.name
            inner = f.type.elem if isinstance(f.type, ListT) else f.type
            if isinstance(inner, StructT):
                yield from names(inner)

    for schema in bundled_schemas().values():
        assert all(valid_name(n) for n in names(schema.struct)), schema.path


def test_a_policy_declaring_a_schema_with_a_hostile_field_does_not_load(tmp_path: Path) -> None:
    root = _policy_with_schema(tmp_path)
    schema = root / "schemas" / "beneficiary.yaml"
    _edit(schema, "      msp:\n", '      "msp` BIGINT, `x":\n')
    policy, diags = check_policy(root / "example")
    assert policy is None
    errors = [d for d in diags if d.severity == "error"]
    assert [d.code for d in errors] == ["E505"]
    line = schema.read_text().splitlines().index('      "msp` BIGINT, `x":') + 1
    assert Path(errors[0].span.file).resolve() == schema.resolve() and errors[0].span.line == line
