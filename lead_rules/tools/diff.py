"""Impact of a policy change: who moves, from where to where, and why (``lead-rules diff``).

Both policy versions decide the same population independently -- on DuckDB
with every criterion column (the default), or with the reference interpreter
where a policy does not compile -- and the two outputs are joined row by row
(input order, so duplicate or missing ids cannot mix subjects). The result is
the transition matrix of the decision key (outcome, ACO, pathway) for the
subjects whose decision changed, and for each such subject the *causes*: the
requirement criteria, of the pathways evaluated in either run, whose value
changed for some ACO, in hierarchy order. When no criterion value changed the
cause is the tie rank, the tie rule or the structure of the policy (its
hierarchy or requirement lists), so every changed subject carries a cause.

The comparison reads only the public decision fields and the criterion and
rank columns named by :mod:`lead_rules.sql.compiler`, so a decision kind with
other pathways or another key works the same way.
"""

from __future__ import annotations

import html
import json
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..engine.output_files import atomic_write_text, is_special
from ..engine.policy import Policy
from ..language import ast
from ..language.records import Market
from ..sql.quoting import scan

DECISION_KEY = ("outcome", "aco_id", "pathway")
"""The fields whose change makes a subject *changed*."""

STRUCTURE = "policy structure"
EVALUATION_ERROR = "evaluation error"
"""The cause named when one side of a changed decision is ``error``: its error message follows."""
"""The cause named when a decision changed with no criterion or tie value changing."""


@dataclass(frozen=True)
class Cause:
    """A criterion of a pathway whose value changed."""

    criterion: str
    pathway: str


@dataclass
class SubjectChange:
    """One subject whose decision changed."""

    row: int
    bene_id: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    causes: list[Cause]
    subject: dict[str, Any] | None = None  # a decision kind's subject fields (bene_id is the first one)
    outputs: dict[str, dict[str, Any]] | None = None  # a computation's changed outputs: name -> {from, to}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = {
            "row": self.row,
            "bene_id": self.bene_id,
            "from": self.before,
            "to": self.after,
            "causes": [{"criterion": c.criterion, "pathway": c.pathway} for c in self.causes],
        }
        if self.subject is not None:
            d["subject"] = self.subject
        if self.outputs is not None:
            d["outputs"] = self.outputs
        return d


@dataclass
class DiffResult:
    """The impact of a change on one population."""

    old: dict[str, str]
    new: dict[str, str]
    engines: dict[str, str]
    total: int
    changed: int
    transitions: list[tuple[tuple[Any, ...], tuple[Any, ...], int]]
    unchanged: list[tuple[tuple[Any, ...], int]]
    causes: list[tuple[Cause, int]]
    subjects: list[SubjectChange] = field(default_factory=list)
    kind: str = "alignment"
    transition_outputs: list[list[str]] | None = None
    """A computation's transitions: the outputs that changed, one list per transition (same order)."""

    def to_dict(self, subjects: bool = True) -> dict[str, Any]:
        """The machine-readable form (``diff --output D.json``)."""

        def key(k: tuple[Any, ...]) -> dict[str, Any]:
            return dict(zip(DECISION_KEY, k, strict=True))

        transitions = [{"from": key(a), "to": key(b), "count": n} for a, b, n in self.transitions]
        for t, outputs in zip(transitions, self.transition_outputs or [], strict=False):
            t["outputs"] = outputs
        d: dict[str, Any] = {
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "engines": self.engines,
            "total": self.total,
            "changed": self.changed,
            "transitions": transitions,
            "unchanged": [{"decision": key(a), "count": n} for a, n in self.unchanged],
            "causes": [{"criterion": c.criterion, "pathway": c.pathway, "count": n} for c, n in self.causes],
        }
        if subjects:
            d["subjects"] = [s.to_dict() for s in self.subjects]
        return d

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [
            f"{self.old['id']} v{self.old['version']} -> {self.new['id']} v{self.new['version']}: "
            f"{self.changed} of {self.total} subjects changed"
        ]
        for i, (a, b, n) in enumerate(self.transitions):
            outputs = (self.transition_outputs or [])[i:i + 1]
            what = f" ({', '.join(outputs[0])} changed)" if outputs else ""
            lines.append(f"  {n:>8}  {_label(a)} -> {_label(b)}{what}")
        if self.causes:
            lines.append("causes (a subject may have several):")
            for c, n in self.causes:
                lines.append(f"  {n:>8}  {c.pathway}: {c.criterion}")
        return "\n".join(lines)


