"""Expression parsing: the Lark facade (second arrow of the pipeline).

Builds one cached LALR parser from ``grammar/expr.lark`` (shipped inside the
wheel as ``lead_rules/grammar/expr.lark``) and turns Lark's exceptions into
:class:`~lead_rules.language.errors.Diagnostic` values that point into the YAML file.
Lark exceptions never leave this module.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
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
    path = base / f"expr-{digest}.lark-cache"
    # Lark unpickles the file: use it only where no one else can have written it, the rule
    # of the compiled-SQL cache (docs/security.md): the folder and the file are the user's
    # own, writable by no one else, and no symbolic link
    for place, kind in ((base, stat.S_ISDIR), (path, stat.S_ISREG)):
        try:
            st = place.lstat()
        except FileNotFoundError:
            continue  # no file yet: Lark writes it
        except OSError:
            return False
        if not kind(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return str(path)


def _describe(expected: set[str]) -> str:
    names = sorted({_TOKEN_NAMES.get(t, repr(t.lower()) if t.isalpha() else t) for t in expected})
    if len(names) > 6:
        names = [*names[:6], "..."]
    return ", ".join(names)


def parse_text(text: str) -> Tree[Token]:
    """Parse an expression string; raise :class:`ExpressionSyntaxError` on bad input.

    The usual slips get a hint (see :func:`slip_hint`): ``=`` for ``==``,
    ``&&``/``||``/``!``, upper-case keywords, a bare date, and an unclosed
    bracket, which is reported at the bracket that is never closed.
    """
    try:
        tree = _parser().parse(text)
    except UnexpectedEOF as exc:
        raise slip_hint(
            text,
            ExpressionSyntaxError(
                "unexpected end of expression", len(text), len(text) + 1, _describe(set(exc.expected))
            ),
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
        raise slip_hint(
            text, ExpressionSyntaxError(msg, start, max(end, start + 1), _describe(set(exc.expected)))
        ) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        raise slip_hint(text, ExpressionSyntaxError(f"unexpected character {ch!r}", pos, pos + 1, None)) from None
    except LarkError as exc:  # pragma: no cover - any other Lark failure
        raise ExpressionSyntaxError(f"cannot parse expression: {exc}", 0, 1, None) from None
    except RecursionError:
        raise ExpressionSyntaxError("expression is nested too deeply", 0, 1, None) from None
    bare = _BARE_DATE.search(_masked(text))
    if bare is not None:
        written = bare.group(0)
        kind = "date" if written.count("-") == 2 else "month"
        raise ExpressionSyntaxError(
            f"a bare {kind} {written} reads as a subtraction", bare.start(), bare.end(), None,
            hint=f"write the {kind} literal @{written}",
        )
    return tree


_KEYWORDS = ("and", "or", "not", "in", "is", "null", "true", "false", "if", "then", "else", "for", "where", "by")
_OPERATOR_SLIPS = {"&&": "and", "||": "or", "&": "and", "|": "or", "!": "not"}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_STRING_OR_COMMENT = re.compile(r'"([^"\\\n]|\\.)*"|\'([^\'\\\n]|\\.)*\'|#[^\n]*')
_BARE_DATE = re.compile(r"(?<![@\w.])(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])(?:-[0-3][0-9])?(?![\w.])")


def _masked(text: str) -> str:
    """``text`` with strings and comments blanked out (same length, so offsets stay)."""
    return _STRING_OR_COMMENT.sub(lambda m: " " * len(m.group(0)), text)


def slip_hint(text: str, err: ExpressionSyntaxError) -> ExpressionSyntaxError:
    """``err`` reworded (and moved) for the usual slips of other languages; else ``err`` itself."""
    start = err.start
    masked = _masked(text)
    two = masked[start : start + 2]
    if two in ("&&", "||") or (masked[start : start + 1] in _OPERATOR_SLIPS and two != "!="):
        op = two if two in ("&&", "||") else masked[start]
        return ExpressionSyntaxError(
            f"unexpected {op!r}", start, start + len(op), None, hint=f"write '{_OPERATOR_SLIPS[op]}'"
        )
    if masked[start : start + 1] == "=" and two != "==":
        before = masked[:start].rstrip()
        if not before.endswith(("=", "!", "<", ">")):
            return ExpressionSyntaxError(
                "unexpected '='", start, start + 1, None,
                hint="compare with '==' (a single '=' only names an argument: f(x, by=...))",
            )
    # an upper-case keyword: at the token itself, or just before it (`NOT a` fails at `a`)
    for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", masked[: max(err.end, start + 1)]):
        word = m.group(0)
        if word.lower() in _KEYWORDS and word != word.lower() and m.end() >= _previous_word_end(masked, start):
            return ExpressionSyntaxError(
                f"unexpected {word!r}", m.start(), m.end(), None,
                hint=f"keywords are lower case: write '{word.lower()}'",
            )
    if err.message == "unexpected end of expression":
        stack: list[int] = []
        for i, ch in enumerate(masked):
            if ch in _CLOSERS:
                stack.append(i)
            elif ch in (")", "]", "}") and stack and _CLOSERS[masked[stack[-1]]] == ch:
                stack.pop()
        if stack:
            at = stack[-1]
            opener = masked[at]
            return ExpressionSyntaxError(
                f"'{opener}' is never closed", at, at + 1, None, hint=f"add '{_CLOSERS[opener]}' to close it"
            )
    return err


def _previous_word_end(masked: str, start: int) -> int:
    """The end offset of the word just before ``start`` (or ``start`` when there is none)."""
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", masked[:start])
    return m.end(1) if m else start


class ExpressionSyntaxError(Exception):
    """A syntax error in an expression string, with character offsets."""

    def __init__(self, message: str, start: int, end: int, expected: str | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end
        self.expected = expected
        self.hint = hint


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
        hint = exc.hint or (f"expected {exc.expected}" if exc.expected else None)
        diags.error("E101", f"syntax error: {exc.message}", node.expr_span(exc.start, exc.end), hint)
        return None
