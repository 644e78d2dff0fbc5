"""The audit report: one self-contained HTML file over a batch of decisions (``lead-rules report``).

Reads the output of ``align`` or ``evaluate`` (Parquet, CSV or JSON Lines) with
DuckDB, computes the counts (funnel, pathway mix by ACO and by state, reasons
for non-alignment by pathway and ACO) and writes one HTML page that needs no
network: the charts are Vega-Lite specifications built with Altair, with
their data embedded, drawn by the Vega, Vega-Lite and Vega-Embed JavaScript
that ``vl-convert-python`` ships (inlined). The page also holds a table of
counts that add up to the input, the policy's id, version and content hash,
and a searchable per-beneficiary drill-down whose plain-English explanation
is written from the reasons of each decision and the policy's descriptions,
reason texts and citations.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..engine.policy import Policy
from ..language.records import Market
from ..sql.explain import duckdb_message
from ..sql.quoting import scan

CHART_IDS = ("funnel", "pathway_by_aco", "pathway_by_state", "reasons_by_pathway", "reasons_by_aco")


@dataclass
class ReportData:
    """Everything the page shows, computed from the decisions."""

    counts: dict[str, int]
    by_pathway: dict[str, int]
    by_aco_pathway: list[dict[str, Any]]
    by_state_pathway: list[dict[str, Any]]
    reasons_by_pathway: list[dict[str, Any]]
    reasons_by_aco: list[dict[str, Any]]
    subjects: list[list[Any]]
    policy: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    has_reasons: bool = True


def _reader(path: Path) -> str:
    """The table function reading a decisions file (Parquet with its row numbers), through sql/quoting.py."""
    p = str(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return scan("read_parquet", p, {"file_row_number": True})
    if suffix == ".csv":
        return scan("read_csv", p, {"header": True})
    if suffix in (".jsonl", ".json", ".ndjson"):
        return scan("read_json", p, {"format": "newline_delimited"})
    raise ValueError(f"unknown decisions format {path.suffix!r}: expected .parquet, .csv or .jsonl")


def _population_states(con: duckdb.DuckDBPyConnection, population: Path) -> None:
    """A view ``states(_n, state)`` from a population file (row order = decision order)."""
    suffix = population.suffix.lower()
    p = str(population)
    if suffix == ".parquet":
        src = scan("read_parquet", p, {"file_row_number": True})
        con.sql(f"CREATE VIEW states AS SELECT file_row_number AS _n, residence.state AS state FROM {src}")
    else:
        src = scan("read_json", p, {"format": "newline_delimited", "columns": {"residence": "JSON"}})
        con.sql(
            "CREATE VIEW states AS SELECT row_number() OVER () - 1 AS _n, "
            f"json_extract_string(residence, '$.state') AS state FROM {src}"
        )


def collect(
    decisions: Path,
    policy: Policy | None = None,
    market: Market | None = None,
    population: Path | None = None,
    max_subjects: int = 200_000,
) -> ReportData:
    """The counts and rows of the report, from a decisions file."""
    con = duckdb.connect()
    reader = _reader(decisions)
    try:
        if decisions.suffix.lower() == ".parquet":
            con.sql(f"CREATE VIEW d0 AS SELECT * FROM {reader}")
        else:
            con.sql(f"CREATE VIEW d0 AS SELECT *, row_number() OVER () - 1 AS file_row_number FROM {reader}")
        columns = {str(r[0]) for r in con.sql("DESCRIBE d0").fetchall()}
    except duckdb.Error as exc:
        raise ValueError(f"cannot read {decisions}: {duckdb_message(exc)}") from None
    missing = [c for c in ("bene_id", "outcome") if c not in columns]
    if missing:
        raise ValueError(
            f"{decisions} is not a decisions file (no {', '.join(missing)} column): give the output of "
            "'lead-rules align' or 'evaluate' as --input (a population goes to --population)"
        )
    has_reasons = "reasons" in columns
    if population is not None:
        try:
            _population_states(con, population)
            n_states = int(con.sql("SELECT count(*) FROM states").fetchall()[0][0])
            n_decisions = int(con.sql("SELECT count(*) FROM d0").fetchall()[0][0])
        except duckdb.Error as exc:
            raise ValueError(f"cannot read the population {population}: {duckdb_message(exc)}") from None
        if n_states != n_decisions:
            raise ValueError(
                f"the population {population} has {n_states} rows but the decisions {decisions} have "
                f"{n_decisions}: give the population the decisions were made from"
            )
        con.sql(
            "CREATE VIEW d AS SELECT d0.*, coalesce(s.state, 'unknown') AS _state FROM d0 "
            "LEFT JOIN states s ON s._n = d0.file_row_number"
        )
    else:
        con.sql("CREATE VIEW d AS SELECT *, 'not given' AS _state FROM d0")
    outcome_counts = dict(con.sql("SELECT outcome, count(*) FROM d GROUP BY 1").fetchall())
    counts = {
        "records": int(sum(outcome_counts.values())),
        "decided": int(sum(v for k, v in outcome_counts.items() if k != "error")),
        "aligned": int(outcome_counts.get("aligned", 0)),
        "not_aligned": int(outcome_counts.get("not_aligned", 0)),
        "error": int(outcome_counts.get("error", 0)),
    }
    by_pathway = {
        str(p): int(n)
        for p, n in con.sql(
            "SELECT pathway, count(*) FROM d WHERE outcome = 'aligned' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    }
    order = policy.pathway_names if policy is not None else sorted(by_pathway)
    by_pathway = {p: by_pathway[p] for p in [*order, *sorted(by_pathway)] if p in by_pathway}
    by_aco_pathway = [
        {"aco": a, "pathway": p, "count": int(n)}
        for a, p, n in con.sql(
            "SELECT aco_id, pathway, count(*) FROM d WHERE outcome = 'aligned' GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    ]
    by_state_pathway = [
        {"state": s, "decision": p, "count": int(n)}
        for s, p, n in con.sql(
            "SELECT _state, CASE WHEN outcome = 'aligned' THEN pathway ELSE outcome END, count(*) FROM d "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    ]
    reasons_by_pathway: list[dict[str, Any]] = []
    reasons_by_aco: list[dict[str, Any]] = []
    shape = '[{"pathway":"VARCHAR","criterion":"VARCHAR","value":"VARCHAR","acos":["VARCHAR"]}]'
    reasons_json = "reasons" if decisions.suffix.lower() != ".csv" else f"from_json(reasons, '{shape}')"
    if has_reasons:
        con.sql(
            "CREATE VIEW r AS SELECT file_row_number, u.r.pathway AS pathway, u.r.criterion AS criterion, "
            "u.r.value AS value, u.r.acos AS acos FROM "
            f"(SELECT file_row_number, unnest({reasons_json}) AS r FROM d WHERE outcome = 'not_aligned') "
            "AS u(file_row_number, r) "
            "WHERE u.r.value <> 'true'"
        )
        reasons_by_pathway = [
            {"pathway": p, "criterion": c, "value": v, "count": int(n)}
            for p, c, v, n in con.sql(
                "SELECT pathway, criterion, value, count(DISTINCT file_row_number) FROM r GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        ]
        acos = [a.id for a in market.acos] if market is not None else None
        all_label = "every ACO"
        rows = con.sql("SELECT criterion, pathway, acos, count(*) FROM r GROUP BY ALL").fetchall()
        tally: dict[tuple[str, str, str], int] = {}
        for c, p, a, n in rows:
            targets = a if a is not None else (acos or [all_label])
            for aco in targets:
                key = (str(aco), str(p), str(c))
                tally[key] = tally.get(key, 0) + int(n)
        reasons_by_aco = [
            {"aco": a, "pathway": p, "criterion": c, "count": n} for (a, p, c), n in sorted(tally.items())
        ]
    reason_col = f"to_json({reasons_json})" if has_reasons else "NULL"
    cause_col = '"cause"' if "cause" in columns else "NULL"
    subjects = [
        [b, o, a, p, json.loads(r) if isinstance(r, str) else r, s, c]
        for b, o, a, p, r, s, c in con.sql(
            f"SELECT bene_id, outcome, aco_id, pathway, {reason_col}, _state, {cause_col} FROM d "
            f"ORDER BY file_row_number LIMIT {int(max_subjects)}"
        ).fetchall()
    ]
    return ReportData(
        counts=counts,
        by_pathway=by_pathway,
        by_aco_pathway=by_aco_pathway,
        by_state_pathway=by_state_pathway,
        reasons_by_pathway=reasons_by_pathway,
        reasons_by_aco=reasons_by_aco,
        subjects=subjects,
        policy=policy_info(policy) if policy is not None else {},
        source=str(decisions),
        has_reasons=has_reasons,
    )


def policy_info(policy: Policy) -> dict[str, Any]:
    """What the drill-down needs from the policy: identity, criteria texts and citations."""
    assert policy.doc.meta is not None
    sources = {s.id: {"title": s.title, "url": s.url} for s in policy.doc.meta.sources}
    criteria = {
        name: {"description": item.description, "reason": item.reason, "source": item.source}
        for name, item in policy.doc.named.items()
        if item.kind == "criterion"
    }
    pathways = {name: {"description": pw.description, "source": pw.source} for name, pw in policy.doc.pathways.items()}
    return {
        "id": policy.id,
        "version": policy.version,
        "hash": policy.content_hash,
        "title": policy.title,
        "hierarchy": policy.pathway_names,
        "criteria": criteria,
        "pathways": pathways,
        "sources": sources,
    }


# --- charts -------------------------------------------------------------------------------


def chart_specs(data: ReportData) -> dict[str, dict[str, Any]]:
    """The Vega-Lite specifications of the charts (Altair), with their data inline."""
    import altair as alt

    c = data.counts
    funnel = [
        {"stage": "1. input records", "count": c["records"]},
        {"stage": "2. decided (valid records)", "count": c["decided"]},
        {"stage": "3. aligned", "count": c["aligned"]},
    ] + [{"stage": f"3.{i}. aligned by {p}", "count": n} for i, (p, n) in enumerate(data.by_pathway.items(), 1)]
    specs: dict[str, Any] = {}
    specs["funnel"] = (
        alt.Chart(alt.InlineData(values=funnel), title="Alignment funnel")
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title="beneficiaries"),
            y=alt.Y("stage:N", sort=None, title=None),
            tooltip=["stage:N", "count:Q"],
        )
    )
    specs["pathway_by_aco"] = _stacked_bars(
        data.by_aco_pathway, "Aligned beneficiaries by ACO and pathway", ("aco", "ACO"), "aligned", ("pathway", None)
    )
    specs["pathway_by_state"] = _stacked_bars(
        data.by_state_pathway, "Decisions by state of residence", ("state", "state"), "beneficiaries",
        ("decision", "pathway / outcome"),
    )
    specs["reasons_by_pathway"] = (
        alt.Chart(
            alt.InlineData(values=data.reasons_by_pathway or [{"pathway": "-", "criterion": "-", "count": 0}]),
            title="Why beneficiaries are not aligned: failing requirements by pathway",
        )
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title="not-aligned beneficiaries"),
            y=alt.Y("criterion:N", title=None),
            color=alt.Color("value:N", title="value"),
            row=alt.Row("pathway:N", title=None),
            tooltip=["pathway:N", "criterion:N", "value:N", "count:Q"],
        )
    )
    specs["reasons_by_aco"] = (
        alt.Chart(
            alt.InlineData(values=data.reasons_by_aco or [{"aco": "-", "pathway": "-", "criterion": "-", "count": 0}]),
            title="Failing requirements by ACO (not-aligned beneficiaries)",
        )
        .mark_rect()
        .encode(
            x=alt.X("aco:N", title="ACO"),
            y=alt.Y("criterion:N", title=None),
            color=alt.Color("count:Q", title="count"),
            column=alt.Column("pathway:N", title=None),
            tooltip=["aco:N", "pathway:N", "criterion:N", "count:Q"],
        )
    )
    return {k: v.to_dict() for k, v in specs.items()}


def _stacked_bars(
    values: list[dict[str, Any]], title: str, x: tuple[str, str], y_title: str, color: tuple[str, str | None]
) -> Any:
    """Bars of ``count`` per ``x`` field, stacked by the ``color`` field (``(field, title)`` pairs)."""
    import altair as alt

    colour = alt.Color(f"{color[0]}:N", title=color[1]) if color[1] else f"{color[0]}:N"
    return (
        alt.Chart(alt.InlineData(values=values), title=title)
        .mark_bar()
        .encode(
            x=alt.X(f"{x[0]}:N", title=x[1]),
            y=alt.Y("count:Q", title=y_title),
            color=colour,
            tooltip=[f"{x[0]}:N", f"{color[0]}:N", "count:Q"],
        )
    )


def javascript() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (from vl-convert-python), safe to inline."""
    import vl_convert

    snippet = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
    js: str = vl_convert.javascript_bundle(snippet)
    return js.replace("</script", "<\\/script")


