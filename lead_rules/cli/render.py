"""How the command line prints diagnostics: plain text, colour in a terminal, or JSON.

Used by :mod:`.main` for ``check`` and by the policy-test runner's CLI
options. Colour (via rich) is used only when the stream is a terminal and
``NO_COLOR`` is not set, so pipes and files get exactly the plain text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from ..language.errors import Diagnostic

_STYLES = {"error": "bold red", "warning": "bold yellow"}


def use_colour(stream: IO[str]) -> bool:
    """True when ``stream`` is a terminal and colour is not switched off (``NO_COLOR``)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def print_diagnostic(d: Diagnostic, stream: IO[str], colour: bool) -> None:
    """Print one diagnostic (head line, caret snippet, hint), coloured when ``colour``."""
    text = d.render()
    if not colour:
        stream.write(text + "\n")
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True)
    head, _, rest = text.partition("\n")
    line = Text(head)
    marker = f"{d.severity}[{d.code}]"
    at = head.find(marker)
    if at >= 0:
        line.stylize(_STYLES.get(d.severity, "bold"), at, at + len(marker))
        line.stylize("bold", 0, at)
    console.print(line)
    for part in rest.splitlines():
        style = "cyan" if part.lstrip("| ").startswith("^") or part.strip().startswith("| ^") else None
        if part.strip().startswith("= "):
            style = "green"
        console.print(Text(part, style=style or ""))


def policy_paths(paths: list[str]) -> list[str]:
    """Expand a folder of policies into its policy folders.

    A folder with no ``*.yaml`` of its own is a folder of policies: its sub-folders
    that hold a policy (a ``*.yaml`` file with a top-level ``policy:`` section) are
    checked; others (``schemas/``, shared data) are not policies and are skipped.
    """
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir() and not _yaml_files(path):
            subs = [str(d) for d in sorted(path.iterdir()) if d.is_dir() and any(map(_declares_policy, _yaml_files(d)))]
            out.extend(subs or [p])
        else:
            out.append(p)
    return out


def _yaml_files(folder: Path) -> list[Path]:
    return [f for f in folder.iterdir() if f.is_file() and f.suffix in (".yaml", ".yml")]


def _declares_policy(file: Path) -> bool:
    """Whether ``file`` has a top-level ``policy:`` key (read as text: no YAML parse of shared data)."""
    try:
        with file.open(encoding="utf-8", errors="replace") as f:
            return any(line.startswith("policy:") for line in f)
    except OSError:
        return False