def _label(k: tuple[Any, ...]) -> str:
    outcome, aco, pathway = k
    if outcome == "aligned":
        return f"aligned {aco} ({pathway})"
    return str(outcome)


# --- the structure of a policy ------------------------------------------------------------


def requirement_criteria(policy: Policy) -> dict[str, list[str]]:
    """Per pathway (hierarchy order), the criteria its requirements name, in order, without repeats."""
    criteria = set(policy.criteria())
    out: dict[str, list[str]] = {}
    for name, _ in policy.doc.hierarchy:
        seen: list[str] = []
        for req in policy.doc.pathways[name].requires:
            for node in ast.walk(req):
                if isinstance(node, ast.Name) and node.name in criteria and node.name not in seen:
                    seen.append(node.name)
        out[name] = seen
    return out


def _evaluated(hierarchy: list[str], row: Mapping[str, Any]) -> list[str]:
    """The pathways a run evaluated: up to the deciding one, or all of them."""
    pathway = row.get("pathway")
    if row.get("outcome") == "aligned" and pathway in hierarchy:
        return hierarchy[: hierarchy.index(pathway) + 1]
    return list(hierarchy)


def _columns_of(row: Mapping[str, Any], prefix: str, name: str) -> dict[str, Any]:
    exact = f"{prefix}:{name}"
    return {k: v for k, v in row.items() if k == exact or k.startswith(exact + "@")}


def attribute(
    old_policy: Policy,
    new_policy: Policy,
    old_row: Mapping[str, Any],
    new_row: Mapping[str, Any],
) -> list[Cause]:
    """The causes of a changed decision, in hierarchy order (never empty).

    When one side could not be decided (``error``), its evaluation error is the cause, not every
    criterion (an error row has no criterion values to compare).
    """
    for side, row, other in (("new", new_row, old_row), ("old", old_row, new_row)):
        if row.get("outcome") == "error" and other.get("outcome") != "error":
            text = str(row.get("cause") or "the record could not be decided").strip()
            first = text.splitlines()[0] if text else "the record could not be decided"
            return [Cause(f"{EVALUATION_ERROR}: {first[:200]}", f"{side} policy")]
    old_req, new_req = requirement_criteria(old_policy), requirement_criteria(new_policy)
    old_h, new_h = list(old_req), list(new_req)
    pathways = new_h + [p for p in old_h if p not in new_h]
    evaluated = set(_evaluated(old_h, old_row)) | set(_evaluated(new_h, new_row))
    causes: list[Cause] = []
    for p in pathways:
        if p not in evaluated:
            continue
        in_old, in_new = old_req.get(p, []), new_req.get(p, [])
        for c in in_new + [c for c in in_old if c not in in_new]:
            required_both = c in in_old and c in in_new
            if not required_both or _columns_of(old_row, "c", c) != _columns_of(new_row, "c", c):
                causes.append(Cause(c, p))
    if causes:
        return causes
    for p in pathways:
        if p in evaluated and _columns_of(old_row, "rank", p) != _columns_of(new_row, "rank", p):
            causes.append(Cause("tie.rank", p))
    if causes:
        return causes
    where = new_row.get("pathway") or old_row.get("pathway") or (pathways[0] if pathways else "-")
    if old_h != new_h:
        return [Cause("hierarchy", str(where))]
    pw_old = old_policy.doc.pathways.get(str(where))
    pw_new = new_policy.doc.pathways.get(str(where))
    tie_changed = (
        pw_old is not None
        and pw_new is not None
        and (pw_old.on_tie, pw_old.tie_rank)
        != (
            pw_new.on_tie,
            pw_new.tie_rank,
        )
    )
    if tie_changed or old_policy.doc.parameters != new_policy.doc.parameters:
        return [Cause("tie.on_tie", str(where))]  # a tie rule, or a parameter it reads
    return [Cause(STRUCTURE, str(where))]


# --- running both sides -------------------------------------------------------------------


def decide_to_parquet(policy: Policy, market: Market, input_path: str | Path, output: Path, engine: str) -> str:
    """Decide ``input_path`` into ``output`` (Parquet, every criterion column); return the engine used.

    ``engine`` ``duckdb`` falls back to the interpreter when the policy does
    not compile; ``interpreter`` always uses the reference interpreter.
    """
    from ..sql.compiler import compile_policy
    from ..sql.run import run_duckdb

    if engine == "duckdb":
        compiled = compile_policy(policy, market, "duckdb")
        if not compiled.errors:
            run_duckdb(compiled, input_path, output, columns="full")
            return "duckdb"
    elif engine != "interpreter":
        raise ValueError(f"unknown engine {engine!r}: expected duckdb or interpreter")
    _interpret_to_parquet(policy, market, input_path, output)
    return "interpreter"


