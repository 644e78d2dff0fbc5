"""The demo: generate a population, align it with the LEAD policy, summarise.

This is the README's main job (``make demo``). It writes a deterministic
synthetic population and market, decides every beneficiary with the
interpreter (a progress bar on the terminal), writes ``decisions.jsonl``, and
prints counts by pathway and ACO, the most frequent reasons for
non-alignment, and one explained example of each pathway.
"""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..batch.jsonl import BatchCounts, decide_lines, dumps
from ..synth.generate import write_population
from .loading import market_or_exit, policy_or_exit


def default_policy_path() -> Path:
    """``policies/lead`` of the working folder, else the copy shipped in the wheel."""
    local = Path("policies/lead")
    if local.is_dir():
        return local
    packaged = resources.files("lead_rules").joinpath("policies").joinpath("lead")
    return Path(str(packaged))


def run_demo(out_dir: Path, n: int, seed: int, policy_path: str | None) -> int:
    """Run the demo; return the exit code."""
    console = Console()
    policy_dir = Path(policy_path) if policy_path else default_policy_path()
    console.print(f"[bold]lead-rules demo[/bold]: {n:,} synthetic beneficiaries, seed {seed}, policy {policy_dir}")
    paths = write_population(out_dir, n, seed, formats=("jsonl",))
    policy = policy_or_exit(str(policy_dir))
    market = market_or_exit(str(paths["market"]))
    console.print(
        f"policy {policy.id} v{policy.version} ({policy.content_hash[:12]}), "
        f"market PY{market.performance_year} with {len(market.acos)} ACOs"
    )
    counts = BatchCounts()
    by_pathway_aco: Counter[tuple[str, str]] = Counter()
    fail_reasons: Counter[tuple[str, str]] = Counter()
    examples: dict[str, str] = {}
    decisions_path = out_dir / "decisions.jsonl"
    with (
        paths["jsonl"].open(encoding="utf-8") as src,
        decisions_path.open("w", encoding="utf-8") as dst,
        Progress(
            TextColumn("aligning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
            transient=False,
        ) as progress,
    ):
        task = progress.add_task("align", total=n)
        for row, decision in decide_lines(policy, market, src):
            dst.write(dumps(row) + "\n")
            counts.add(row["outcome"])
            progress.advance(task)
            if decision is None:
                continue
            if decision.outcome == "aligned" and decision.pathway and decision.aco_id:
                by_pathway_aco[(decision.pathway, decision.aco_id)] += 1
                if decision.bene_id:
                    examples.setdefault(decision.pathway, decision.bene_id)
            elif decision.outcome == "not_aligned":
                # reasons that held for every ACO: the ones that explain why no ACO got the beneficiary
                for crit, value in {(r.criterion, r.value) for r in decision.reasons if r.acos is None}:
                    fail_reasons[(crit, value)] += 1
                if decision.bene_id:
                    examples.setdefault("not_aligned", decision.bene_id)

    console.print(f"\n{counts.summary()}  -> {decisions_path}")
    table = Table(title="Aligned beneficiaries by pathway and ACO")
    table.add_column("pathway")
    table.add_column("ACO")
    table.add_column("beneficiaries", justify="right")
    table.add_column("share of population", justify="right")
    for pathway in policy.pathway_names:
        for (pw, aco), k in sorted(by_pathway_aco.items()):
            if pw == pathway:
                table.add_row(pw, aco, f"{k:,}", f"{100 * k / max(counts.read, 1):.1f}%")
    console.print(table)
    not_aligned = counts.by_outcome.get("not_aligned", 0)
    reasons = Table(title="Top reasons for non-alignment (failed for every ACO; once per beneficiary)")
    reasons.add_column("criterion")
    reasons.add_column("value")
    reasons.add_column("beneficiaries", justify="right")
    reasons.add_column("% of not aligned", justify="right")
    for (crit, value), k in fail_reasons.most_common(12):
        reasons.add_row(crit, value, f"{k:,}", f"{100 * k / max(not_aligned, 1):.1f}%")
    console.print(reasons)
    wanted = [*policy.pathway_names, "not_aligned"]
    with paths["jsonl"].open(encoding="utf-8") as src:
        lines: dict[str, str] = {}
        ids = {examples[k]: k for k in wanted if k in examples}
        for line in src:
            for wanted_id in ids:
                if f'"{wanted_id}"' in line and wanted_id not in lines:
                    lines[wanted_id] = line
            if len(lines) == len(ids):
                break
    for kind in wanted:
        example_id = examples.get(kind)
        if example_id is None or example_id not in lines:
            console.print(f"\n[bold]No example for {kind}[/bold] in this population.")
            continue
        _, decision = next(iter(decide_lines(policy, market, [lines[example_id]], trace=True)))
        assert decision is not None
        console.rule(f"example: {kind}")
        console.print(decision.explain(), markup=False, highlight=False)
    return 0
