"""Strict reading of one JSON Lines record: the untrusted edge of the batch engines.

``evaluate`` and the interpreter engine of ``align`` read every input line
through :func:`parse_record`, so a corrupted line becomes an error row with its
cause and the batch goes on: bytes that are not UTF-8 (the file is opened with
``surrogateescape``, so a bad byte reaches here as a lone surrogate), strict
JSON only (``NaN``, ``Infinity`` and trailing commas are not JSON), duplicate
keys in any object, lone surrogate escapes in strings, and nesting deeper than
:data:`~lead_rules.language.limits.JSON_MAX_DEPTH`. Numbers with a fraction are read as
``Decimal``, never as binary floats.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from .limits import JSON_MAX_DEPTH


class _Refused(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _depth_ok(line: str) -> bool:
    """Whether the brackets of ``line`` (outside strings) nest at most :data:`JSON_MAX_DEPTH` deep."""
    if line.count("[") + line.count("{") <= JSON_MAX_DEPTH:
        return True
    depth = 0
    in_string = False
    escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > JSON_MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _encodable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def parse_record(line: str) -> tuple[Any, str | None]:
    """``(value, None)`` for a strict JSON line, or ``(None, cause)``."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return None, "not valid UTF-8"
    if not _depth_ok(line):
        return None, f"JSON nested deeper than {JSON_MAX_DEPTH} levels"
    try:
        # without its line break, a line cut short is reported at its end, not at "column 1" of a next line
        text = line.rstrip("\r\n")
        value = json.loads(text, parse_float=Decimal, parse_constant=_constant, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at column {exc.colno}"
    except _Refused as exc:
        return None, f"not valid JSON: {exc}"
    except RecursionError:  # pragma: no cover - the depth check comes first
        return None, f"JSON nested deeper than {JSON_MAX_DEPTH} levels"
    if "\\u" in line and not _encodable(value):
        return None, "a string with a lone surrogate (\\ud800-\\udfff) is not text"
    return value, None


def json_lines(lines: Iterable[str]) -> Iterator[tuple[int, str, Any, str | None]]:
    """``(line number, line, value, cause)`` for every non-blank line, read by :func:`parse_record`.

    Line numbers count blank lines too (1-based), as error rows and diagnostics name them. A byte
    order mark at the start of the first line is skipped; anywhere else it is refused with the line.
    """
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]  # a byte order mark opening the input: ignored (RFC 8259 §8.1), as DuckDB and Spark do
        if line.strip():
            value, cause = parse_record(line)
            yield number, line, value, cause


def read_json_lines(path: str | Path) -> Iterator[tuple[int, str, Any, str | None]]:
    """:func:`json_lines` of a file, opened as UTF-8 with ``surrogateescape`` (a bad byte reaches the
    strict reader as a lone surrogate and is refused there, never as a decode error)."""
    fh: IO[str]
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        yield from json_lines(fh)
