"""lead-rules report: one self-contained HTML page, rendered in headless Chromium.

The browser test needs Debian's ``chromium`` (``make test`` installs it, as it
installs Java for Spark). It loads the page with every host unresolvable, so
a chart that needed the network would not draw; it checks that nothing was
logged to the console, that every chart drew its marks, that the counts shown
equal an independent count of the decisions file, and that the search and
drill-down work. The screenshot is kept in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from lead_rules.cli import main
from lead_rules.engine.policy import load_market, load_policy
from lead_rules.synth.generate import write_population
from lead_rules.tools.report import CHART_IDS, collect, counts_add_up

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=20000",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    pop = write_population(folder / "pop", 400, 3)
    decisions = folder / "decisions.parquet"
    assert (
        main(
            [
                "align",
                "--policy",
                str(LEAD),
                "--market",
                str(pop["market"]),
                "--input",
                str(pop["parquet"]),
                "--output",
                str(decisions),
                "--quiet",
            ]
        )
        == 0
    )
    html = folder / "report.html"
    assert (
        main(
            [
                "report",
                "--input",
                str(decisions),
                "--policy",
                str(LEAD),
                "--market",
                str(pop["market"]),
                "--population",
                str(pop["parquet"]),
                "--output",
                str(html),
            ]
        )
        == 0
    )
    return {
        "decisions": decisions,
        "html": html,
        "market": pop["market"],
        "population": pop["parquet"],
        "folder": folder,
    }


def independent_counts(decisions: Path) -> dict[str, int]:
    con = duckdb.connect()
    src = f"read_parquet('{decisions}')"
    out = {"records": con.sql(f"SELECT count(*) FROM {src}").fetchall()[0][0]}
    for outcome, n in con.sql(f"SELECT outcome, count(*) FROM {src} GROUP BY 1").fetchall():
        out[outcome] = n
    out["decided"] = out["records"] - out.get("error", 0)
    for p, n in con.sql(f"SELECT pathway, count(*) FROM {src} WHERE outcome = 'aligned' GROUP BY 1").fetchall():
        out[f"pathway:{p}"] = n
    for a, n in con.sql(f"SELECT aco_id, count(*) FROM {src} WHERE outcome = 'aligned' GROUP BY 1").fetchall():
        out[f"aco:{a}"] = n
    out.setdefault("error", 0)
    return out


def shown_counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"data-count=['\"]([^'\"]+)['\"]>(\d+)<", html)}


def test_counts_add_up_and_equal_the_data(report: dict[str, Path]) -> None:
    policy = load_policy(LEAD)
    data = collect(report["decisions"], policy, load_market(report["market"]), report["population"])
    assert counts_add_up(data)
    assert shown_counts(report["html"].read_text()) == independent_counts(report["decisions"])
    assert data.reasons_by_pathway and data.reasons_by_aco


def test_the_page_is_self_contained(report: dict[str, Path]) -> None:
    text = report["html"].read_text()
    assert not re.search(r"<script[^>]+src=", text) and "<link" not in text and "<iframe" not in text
    assert load_policy(LEAD).content_hash in text
    assert text.count("<script>") == 2


def test_report_refuses_bad_usage(report: dict[str, Path], tmp_path: Path) -> None:
    assert main(["report", "--input", str(tmp_path / "none.parquet"), "--output", str(tmp_path / "r.html")]) == 2
    assert main(["report", "--input", str(report["decisions"]), "--output", str(report["decisions"])]) == 2
    bad = tmp_path / "d.txt"
    bad.write_text("x")
    assert main(["report", "--input", str(bad), "--output", str(tmp_path / "r.html")]) == 2


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_report_renders_in_headless_chromium(report: dict[str, Path], tmp_path: Path) -> None:
    bene = duckdb.sql(
        f"SELECT bene_id FROM read_parquet('{report['decisions']}') WHERE outcome = 'not_aligned' LIMIT 1"
    ).fetchall()[0][0]
    url = report["html"].as_uri() + f"#q={bene}"
    done = run_chromium(["--dump-dom", url], tmp_path / "profile")
    dom = done.stdout
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    assert re.search(r'<pre id="errors"></pre>', dom), "the page reported an error"
    assert f'data-charts="{len(CHART_IDS)}"' in dom
    for cid in CHART_IDS:
        start = dom.index(f'id="chart-{cid}"')
        end = dom.index("</svg>", start)
        chart = dom[start:end]
        assert "<svg" in chart and "role-mark" in chart, cid
        assert len(re.findall(r"<path", chart)) > 3, cid
    # the counts shown equal the data (as the browser shows them)
    assert shown_counts(dom) == independent_counts(report["decisions"])
    # the search found the beneficiary and the drill-down explains it with citations
    results = dom[dom.index('<tbody id="results">') : dom.index("</tbody>", dom.index('<tbody id="results">'))]
    assert f'data-bene="{bene}"' in results and results.count("<tr") == 1
    explanation = dom[dom.index('<div id="explanation">') :]
    assert f"Beneficiary {bene} is NOT ALIGNED" in explanation
    assert 'class="cite"' in explanation and "does not hold" in explanation
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    taken = run_chromium(
        ["--window-size=1400,3200", f"--screenshot={shot}", report["html"].as_uri()], tmp_path / "profile2"
    )
    assert taken.returncode == 0 and shot.stat().st_size > 10_000


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_the_counts_are_the_same_from_csv_and_evaluate_output(report: dict[str, Path], suffix: str) -> None:
    policy = load_policy(LEAD)
    market = load_market(report["market"])
    parquet = collect(report["decisions"], policy, market)
    other = report["folder"] / f"decisions{suffix}"
    if suffix == ".csv":
        args = ["align", "--policy", str(LEAD), "--market", str(report["market"]), "--input", str(report["population"])]
        assert main([*args, "--output", str(other), "--quiet"]) == 0
    else:
        jsonl = report["folder"] / "pop" / "population.jsonl"
        args = ["evaluate", "--policy", str(LEAD), "--market", str(report["market"]), "--input", str(jsonl)]
        assert main([*args, "--output", str(other)]) == 0
    data = collect(other, policy, market)
    assert counts_add_up(data)
    assert (data.counts, data.by_pathway, data.by_aco_pathway) == (
        parquet.counts,
        parquet.by_pathway,
        parquet.by_aco_pathway,
    )
    assert data.reasons_by_pathway == parquet.reasons_by_pathway
    assert data.reasons_by_aco == parquet.reasons_by_aco
    assert [s[:4] for s in data.subjects] == [s[:4] for s in parquet.subjects]
