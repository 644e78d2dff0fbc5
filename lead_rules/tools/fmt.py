"""``lead-rules fmt``: one layout for policy YAML files, comments kept.

A round trip through ruamel.yaml (which keeps comments, key order, quoting,
flow and block styles) with one indentation (mappings 2, sequences 4 with
the dash at 2), ``null`` written as ``null``, no trailing spaces and one final
newline. Formatting is idempotent, and it never changes what a file means:
the formatted text is loaded again with the safe loader and must give the
same data, otherwise the file is left alone and an error is reported.
``--check`` writes nothing and lists the files that would change (for CI).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..engine.output_files import atomic_write_text
from ..language.errors import Diagnostics
from ..language.yaml_source import load_yaml_text


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line
    y.indent(mapping=2, sequence=4, offset=2)

    def null(representer: Any, _: None) -> Any:
        return representer.represent_scalar("tag:yaml.org,2002:null", "null")

    y.representer.add_representer(type(None), null)
    return y


def format_text(text: str, file: str = "<text>") -> str:
    """The formatted text of one YAML document.

    The text is first read by the policy loader (safe, bounded: duplicate keys, nesting and size
    limits), so a bad file gets the one located diagnostic ``check`` would give, not ruamel's report.

    Raises:
        ValueError: the text is not YAML, or formatting would change its meaning.
    """
    diags = Diagnostics()
    if load_yaml_text(text, file, diags) is None or diags.has_errors:
        first = next(d for d in diags.sorted() if d.severity == "error")
        raise ValueError(f"{first.span}: error[{first.code}]: {first.message}")
    y = _yaml()
    try:
        data = y.load(text)
    except Exception as exc:  # checked above: only what the policy loader accepts but ruamel not
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"not valid YAML: {reason}") from None
    if data is None:
        return text
    buf = io.StringIO()
    y.dump(data, buf)
    out = "\n".join(line.rstrip() for line in buf.getvalue().splitlines()).rstrip("\n") + "\n"
    if yaml.safe_load(out) != yaml.safe_load(text):
        raise ValueError("formatting would change the data; the file is left as it is")
    return out


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The YAML files of ``paths`` (files, or folders searched recursively), sorted per folder."""
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        else:
            yield p


@dataclass
class FmtResult:
    """What ``fmt`` did."""

    changed: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)


def fmt_paths(paths: Iterable[Path], check: bool = False) -> FmtResult:
    """Format (or with ``check`` only inspect) every YAML file of ``paths``."""
    result = FmtResult()
    for path in yaml_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
            out = format_text(text, str(path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            result.errors.append((path, str(exc)))
            continue
        if out == text:
            result.unchanged.append(path)
            continue
        if not check:
            try:
                atomic_write_text(path, out)  # a symlinked file is rewritten at its target, the link kept
            except (OSError, ValueError) as exc:
                result.errors.append((path, str(exc)))
                continue
        result.changed.append(path)
    return result