def _interpret_to_parquet(policy: Policy, market: Market, input_path: str | Path, output: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..sql.reference import Reference
    from ..sql.run import iter_records

    ref = Reference(policy, market)
    rows: list[dict[str, Any]] = []
    names: dict[str, None] = dict.fromkeys(("bene_id", "outcome", "aco_id", "pathway", "cause"))
    for _line, record, cause in iter_records(input_path):
        if record is None:
            row: dict[str, Any] = {"bene_id": None, "outcome": "error", "aco_id": None, "pathway": None, "cause": cause}
        else:
            row = ref.row(record, criteria=True)
            row.pop("reasons", None)
            for k, v in list(row.items()):
                if k.startswith("rank:") and v is not None:
                    row[k] = str(v)  # exact, and one Arrow type whatever the scale
        names.update(dict.fromkeys(row))
        rows.append(row)
    table = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows])
    pq.write_table(table, str(output))


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple[Any, ...]]:
    cur = con.execute(sql)
    while True:
        chunk = cur.fetchmany(10_000)
        if not chunk:
            return
        yield from chunk


def compare_outputs(old_policy: Policy, new_policy: Policy, old_out: Path, new_out: Path) -> DiffResult:
    """Join two batch outputs row by row and build the :class:`DiffResult`."""
    con = duckdb.connect()
    for view, out in (("o", old_out), ("n", new_out)):
        con.sql(f"CREATE VIEW {view} AS SELECT * FROM {scan('read_parquet', str(out), {'file_row_number': True})}")
    n_old = int(con.sql("SELECT count(*) FROM o").fetchall()[0][0])
    n_new = int(con.sql("SELECT count(*) FROM n").fetchall()[0][0])
    if n_old != n_new:
        raise ValueError(f"the two runs decided {n_old} and {n_new} rows: they did not read the same input")
    keys_o = ", ".join(f'o."{k}"' for k in DECISION_KEY)
    keys_n = ", ".join(f'n."{k}"' for k in DECISION_KEY)
    distinct = " OR ".join(f'o."{k}" IS DISTINCT FROM n."{k}"' for k in DECISION_KEY)
    join = "FROM o JOIN n USING (file_row_number)"
    matrix = con.sql(f"SELECT {keys_o}, {keys_n}, count(*) {join} GROUP BY ALL").fetchall()
    transitions: list[tuple[tuple[Any, ...], tuple[Any, ...], int]] = []
    unchanged: list[tuple[tuple[Any, ...], int]] = []
    for r in matrix:
        a, b, count = tuple(r[0:3]), tuple(r[3:6]), int(r[6])
        if a == b:
            unchanged.append((a, count))
        else:
            transitions.append((a, b, count))
    transitions.sort(key=lambda t: (-t[2], _sort_key(t[0]), _sort_key(t[1])))
    unchanged.sort(key=lambda t: (-t[1], _sort_key(t[0])))
    subjects: list[SubjectChange] = []
    counts: Counter[Cause] = Counter()
    for number, old_row, new_row in _rows(con, f"SELECT file_row_number, o, n {join} WHERE {distinct} ORDER BY 1"):
        causes = attribute(old_policy, new_policy, old_row, new_row)
        counts.update(causes)
        subjects.append(
            SubjectChange(
                int(number),
                new_row.get("bene_id"),
                {k: old_row.get(k) for k in DECISION_KEY},
                {k: new_row.get(k) for k in DECISION_KEY},
                causes,
            )
        )
    order = _cause_order(old_policy, new_policy)
    ranked = sorted(counts.items(), key=lambda cn: (order.get((cn[0].pathway, cn[0].criterion), (999, 999)), -cn[1]))
    return DiffResult(
        old=_identity(old_policy),
        new=_identity(new_policy),
        engines={},
        total=n_old,
        changed=len(subjects),
        transitions=transitions,
        unchanged=unchanged,
        causes=ranked,
        subjects=subjects,
    )


def _sort_key(k: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in k)


