"""The strict JSON Lines reader (lead_rules/language/strict_json.py): causes name the place in the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lead_rules.language.strict_json import parse_record, read_json_lines


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ('{"bene_id": "X", "months": [1\n', 30),  # cut short: the end of the line, not column 1 of a next one
        ('{"bene_id": "X", "months": [1\r\n', 30),
        ('{"a": 1,}\n', 9),  # a trailing comma, where it stands
        ('{"a" 1}', 6),
    ],
)
def test_a_refused_line_names_its_column(line: str, column: int) -> None:
    value, cause = parse_record(line)
    assert value is None and cause is not None and cause.endswith(f"at column {column}"), cause


def test_lines_are_numbered_with_blank_lines_counted(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \n{"a": 2, "a": 3}\n\xff\n')
    rows = [(n, value, cause) for n, _line, value, cause in read_json_lines(path)]
    assert [n for n, _, _ in rows] == [1, 4, 5]
    assert rows[0][1:] == ({"a": 1}, None)
    assert rows[1][1] is None and "duplicate" in str(rows[1][2])
    assert rows[2][1] is None and rows[2][2] == "not valid UTF-8"
