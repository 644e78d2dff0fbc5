"""Symbolic links in a policy folder (issue 8, confinement): a policy ``*.yaml`` that is a link
leading out of the folder -- to a file, to a folder, dangling, or a loop -- is refused with
E305 at the link, and the target is never read, so no diagnostic shows a line of it. A
link that stays inside the folder is a file of the policy like any other."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lead_rules.cli import main as cli
from lead_rules.engine.policy import check_policy

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "example"
SECRET = "TOP-SECRET-LINE: [unclosed\n"  # not YAML: a loader that read it would show this line
# The refusal is located at the folder holding the link (its first line, no snippet): a snippet
# of the link itself would print the target's first line.


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "policy"
    shutil.copytree(EXAMPLE, folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "extra.yaml").write_text(SECRET)
    return folder, outside


@pytest.mark.parametrize("kind", ["file", "folder", "dangling", "loop", "relative-dotdot"])
def test_a_policy_file_linked_out_of_the_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    folder, outside = _folders(tmp_path)
    link = folder / "extra.yaml"  # sorted after policy.yaml
    if kind == "file":
        link.symlink_to(outside / "extra.yaml")
    elif kind == "folder":
        link.symlink_to(outside, target_is_directory=True)
    elif kind == "dangling":
        link.symlink_to(outside / "missing.yaml")
    elif kind == "loop":
        os.symlink(folder / "other.yaml", link)
        os.symlink(link, folder / "other.yaml")
    else:
        link.symlink_to(Path("..") / "outside" / "extra.yaml")
    policy, diags = check_policy(folder)
    assert policy is None
    refused = [d for d in diags if d.code == "E305"]
    expected = ["'extra.yaml'", "'other.yaml'"] if kind == "loop" else ["'extra.yaml'"]  # a loop: both links
    assert [str(d.span) for d in refused] == [f"{folder}:1:1"] * len(expected)
    assert all(name in d.message for name, d in zip(expected, refused, strict=True))
    assert all(d.code == "E305" for d in diags if d.severity == "error")
    assert "TOP-SECRET" not in "\n".join(d.render() for d in diags)
    assert cli(["check", str(folder)]) == 1
    out = capsys.readouterr()
    assert "E305" in out.out + out.err and "TOP-SECRET" not in out.out + out.err


def test_a_link_that_stays_in_the_folder_is_read(tmp_path: Path) -> None:
    folder, _ = _folders(tmp_path)
    (folder / "real").mkdir()
    (folder / "policy.yaml").rename(folder / "real" / "policy.yml")
    (folder / "policy.yaml").symlink_to(Path("real") / "policy.yml")
    text = (folder / "real" / "policy.yml").read_text()
    (folder / "real" / "policy.yml").write_text(text)
    policy, diags = check_policy(folder)
    assert policy is not None, [d.render() for d in diags]
    assert not [d for d in diags if d.code == "E305"]


def test_a_policy_folder_named_through_a_link_is_its_target(tmp_path: Path) -> None:
    folder, _ = _folders(tmp_path)
    alias = tmp_path / "alias"
    alias.symlink_to(folder, target_is_directory=True)
    policy, diags = check_policy(alias)
    assert policy is not None, [d.render() for d in diags]
