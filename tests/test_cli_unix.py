"""Unix-shaped CLI: --version, help text on every option, a subcommand typo suggests the
right one, and a misspelled market key gets a did-you-mean at the key's place."""

from __future__ import annotations

import argparse
from importlib.metadata import version
from pathlib import Path

import pytest

from lead_rules.cli.main import build_parser, main

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
MARKET = LEAD / "markets" / "demo-2028.yaml"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lead-rules {version('lead-rules')}"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_option_of_every_command_has_help() -> None:
    parser = build_parser()
    subs = _subparsers(parser)
    assert {"check", "evaluate", "explain", "align", "sql", "test", "generate", "demo"} <= set(subs)
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, sub in [("", parser), *subs.items()]
        for a in sub._actions
        if not isinstance(a, argparse._SubParsersAction) and (not a.help or a.help == argparse.SUPPRESS)
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["chek", "policies"], "did you mean 'check'?"),
        (["alin", "--policy", "p"], "did you mean 'align'?"),
        (["tset", "policies"], "did you mean 'test'?"),
        (["explian"], "did you mean 'explain'?"),
        (["frobnicate"], "commands: check, evaluate"),
    ],
)
def test_a_command_typo_suggests_the_command(
    argv: list[str], suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"unknown command '{argv[0]}'" in err and suggestion in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "hint"),
    [
        ("performance_year:", "performance_yr:", "performance_yr", 1, "did you mean 'performance_year'?"),
        ("    participant_tins:", "    participant_tin:", "participant_tin", 5, "did you mean 'participant_tins'?"),
    ],
)
def test_a_misspelled_market_key_gets_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, line: str, column: int, hint: str
) -> None:
    text = MARKET.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "market.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    lineno = next(i for i, ln in enumerate(bad.read_text().splitlines(), start=1) if ln.lstrip().startswith(line + ":"))
    with pytest.raises(SystemExit) as info:
        main(["sql", "--policy", str(LEAD), "--market", str(bad)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad}:{lineno}:{column}: error[E401]: invalid market: " in err
    assert f"unknown key '{line}'" in err and hint in err
    assert "Extra inputs are not permitted" not in err
