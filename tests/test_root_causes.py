"""Root causes first: one YAML slip is one diagnostic, sorted output, JSON output of `check`."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from lead_rules.cli.main import main
from lead_rules.cli.render import print_diagnostic, use_colour
from lead_rules.engine.policy import check_policy

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"

# (slip, text replaced in claims.yaml, replacement, column, hint fragment); the line is where the text stands
SLIPS = [
    ("tab", "  ay1_end:\n", "\tay1_end:\n", 1, "tabs"),
    ("unquoted list", "    expr: add_days(ay2_start, -1)", '    expr: ["a"] == ["a"]', 17, "quoted"),
    ("over-indented", "  ay1_start:\n", "     ay1_start:\n", 15, "indentation"),
]


def _line_of(path: Path, text: str) -> int:
    """The 1-based line where ``text`` starts in ``path``."""
    content = path.read_text(encoding="utf-8")
    return content[: content.index(text)].count("\n") + 1


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "lead"
    shutil.copytree(LEAD, dst, ignore=shutil.ignore_patterns("tests"))
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(("slip", "old", "new", "column", "hint"), SLIPS, ids=[s[0] for s in SLIPS])
def test_a_yaml_slip_is_one_diagnostic(tmp_path: Path, slip: str, old: str, new: str, column: int, hint: str) -> None:
    policy = _copy(tmp_path)
    line = _line_of(policy / "claims.yaml", old)
    _edit(policy / "claims.yaml", old, new)
    result, diagnostics = check_policy(policy)
    assert result is None
    assert [(d.code, Path(d.span.file).name, d.span.line, d.span.column) for d in diagnostics] == [
        ("E001", "claims.yaml", line, column)
    ]
    assert diagnostics[0].hint is not None and hint in diagnostics[0].hint


def test_the_other_files_are_still_checked(tmp_path: Path) -> None:
    policy = _copy(tmp_path)
    _edit(policy / "claims.yaml", "  ay1_end:\n", "\tay1_end:\n")
    _edit(policy / "voluntary.yaml", "expr:", "expr: (")
    _, diagnostics = check_policy(policy)
    files = [(d.code, Path(d.span.file).name) for d in diagnostics]
    assert files[0] == ("E001", "claims.yaml")
    assert ("E101", "voluntary.yaml") in files
    assert all(d.severity == "error" for d in diagnostics)


def test_errors_come_first_then_file_and_line(tmp_path: Path) -> None:
    policy = _copy(tmp_path)
    _edit(policy / "parameters.yaml", "parameters:\n", "parameters:\n  zz_unused: {type: int, value: 1}\n")
    _edit(policy / "voluntary.yaml", "expr:", "expr: (")
    _, diagnostics = check_policy(policy)
    severities = [d.severity for d in diagnostics]
    assert severities == sorted(severities, key=lambda s: s != "error")
    errors = [(d.span.file, d.span.line, d.span.column) for d in diagnostics if d.severity == "error"]
    assert errors == sorted(errors)


def test_check_format_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _copy(tmp_path)
    line = _line_of(policy / "claims.yaml", "  ay1_end:\n")
    _edit(policy / "claims.yaml", "  ay1_end:\n", "\tay1_end:\n")
    assert main(["check", "--format", "json", str(policy)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    (report,) = out["policies"]
    assert report["errors"] == 1 and report["warnings"] == 0
    assert report["diagnostics"][0]["code"] == "E001"
    assert report["diagnostics"][0]["line"] == line


def test_check_accepts_a_folder_of_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--format", "json", str(REPO / "policies")]) == 0
    out = json.loads(capsys.readouterr().out)
    bundled = sorted(d.parent.name for d in (REPO / "policies").glob("*/policy.yaml"))
    assert "lead" in bundled and "schemas" not in bundled
    assert sorted(Path(p["path"]).name for p in out["policies"]) == bundled
    assert all(p["ok"] for p in out["policies"])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_in_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _copy(tmp_path)
    _edit(policy / "claims.yaml", "  ay1_end:\n", "\tay1_end:\n")
    _, diagnostics = check_policy(policy)
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty, pipe = _Tty(), io.StringIO()
    assert use_colour(tty) and not use_colour(pipe)
    print_diagnostic(diagnostics[0], tty, colour=True)
    print_diagnostic(diagnostics[0], pipe, colour=False)
    assert "\x1b[" in tty.getvalue() and "\x1b[" not in pipe.getvalue()
    assert "\x1b[" not in diagnostics[0].render()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(tty)