def _cause_order(old_policy: Policy, new_policy: Policy) -> dict[tuple[str, str], tuple[int, int]]:
    order: dict[tuple[str, str], tuple[int, int]] = {}
    for req in (requirement_criteria(new_policy), requirement_criteria(old_policy)):
        for i, (p, crits) in enumerate(req.items()):
            for j, c in enumerate(crits):
                order.setdefault((p, c), (i, j))
            for j, c in enumerate(("tie.rank", "tie.on_tie", "hierarchy", STRUCTURE), start=len(crits)):
                order.setdefault((p, c), (i, j))
    return order


def _identity(policy: Policy) -> dict[str, str]:
    return {"id": policy.id, "version": policy.version, "hash": policy.content_hash}


def diff_policies(
    old_policy: Policy,
    new_policy: Policy,
    market: Market,
    input_path: str | Path,
    engine: str = "duckdb",
) -> DiffResult:
    """Decide ``input_path`` with both policies and compare the decisions."""
    with tempfile.TemporaryDirectory(prefix="lead-rules-diff-") as tmp:
        old_out, new_out = Path(tmp) / "old.parquet", Path(tmp) / "new.parquet"
        engines = {
            "old": decide_to_parquet(old_policy, market, input_path, old_out, engine),
            "new": decide_to_parquet(new_policy, market, input_path, new_out, engine),
        }
        result = compare_outputs(old_policy, new_policy, old_out, new_out)
    result.engines = engines
    return result


# --- output ---------------------------------------------------------------------------------


def to_html(result: DiffResult, max_subjects: int = 1000) -> str:
    """A self-contained HTML page of the diff (tables only, no script)."""
    e = html.escape

    def key(k: tuple[Any, ...]) -> str:
        return e(_label(k))

    outputs = result.transition_outputs or [[] for _ in result.transitions]
    rows_t = "".join(
        f"<tr><td>{key(a)}</td><td>{key(b)}" + (f" ({e(', '.join(o))} changed)" if o else "")
        + f"</td><td class=n>{n}</td></tr>"
        for (a, b, n), o in zip(result.transitions, outputs, strict=True)
    )
    rows_c = "".join(
        f"<tr><td>{e(c.pathway)}</td><td>{e(c.criterion)}</td><td class=n>{n}</td></tr>" for c, n in result.causes
    )
    rows_s = "".join(
        f"<tr><td>{e(str(s.bene_id))}</td><td>{key(tuple(s.before.values()))}</td>"
        f"<td>{key(tuple(s.after.values()))}</td>"
        f"<td>{e('; '.join(f'{c.pathway}: {c.criterion}' for c in s.causes))}</td></tr>"
        for s in result.subjects[:max_subjects]
    )
    more = (
        f"<p>{len(result.subjects) - max_subjects} more changed subjects are in the JSON output.</p>"
        if len(result.subjects) > max_subjects
        else ""
    )
    o, n = result.old, result.new
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lead-rules diff</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em}}td.n{{text-align:right}}th{{background:#eee}}</style></head>
<body><h1>Impact of a policy change</h1>
<p>{e(o["id"])} v{e(o["version"])} (hash {e(o["hash"][:12])}) &rarr; {e(n["id"])} v{e(n["version"])}
(hash {e(n["hash"][:12])})</p>
<p id="summary"><b id="changed">{result.changed}</b> of <b id="total">{result.total}</b> subjects changed.</p>
<h2>Transitions</h2><table id="transitions"><tr><th>from</th><th>to</th><th>count</th></tr>{rows_t}</table>
<h2>Causes</h2><p>A changed subject may have several causes.</p>
<table id="causes"><tr><th>pathway</th><th>criterion</th><th>subjects</th></tr>{rows_c}</table>
<h2>Changed subjects</h2><table id="subjects"><tr><th>bene_id</th><th>from</th><th>to</th><th>causes</th></tr>
{rows_s}</table>{more}</body></html>
"""


def write_result(result: DiffResult, output: Path) -> None:
    """Write the diff as JSON (``.json``) or HTML (``.html``), atomically."""
    suffix = output.suffix.lower() or (".json" if is_special(output) else "")  # a device or pipe gets JSON
    if suffix == ".json":
        text = json.dumps(result.to_dict(), indent=2, default=str) + "\n"
    elif suffix in (".html", ".htm"):
        text = to_html(result)
    else:
        raise ValueError(f"unknown diff output format {output.suffix!r}: expected .json or .html")
    atomic_write_text(output, text)
