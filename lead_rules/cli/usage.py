"""The usage layer of the command line: one-line argparse errors and did-you-mean for typos.

Part of ``lead_rules.cli`` (stage 4): :class:`CommandParser` is the parser class of ``lead-rules`` and of
every subcommand, so a usage error is one line ``lead-rules: error: ...`` and exit code 2; the typo
checks run before argparse, which would otherwise complain about the required option a typo hid.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TypeVar

_ActionT = TypeVar("_ActionT", bound=argparse.Action)


def count_arg(text: str) -> int:
    """A whole number >= 0 (``--trace-depth``, ``--trace-values``); argparse reports anything else."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


class CommandParser(argparse.ArgumentParser):
    """The parser of ``lead-rules`` and of its subcommands: a usage error is one line ``lead-rules: error: ...``.

    ``commands`` names the subcommands (top level), ``subcommands`` maps them to their parsers, and
    ``options`` lists the option strings of a parser (for the did-you-mean of a typo).
    """

    commands: list[str]
    subcommands: dict[str, CommandParser]

    @property
    def options(self) -> list[str]:
        """The option strings this parser accepts (``--policy``, ``-k``, ``--help``...)."""
        found: list[str] = self.__dict__.setdefault("found_options", [])
        return found

    def _add_action(self, action: _ActionT) -> _ActionT:
        self.options.extend(action.option_strings)
        return super()._add_action(action)

    def error(self, message: str) -> Any:
        """Print one line (no usage block) and exit 2, the exit code of bad usage."""
        print(f"lead-rules: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def command_typo(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """``unknown command 'chek'; did you mean 'check'?`` when the first word is not a subcommand."""
    import difflib

    words = [a for a in argv if not a.startswith("-")]
    if not words or argv[0].startswith("-"):
        return None
    commands = list(getattr(parser, "commands", []))
    if not commands or words[0] in commands:
        return None
    close = difflib.get_close_matches(words[0], commands, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; commands: {', '.join(commands)}"
    return f"unknown command '{words[0]}'{hint}"


def option_typo(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """``unrecognized option '--polcy'; did you mean '--policy'?`` for an option the subcommand lacks.

    Checked before argparse, which would first complain of the required ``--policy`` the typo hid.
    """
    import difflib

    sub = getattr(parser, "subcommands", {}).get(argv[0]) if argv else None
    if sub is None:
        return None
    known = sub.options
    for word in argv[1:]:
        if word == "--":
            break
        if not word.startswith("--"):
            continue
        name = word.split("=", 1)[0]
        if name in known or len([o for o in known if o.startswith(name)]) == 1:  # argparse takes a unique prefix
            continue
        close = difflib.get_close_matches(name, [o for o in known if o.startswith("--")], n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f" (see 'lead-rules {argv[0]} --help')"
        return f"unrecognized option '{name}' for '{argv[0]}'{hint}"
    return None
