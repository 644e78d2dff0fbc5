"""Reading input documents for the decision kinds: JSON Lines or YAML (one object, or a list).

Each document comes with the line it starts on and, when it cannot be read,
an error naming the line; so every input document yields an output row. JSON Lines are read
strictly (:func:`~lead_rules.language.strict_json.parse_record`: a key twice, ``NaN``, nesting
too deep are refused), and a YAML file with a key twice is refused as a policy file is. YAML
goes through the safe loader of :mod:`lead_rules.language.yaml_source` (and its limits),
then its values are read again with numbers that have a fraction as exact
decimals, as JSON numbers are (``1500000.00`` stays ``1500000.00``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import yaml

from .errors import Diagnostics
from .strict_json import json_lines
from .yaml_source import load_yaml_file

Document = tuple[int, Any, dict[str, Any] | None]
"""``(line, document or None, error or None)``."""


def is_yaml(path: str | Path) -> bool:
    """True for a ``.yaml`` / ``.yml`` file."""
    return Path(path).suffix.lower() in (".yaml", ".yml")


def read_documents(path: str | Path | None, stream: IO[str] | None = None) -> Iterator[Document]:
    """The documents of a JSON Lines or YAML file (or of ``stream``, JSON Lines)."""
    if path is not None and is_yaml(path):
        diags = Diagnostics()
        node = load_yaml_file(Path(path), diags)
        if node is None or diags.has_errors:  # a key twice, too deep, too big: refused, as a policy file
            first = next((d for d in diags.sorted() if d.severity == "error"), None)
            at = f"{path}:{first.span.line}:{first.span.column}" if first else str(path)
            message = first.message if first else "cannot be read"
            yield first.span.line if first else 1, None, {"field": None, "message": f"{at}: {message}"}
            return
        values = _exact_values(Path(path))
        if node.kind == "seq":
            items = values if isinstance(values, list) and len(values) == len(node.items) else None
            for i, item in enumerate(node.items):
                yield _object(item.span.line, items[i] if items is not None else item.plain())
        else:
            yield _object(node.span.line, values if isinstance(values, dict) else node.plain())
        return
    if stream is None:
        assert path is not None
        with open(path, encoding="utf-8") as fh:
            yield from _lines(fh)
        return
    yield from _lines(stream)


class _DecimalLoader(yaml.SafeLoader):
    """The safe loader, with numbers that have a fraction read as exact decimals (``1500000.00``)."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        value = Decimal(text)
    except ArithmeticError:
        return loader.construct_yaml_float(node)
    return value if value.is_finite() else loader.construct_yaml_float(node)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def _exact_values(path: Path) -> Any:
    """The documents of a YAML file (already read once within limits) with exact decimals, or None."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_DecimalLoader)  # a SafeLoader subclass
    except (OSError, yaml.YAMLError, RecursionError):
        return None


def _lines(fh: IO[str]) -> Iterator[Document]:
    for number, _line, data, cause in json_lines(fh):  # strict: a key twice, NaN, too deep are refused
        if cause is not None:
            yield number, None, {"field": None, "message": f"line {number}: {cause}"}
            continue
        yield _object(number, data)


def _object(line: int, data: Any) -> Document:
    if not isinstance(data, dict):
        return line, None, {"field": None, "message": f"line {line}: a document must be an object (a mapping)"}
    return line, data, None


def read_all(path: str | Path) -> list[dict[str, Any]]:
    """Every document of ``path``.

    Raises:
        ValueError: naming the line of the first document that cannot be read.
    """
    out = []
    for line, doc, error in read_documents(path):
        if doc is None:
            raise ValueError(f"{path}: {error['message'] if error else f'line {line} cannot be read'}")
        out.append(doc)
    return out