# --- the page -----------------------------------------------------------------------------


def page_script() -> str:
    """The page's own script (search, drill-down, chart embedding), shipped beside this module."""
    from importlib.resources import files

    return files("lead_rules.tools").joinpath("report.js").read_text(encoding="utf-8")


def render(data: ReportData) -> str:
    """The whole HTML page."""
    e = html.escape
    c = data.counts
    p = data.policy
    policy_line = (
        f"Policy <b id='policy-id'>{e(p['id'])}</b> version <b id='policy-version'>{e(p['version'])}</b>, "
        f"content hash <code id='policy-hash'>{e(p['hash'])}</code>"
        if p
        else "Policy not given (run with --policy for its id, version, hash, descriptions and citations)."
    )
    pathway_rows = "".join(
        f"<tr><td>aligned by {e(k)}</td><td class=n data-count='pathway:{e(k)}'>{v}</td></tr>"
        for k, v in data.by_pathway.items()
    )
    aco_totals: dict[str, int] = {}
    for r in data.by_aco_pathway:
        aco_totals[str(r["aco"])] = aco_totals.get(str(r["aco"]), 0) + int(r["count"])
    aco_rows = "".join(
        f"<tr><td>aligned to {e(k)}</td><td class=n data-count='aco:{e(k)}'>{v}</td></tr>"
        for k, v in sorted(aco_totals.items())
    )
    charts = "".join(f"<div class='chart' id='chart-{cid}'></div>" for cid in CHART_IDS)
    strings: dict[str, int] = {}

    def code(text: Any) -> int:
        return strings.setdefault(str(text), len(strings))

    subjects = [
        [
            *row[:4],
            None
            if row[4] is None
            else [
                [
                    code(r["pathway"]),
                    code(r["criterion"]),
                    code(r["value"]),
                    None if r.get("acos") is None else [code(a) for a in r["acos"]],
                ]
                for r in row[4]
            ],
            *row[5:],
        ]
        for row in data.subjects
    ]
    payload = {
        "strings": list(strings),
        "subjects": subjects,
        "policy": p,
        "counts": c,
    }
    data_json = json.dumps(payload, default=str, separators=(",", ":")).replace("</", "<\\/")
    specs_json = json.dumps(chart_specs(data), default=str, separators=(",", ":")).replace("</", "<\\/")
    shown = len(data.subjects)
    note = "" if shown == c["records"] else f"<p>The drill-down holds the first {shown} of {c['records']} records.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lead-rules audit report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:.25em .6em}} td.n{{text-align:right}} th{{background:#eee}}
