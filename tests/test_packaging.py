"""The wheel ships the grammar: a non-editable install outside the repo loads and evaluates a policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel and install it (without dependencies) into a folder of its own."""
    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("git is needed to copy the tree")
    work = tmp_path_factory.mktemp("pkg")
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True,
    )
    (wheel,) = wheels.glob("lead_rules-*.whl")
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)], check=True
    )
    return site


def _run(site: Path, cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-m", "lead_rules", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True
    )


def test_wheel_contains_grammar_and_policies(installed_site: Path) -> None:
    assert (installed_site / "lead_rules" / "grammar" / "expr.lark").is_file()
    assert (installed_site / "lead_rules" / "policies" / "example" / "policy.yaml").is_file()


def test_installed_package_loads_and_evaluates_outside_the_repo(installed_site: Path, tmp_path: Path) -> None:
    policy_dir = installed_site / "lead_rules" / "policies" / "example"
    where = _run(installed_site, tmp_path, "check", str(policy_dir))
    assert where.returncode == 0, where.stdout + where.stderr
    # the module that ran is the installed copy, not the source tree
    probe = subprocess.run(
        [sys.executable, "-c", "import lead_rules, sys; print(lead_rules.__file__)"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(installed_site)), capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip().startswith(str(installed_site))
    record = {
        "bene_id": "P1",
        "residence": {"state": "NC", "county_fips": "37063"},
        "months": [{"month": "2027-03", "buyin": "3", "hmo": "0"}],
        "claims": [{"from_date": "2027-03-01", "tin": "222222222", "hcpcs": "99213", "allowed": 80.0}],
    }
    out = _run(
        installed_site, tmp_path, "evaluate", "--policy", str(policy_dir),
        "--market", str(policy_dir / "markets" / "example-2028.yaml"), stdin=json.dumps(record) + "\n",
    )
    assert out.returncode == 0, out.stderr
    (row,) = (json.loads(line) for line in out.stdout.splitlines())  # one line per input line
    assert (row["outcome"], row["aco_id"], row["pathway"]) == ("aligned", "ACO-B", "claims")
    prov = next(ln for ln in out.stderr.splitlines() if ln.startswith("lead-rules: provenance "))
    assert json.loads(prov.removeprefix("lead-rules: provenance "))["input"] == {"path": "-", "rows": 1}
    assert "read 1, decided 1, errors 0" in out.stderr
