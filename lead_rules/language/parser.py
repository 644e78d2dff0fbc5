"""Expression parsing: the Lark facade (second arrow of the pipeline).

Builds one cached LALR parser from ``grammar/expr.lark`` (shipped inside the
wheel as ``lead_rules/grammar/expr.lark``) and turns Lark's exceptions into
:class:`~lead_rules.language.errors.Diagnostic` values that point into the YAML file.
Lark exceptions never leave this module.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from .errors import Diagnostics
from .yaml_source import YNode

GRAMMAR_NAME = "expr.lark"

_TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a number",
    "STRING": "a string",
    "DATE": "a date",
    "MONTH": "a month",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "$END": "the end of the expression",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "DOT": "'.'",
    "COLON": "':'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "MINUS": "'-'",
    "EQUAL": "'='",
}


def grammar_text() -> str:
    """The grammar, from the installed package or from the source tree."""
    packaged = resources.files("lead_rules").joinpath("grammar").joinpath(GRAMMAR_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source_tree = Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME
    return source_tree.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = grammar_text()
    return Lark(
        text,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=True,
        cache=_cache_file(text),
    )


def _cache_file(text: str) -> str | bool:
    """A per-user cache of the parse tables (building them strictly takes ~0.4 s).

    The cache lives in the user's own cache folder, never in a shared temp
    folder, because Lark stores it as a pickle. Without a writable folder the
    tables are simply built every time.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lead-rules"
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    if not os.access(base, os.W_OK):
        return False
    digest = hashlib.sha256(f"{text}\0{lark.__version__}".encode()).hexdigest()[:16]
    return str(base / f"expr-{digest}.lark-cache")


def _describe(expected: set[str]) -> str:
    names = sorted({_TOKEN_NAMES.get(t, repr(t.lower()) if t.isalpha() else t) for t in expected})
    if len(names) > 6:
        names = [*names[:6], "..."]
    return ", ".join(names)


def parse_text(text: str) -> Tree[Token]:
    """Parse an expression string; raise :class:`ExpressionSyntaxError` on bad input."""
    try:
        return _parser().parse(text)
    except UnexpectedEOF as exc:
        raise ExpressionSyntaxError(
            "unexpected end of expression", len(text), len(text) + 1, _describe(set(exc.expected))
        ) from None
    except UnexpectedToken as exc:
        token = exc.token
        start = token.start_pos if token.start_pos is not None else 0
        if token.type == "$END":
            msg = "unexpected end of expression"
            start = len(text)
        else:
            msg = f"unexpected {token.value!r}"
        end = token.end_pos if token.end_pos is not None else start + 1
        raise ExpressionSyntaxError(msg, start, max(end, start + 1), _describe(set(exc.expected))) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        raise ExpressionSyntaxError(f"unexpected character {ch!r}", pos, pos + 1, None) from None
    except LarkError as exc:  # pragma: no cover - any other Lark failure
        raise ExpressionSyntaxError(f"cannot parse expression: {exc}", 0, 1, None) from None
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply", 0, 1, None) from None


class ExpressionSyntaxError(Exception):
    """A syntax error in an expression string, with character offsets."""

    def __init__(self, message: str, start: int, end: int, expected: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end
        self.expected = expected


def parse_node(node: YNode, diags: Diagnostics) -> Tree[Token] | None:
    """Parse the expression held by a YAML scalar; record E101 on a syntax error."""
    text = node.value
    if isinstance(text, bool) or text is None:
        text = {True: "true", False: "false", None: "null"}[text]
    if not isinstance(text, str):
        text = str(text)
    try:
        return parse_text(text)
    except ExpressionSyntaxError as exc:
        hint = f"expected {exc.expected}" if exc.expected else None
        diags.error("E101", f"syntax error: {exc.message}", node.expr_span(exc.start, exc.end), hint)
        return None