.chart{{margin:1em 0}} .cite{{color:#555;font-size:90%}} .why{{color:#444}} #errors{{color:#b00}}
#explanation{{border:1px solid #ccc;padding:.5em 1em;background:#fafafa}}
</style></head>
<body data-charts="0">
<h1>Alignment audit report</h1>
<p>{policy_line}. Decisions: <code>{e(data.source)}</code>.</p>
<h2>Counts</h2>
<table id="counts">
<tr><td>input records</td><td class=n data-count="records">{c["records"]}</td></tr>
<tr><td>decided</td><td class=n data-count="decided">{c["decided"]}</td></tr>
<tr><td>errors (invalid records)</td><td class=n data-count="error">{c["error"]}</td></tr>
<tr><td>aligned</td><td class=n data-count="aligned">{c["aligned"]}</td></tr>
<tr><td>not aligned</td><td class=n data-count="not_aligned">{c["not_aligned"]}</td></tr>
{pathway_rows}{aco_rows}
</table>
<p>records = aligned + not aligned + errors; aligned = the sum over pathways = the sum over ACOs.</p>
<h2>Charts</h2>{charts}
<h2>Beneficiaries</h2>{note}
<p><label>Search by bene_id: <input id="search" type="search" placeholder="e.g. 2P19"></label>
<span id="matches"></span> shown (at most 50).</p>
<table><thead><tr><th>bene_id</th><th>outcome</th><th>ACO</th><th>pathway</th><th>state</th></tr></thead>
<tbody id="results"></tbody></table>
<div id="explanation"></div>
<pre id="errors"></pre>
<script type="application/json" id="report-data">{data_json}</script>
<script type="application/json" id="chart-specs">{specs_json}</script>
<script>{javascript()}</script>
<script>{page_script()}</script>
</body></html>
"""


def write_report(
    decisions: Path,
    output: Path,
    policy: Policy | None = None,
    market: Market | None = None,
    population: Path | None = None,
) -> ReportData:
    """Compute and write the report (atomically, never over the input); return its data."""
    from ..engine.output_files import atomic_write_text

    if output.resolve() == decisions.resolve():
        raise ValueError("the report would overwrite its input")
    data = collect(decisions, policy, market, population)
    atomic_write_text(output, render(data))
    return data


def counts_add_up(data: ReportData) -> bool:
    """records = aligned + not aligned + errors, and aligned = sum over pathways = sum over ACOs."""
    c = data.counts
    by_aco = sum(int(r["count"]) for r in data.by_aco_pathway)
    return (
        c["records"] == c["aligned"] + c["not_aligned"] + c["error"]
        and c["aligned"] == sum(data.by_pathway.values()) == by_aco
    )
