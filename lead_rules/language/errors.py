"""Source locations, diagnostics and the one error type of policy loading.

Every stage of the pipeline (YAML loading, expression parsing, lowering,
checking) reports problems as :class:`Diagnostic` values that point into the
YAML file (file:line:column) and render with a caret snippet. Stages collect
diagnostics; the loader raises a single :class:`PolicyError` carrying all of
them. No Lark or PyYAML exception ever leaves the package.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A place in a source file: 1-based line and column, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<unknown>", 0, 0, 0, 0)


@lru_cache(maxsize=64)
def _cached_lines(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    try:
        return tuple(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _file_lines(path: str) -> tuple[str, ...]:
    # keyed on the file's mtime and size too, so a file edited in a long-running
    # process (a watcher, the test runner) is never shown with its old lines
    try:
        st = Path(path).stat()
    except OSError:
        return ()
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device: reading it for a snippet would hang
        return ()
    return _cached_lines(path, st.st_mtime_ns, st.st_size)


def source_line(span: Span) -> str | None:
    """The text of the first line of ``span``, or None when unreadable."""
    lines = _file_lines(span.file)
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1]
    return None


def caret_snippet(span: Span) -> str:
    """Render the line of ``span`` with carets under the spanned columns."""
    text = source_line(span)
    if text is None:
        return ""
    width = 1
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    column = span.column
    if len(text) > SNIPPET_WIDTH:  # a window around the place, so a bomb's line is not printed whole
        start = max(0, min(column - 1 - SNIPPET_WIDTH // 2, len(text) - SNIPPET_WIDTH))
        text = ("..." if start else "") + text[start : start + SNIPPET_WIDTH] + "..."
        column = column - start + (3 if start else 0)
        width = min(width, SNIPPET_WIDTH)
    text = "".join(c if c.isprintable() or c == "\t" else "?" for c in text)
    gutter = f"{span.line:>5} | "
    pad = " " * (len(gutter) - 2) + "| "
    return f"{gutter}{text}\n{pad}{' ' * (column - 1)}{'^' * width}"


SNIPPET_WIDTH = 400
"""The most characters of a source line a diagnostic shows."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a policy, with a stable code (e.g. ``E201``)."""

    code: str
    message: str
    span: Span
    severity: str = "error"
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: code, severity, message, file, line, column, end, hint."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hint": self.hint,
        }

    def render(self) -> str:
        """``file:line:col: error[E201]: message`` plus caret snippet and hint."""
        head = f"{self.span}: {self.severity}[{self.code}]: {self.message}"
        parts = [head]
        snippet = caret_snippet(self.span)
        if snippet:
            parts.append(snippet)
        if self.hint:
            parts.append(f"      = {self.hint}")
        return "\n".join(parts)


@dataclass
class PolicyError(Exception):
    """Raised by ``load_policy`` when a policy has errors; carries them all."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        head = f"policy has {len(errors)} error(s)"
        return head + "\n" + "\n".join(d.render() for d in self.diagnostics)


def sort_key(d: Diagnostic) -> tuple[int, str, int, int, str]:
    """Errors before warnings, then file, line, column, code."""
    return (0 if d.severity == "error" else 1, d.span.file, d.span.line, d.span.column, d.code)


class Diagnostics:
    """A collector of diagnostics shared by the stages of one load."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        """Record an error."""
        self.items.append(Diagnostic(code, message, span, "error", hint))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        """Record a warning."""
        self.items.append(Diagnostic(code, message, span, "warning", hint))

    @property
    def has_errors(self) -> bool:
        """True when at least one error (not warning) was recorded."""
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Errors, then warnings, each in file, line, column order (the first root error comes first)."""
        return sorted(self.items, key=sort_key)


def did_you_mean(name: str, candidates: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """A 'did you mean' hint for ``name`` among ``candidates``, or None."""
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
