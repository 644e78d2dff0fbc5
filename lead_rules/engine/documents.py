"""Documents read against a model: a market or an evaluation context, from a model, a mapping or a file.

:func:`load_document` validates the document and, read from a YAML or JSON
file, points each problem at its file:line:column (a misspelt key with its
did-you-mean, not also the field it left missing). :mod:`.policy` adds the
market checks and re-exports it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..language.errors import Diagnostics, PolicyError
from ..language.records import Market, unknown_key_hint
from ..language.yaml_source import YNode, load_yaml_file

__all__ = ["load_document"]


def load_document(
    source: Any, model: type[BaseModel], check: Callable[[Any, YNode, Diagnostics], None] | None = None
) -> Any:
    """A document of ``model`` (a market, a context) from a model, a mapping or a YAML/JSON file path.

    ``check`` runs on a document read from a file, with its nodes (the market's
    duplicate ACO ids and performance year).

    Raises:
        PolicyError: a market file that is unreadable or invalid, with the
            file:line:column of each problem.
    """
    if isinstance(source, model):
        return source
    if isinstance(source, (str, Path)):
        diags = Diagnostics()
        node = load_yaml_file(Path(source), diags)  # JSON is YAML too
        if node is None or diags.has_errors:  # a duplicate key (E003) is an error, not "the last wins"
            raise PolicyError(diags.sorted())
        try:
            doc = model.model_validate(node.plain())
        except ValidationError as exc:
            for err in _misspelt_first(exc.errors()):
                span, _ = node.at(tuple(err["loc"]))
                where = ".".join(str(p) for p in err["loc"]) or "market"
                hint = unknown_key_hint(Market, tuple(err["loc"])) if err["type"] == "extra_forbidden" else None
                message = f"unknown key '{err['loc'][-1]}'" if hint else err["msg"]
                if hint:
                    span = node.key_at(tuple(err["loc"]))
                code = "E404" if err["type"] == "aco_id" else "E401"  # an ACO id outside the id pattern
                diags.error(code, f"invalid market: {where}: {message}", span, hint)
            raise PolicyError(diags.sorted()) from None
        if check is not None:
            check(doc, node, diags)
            if diags.has_errors:
                raise PolicyError(diags.sorted())
        return doc
    return model.model_validate(dict(source))


def _misspelt_first(errors: list[Any]) -> list[Any]:
    """The validation errors, with a missing field that a misspelt key meant left out (its did-you-mean says it)."""
    import difflib

    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    meant: set[tuple[Any, ...]] = set()
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden" and loc:
            names = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
            meant.update((*loc[:-1], close) for close in difflib.get_close_matches(str(loc[-1]), names, n=1))
    return [e for e in errors if tuple(e["loc"]) not in meant]
