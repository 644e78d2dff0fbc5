"""Policy tests: YAML files that pin down decisions, with coverage of criteria, pathways, ties and definitions.

A policy is tested by YAML files named ``*.test.yaml`` in a ``tests/`` folder
beside it (``policies/lead/tests/medicaid.test.yaml`` tests the policy
``policies/lead``). :func:`run_policy_tests` finds them under the given paths
(a folder such as ``policies/`` finds the tests of every policy below it),
runs every case with the trace on, prints a readable diff for each failing
case (expected vs actual, then the plain-English explanation of the actual
decision) and coverage tables: for every criterion of each policy, whether
the tests made it true, false and unknown; which pathways decided, which tie
branches were taken and which definitions were evaluated. The CLI is ``lead-rules test PATHS
[--min-coverage PCT]``; ``python -m lead_rules.testing.policy_tests PATHS`` does the
same.

Test file format
================

.. code-block:: yaml

    description: Medicaid enrollment-based alignment (RFA §VII.D)   # optional
    policy: ../..               # optional; default: the folder above tests/
    market: ../markets/demo-2028.yaml   # a path relative to this file,
                                        # or an inline market mapping
    parameters: {claims_tie_rule: lowest}   # optional parameter overrides
    base:                       # the base record of every case
      bene_id: B1
      residence: {state: NC, county_fips: "37063", us: true}
      months: {from: 2027-01, to: 2027-12, with: {buyin: "3", hmo: "0"}}
    defaults:                   # optional: merged into every case
      expect: {outcome: not_aligned}
    cases:
      - name: medicaid_rule_1_mco_plan_mismatch
        rule: RFA §VII.D, enrolled in the partnering MCO   # optional
        record:                 # overrides, deep-merged into base
          months:
            with: {dual: "02", medicaid: {state: NC, delivery: MCO, plan_id: OTHER}}
            per_month: {2027-06: {dual: "01"}, 2027-07: null}
        market: {...}           # optional: a path (replaces the market) or a
                                # mapping deep-merged into the file's market
        parameters: {...}       # optional: merged over the file's overrides
        expect:
          outcome: not_aligned  # aligned | not_aligned | error
          aco_id: null          # an ACO id, or null
          pathway: null         # a pathway name, or null
          reasons:              # must all appear among decision.reasons
            - enrolled_with_medicaid_partner          # a criterion name, or
            - {criterion: in_service_area, pathway: claims, value: false, aco: LEAD-0003}
          criteria:             # checks on the criterion values in the trace
            full_benefit_dual: true           # every evaluation of it
            in_service_area@LEAD-0003: false  # its evaluations for one ACO
            designated_here: not_evaluated

Merging. ``record`` overrides are deep-merged into ``base`` (after the
``defaults`` record): mappings merge key by key, recursively; any other value
(a list, a scalar, ``null``) replaces. ``market`` mappings and ``expect``
follow the same rule (``expect`` of a case over ``defaults.expect``).
``parameters`` override the policy's parameters by name, with the declared
type (``set<string>`` from a list, ``decimal`` from a number, ...).

Months helper. Wherever a record has ``months:`` as a *mapping*, it is
expanded, after merging, into one row per month: ``from`` and ``to``
(``YYYY-MM``, inclusive) give the months, ``with`` the fields of every row,
and ``per_month`` maps a month to fields deep-merged into that row, or to
``null`` to leave the month out (a month without data). Because the helper is
a mapping, a case can change one field of every month (``months: {with:
{dual: "02"}}``) or of one month (``months: {per_month: {2027-03: {hmo:
"1"}}}``) of the base's helper. A list of rows is taken as it is. A record
without ``bene_id`` gets the case name.

Expectations. ``reasons`` entries match the decision's reasons (for an
aligned decision, the requirements that held for the winner; otherwise every
requirement that was false or unknown, per pathway). A mapping entry may also
fix the ``pathway``, the ``value`` (true, false, unknown, tie) and an ``aco``
that the reason applies to. ``criteria`` keys are ``name`` or ``name@ACO``;
values are ``true``, ``false``, ``unknown`` or ``not_evaluated``; the check
passes when every evaluation of the criterion in the trace (for that ACO)
has that value.

Coverage. For every policy the runner counts four kinds of item (see
:class:`Coverage`): every criterion must be seen true and false, and unknown
as well when a static nullability analysis says it can be unknown
(:func:`unknowable_criteria`; criterion nodes of the trace, cached re-uses
included); every pathway of the hierarchy must decide at least one case;
every tie branch of a pathway with a ``tie:`` rule must be taken (the rank
decides, ``on_tie`` chooses an ACO, ``on_tie`` aligns to none); every
definition must be evaluated in at least one case. The percentage printed is
the share of all these items reached; ``min_coverage`` (a percentage, 0-100)
fails the run when any tested policy is below it.

CI. ``-k TEXT`` (repeatable, case-insensitive substring) and ``--case NAME``
select cases (coverage is then not enforced); ``--format json`` prints one JSON
document instead of the text report; ``--junit PATH`` also writes JUnit XML;
``--max-failures N`` shows N failing cases in full and groups the others by
their first problem. A file-level slip (a misspelled parameter override) is
reported once, not once per case; a case whose record is not valid names the
file:line:column where the bad field is written.

Exit code: 0 when every case passes (and coverage is met), 1 when a case
fails or coverage is below ``min_coverage``, 2 when a test file or a policy
cannot be read (errors are printed as ``file:line:col: error[T...]``), or
when no test file is found.

The work is split: :mod:`.cases` parses test files, :mod:`.coverage` counts
coverage (criteria, pathways, tie branches, definitions), and this module runs the cases and writes the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..engine.decision import Decision, Reason
from ..engine.policy import Policy, check_policy
from ..language.checker import check_doc
from ..language.errors import Diagnostics, PolicyError
from ..language.yaml_source import load_yaml_file
from .cases import (
    Case,
    Expect,
    FileParser,
    PolicyTestFileError,
    deep_merge,
    discover_test_files,
    expand_months,
    policy_folder_for,
)
from .coverage import (
    CaseResult,
    Coverage,
    criterion_values,
    unknowable_criteria,
)

__all__ = [
    "CaseResult",
    "Coverage",
    "PolicyTestFileError",
    "criterion_values",
    "deep_merge",
    "discover_test_files",
    "expand_months",
    "main",
    "policy_folder_for",
    "run_policy_tests",
    "unknowable_criteria",
]

_MAX_LINE = 240


# --------------------------------------------------------------------------
# checking a decision


def _fmt(value: Any) -> str:
    return "null" if value is None else repr(value)


def _reason_text(r: Reason) -> str:
    scope = "" if r.acos is None else f" for {', '.join(r.acos)}"
    return f"{r.pathway}/{r.criterion}={r.value}{scope}"


def _check(expect: Expect, decision: Decision) -> list[str]:
    problems: list[str] = []
    if "outcome" in expect.given and decision.outcome != expect.outcome:
        problems.append(f"outcome: expected {_fmt(expect.outcome)}, got {_fmt(decision.outcome)}")
    if "aco_id" in expect.given and decision.aco_id != expect.aco_id:
        problems.append(f"aco_id: expected {_fmt(expect.aco_id)}, got {_fmt(decision.aco_id)}")
    if "pathway" in expect.given and decision.pathway != expect.pathway:
        problems.append(f"pathway: expected {_fmt(expect.pathway)}, got {_fmt(decision.pathway)}")
    missing = [spec for spec in expect.reasons if not any(spec.matches(r) for r in decision.reasons)]
    if missing:
        got = "; ".join(_reason_text(r) for r in decision.reasons) or "(none)"
        for spec in missing:
            problems.append(f"reasons: expected {spec.describe()} among the reasons")
        problems.append(f"    actual reasons: {got}")
    if expect.criteria:
        values = criterion_values(decision.trace) if decision.trace is not None else {}
        for name, aco, want in expect.criteria:
            seen: set[str] = set()
            for (cname, caco), vals in values.items():
                if cname == name and (aco is None or caco == aco):
                    seen |= vals
            got_word = "not_evaluated" if not seen else "/".join(sorted(seen))
            if (want == "not_evaluated" and seen) or (want != "not_evaluated" and seen != {want}):
                label = f"{name}@{aco}" if aco else name
                problems.append(f"criteria: {label} expected {want}, got {got_word}")
    return problems


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


# --------------------------------------------------------------------------
# the runner


@dataclass
class _PolicyEntry:
    folder: Path
    policy: Policy
    coverage: Coverage
    variants: dict[tuple[tuple[str, str], ...], Policy] = field(default_factory=dict)


@dataclass
class Selection:
    """Which cases run: ``-k`` substrings (any matches, case-insensitive) and ``--case`` exact names."""

    keywords: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """True when some filter is given."""
        return bool(self.keywords or self.names)

    def matches(self, name: str) -> bool:
        """True when the case ``name`` is selected."""
        if not self.active:
            return True
        if name in self.names:
            return True
        return any(k.lower() in name.lower() for k in self.keywords)


class Runner:
    def __init__(self, out: TextIO, selection: Selection | None = None, max_failures: int = 10) -> None:
        self.out = out
        self.policies: dict[Path, _PolicyEntry | None] = {}
        self.results: list[CaseResult] = []
        self.broken_files = 0
        self.selection = selection or Selection()
        self.max_failures = max_failures
        self.shown_failures = 0
        self.hidden: list[CaseResult] = []

    def selects(self, name: str) -> bool:
        """Whether the ``-k`` / ``--case`` filters select the case ``name``."""
        return self.selection.matches(name)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def policy_entry(self, folder: Path) -> _PolicyEntry | None:
        key = folder.resolve()
        if key in self.policies:
            return self.policies[key]
        policy, diagnostics = check_policy(folder)
        entry: _PolicyEntry | None = None
        if policy is None:
            self.print(f"ERROR policy {folder} has errors; its tests cannot run:")
            for d in diagnostics:
                self.print(d.render())
        else:
            for w in policy.warnings:
                self.print(w.render())
            entry = _PolicyEntry(folder, policy, Coverage.of(policy, folder))
        self.policies[key] = entry
        return entry

    def variant(self, entry: _PolicyEntry, case: Case) -> Policy | str:
        """The policy with the case's parameter overrides (or a message why not)."""
        if not case.parameters:
            return entry.policy
        key = tuple(sorted((n, repr(case.param_spans[n][1].plain())) for n in case.parameters))
        found = entry.variants.get(key)
        if found is not None:
            return found
        doc = entry.policy.doc
        params = dict(doc.parameters)
        for pname, value in case.parameters.items():
            params[pname] = dataclasses.replace(params[pname], value=value)
        new_doc = dataclasses.replace(doc, parameters=params)
        diags = Diagnostics()
        res = check_doc(new_doc, diags)
        if diags.has_errors:
            messages = "; ".join(d.message for d in diags.items if d.severity == "error")
            where = ", ".join(str(case.param_spans[n][0]) for n in case.parameters)
            return f"the parameter overrides ({where}) make the policy invalid: {messages}"
        variant = Policy(new_doc, res, diags.sorted())
        entry.variants[key] = variant
        return variant

    def run_file(self, path: Path) -> None:
        pfile_folder = policy_folder_for(path)
        explicit = self.explicit_policy(path)
        folder = explicit if explicit is not None else pfile_folder
        if folder is None:
            self.print(
                f"{path}:1:1: error[T003]: cannot tell which policy this test file tests: "
                "put it in a 'tests/' folder beside the policy, or give 'policy:'"
            )
            self.broken_files += 1
            return
        entry = self.policy_entry(folder)
        if entry is None:
            self.broken_files += 1
            return
        if entry.policy.doc.decision is not None:  # a verdict, ranking or computation
            from .kind_tests import run_kind_file

            run_kind_file(self, path, entry)
            return
        try:
            cases = FileParser(path, entry.policy).parse()
        except PolicyTestFileError as exc:
            for d in exc.diagnostics:
                self.print(d.render())
            self.print(f"ERROR {path}: the test file has errors; none of its cases ran")
            self.broken_files += 1
            return
        failed = 0
        cases = [c for c in cases if self.selection.matches(c.name)]
        for case in cases:
            result = self.run_case(path, entry, case)
            self.results.append(result)
            if not result.passed:
                failed += 1
                self.report_failure(result)
        status = "ok" if not failed else f"{failed} FAILED"
        self.print(f"{path}: {len(cases)} case(s), {status}")

    def explicit_policy(self, path: Path) -> Path | None:
        diags = Diagnostics()
        root = load_yaml_file(path, diags)
        if root is None or root.kind != "map":
            return None
        node = root.get("policy")
        if node is None or node.kind != "scalar" or not isinstance(node.value, str):
            return None
        return path.parent / node.value

    def run_case(self, path: Path, entry: _PolicyEntry, case: Case) -> CaseResult:
        policy = self.variant(entry, case)
        if isinstance(policy, str):
            return CaseResult(path, case.span.line, case.name, case.rule, [policy])
        try:
            decision = policy.evaluate(case.record, market=case.market, trace=True)
        except PolicyError as exc:  # the case's market fails the policy's market checks (market_checks:)
            found = "; ".join(f"{d.code} {d.message}" for d in exc.diagnostics if d.severity == "error")
            return CaseResult(path, case.span.line, case.name, case.rule, [f"the market is refused: {found}"])
        entry.coverage.add(decision.trace, decision)
        problems = _check(case.expect, decision)
        if decision.outcome == "error" and problems:
            # the record itself is not valid: say where in the test file each bad field is written
            located = []
            for err in decision.errors:
                field_path = str(err.get("field") or "")
                top = field_path.split(".", 1)[0].split("[", 1)[0]
                span = case.record_spans.get(top, case.span)
                what = f"field '{field_path}'" if field_path else "the record"
                located.append(
                    f"{span.file}:{span.line}:{span.column}: the case's record is not valid: {what}: {err['message']}"
                )
            problems = located + problems
        return CaseResult(path, case.span.line, case.name, case.rule, problems, decision)

    def report_failure(self, result: CaseResult) -> None:
        if self.shown_failures >= self.max_failures:
            self.hidden.append(result)  # summarised at the end
            return
        self.shown_failures += 1
        rule = f"  [rule: {result.rule}]" if result.rule else ""
        self.print(f"FAIL {result.file}:{result.line}: case '{result.name}'{rule}")
        for problem in result.problems:
            self.print(f"    {problem}")
        if result.decision is not None:
            self.print("    explanation of the actual decision:")
            for line in result.decision.explain().splitlines():
                self.print(_clip(f"      | {line}"))
        self.print()

    def finish(self, min_coverage: float | None) -> int:
        entries = [e for e in self.policies.values() if e is not None]
        below = []
        for entry in entries:
            if not entry.coverage.cases:
                continue  # none of its test files could run (reported above)
            self.print()
            self.print(entry.coverage.render())
            if min_coverage is not None and entry.coverage.percent < min_coverage:
                below.append(entry)
        passed = sum(1 for r in self.results if r.passed)
        failed = len(self.results) - passed
        if self.hidden:
            self.print()
            self.print(
                f"{len(self.hidden)} more failing case(s) not shown in full (--max-failures {self.max_failures}), "
                "grouped by their first problem:"
            )
            groups: dict[str, list[CaseResult]] = {}
            for r in self.hidden:
                groups.setdefault(r.problems[0] if r.problems else "?", []).append(r)
            for problem, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
                first = members[0]
                self.print(_clip(f"  {len(members):>4} x {problem}"))
                self.print(_clip(f"         e.g. {first.file}:{first.line}: case '{first.name}'"))
        if self.selection.active and min_coverage is not None:
            self.print("(cases selected with -k/--case: --min-coverage is not checked)")
            below = []
        self.print()
        if self.broken_files:
            self.print(f"{self.broken_files} test file(s) or policies with errors")
        self.print(f"policy-cases: {passed} passed, {failed} failed")
        for entry in below:
            self.print(
                f"FAIL coverage of {entry.coverage.policy_id} ({entry.folder}) is "
                f"{entry.coverage.percent:.1f}%, below --min-coverage {min_coverage:g}%"
            )
        if self.broken_files:
            return 2
        if failed or below:
            return 1
        return 0


def run_policy_tests(
    paths: list[Path],
    min_coverage: float | None,
    out: TextIO,
    *,
    selection: Selection | None = None,
    fmt: str = "text",
    junit: Path | None = None,
    max_failures: int = 10,
) -> int:
    """Run the policy tests found under ``paths``; print results to ``out``; return the exit code.

    Args:
        paths: test files, policy folders or folders of policies (searched recursively).
        min_coverage: the least percentage (0-100) of coverage items (see
            :class:`Coverage`) the tests must reach, per policy; None for no threshold
            (not checked when ``selection`` filters the cases).
        out: where the report goes.
        selection: ``-k`` / ``--case`` filters (default: every case).
        fmt: ``text`` (the readable report) or ``json`` (one JSON document on ``out``).
        junit: also write a JUnit XML report there (for CI).
        max_failures: failing cases shown in full; the others are summarised,
            grouped by their first problem.

    Returns:
        0 when every case passed (and coverage is met); 1 when a case failed or
        coverage is below ``min_coverage``; 2 when a test file or policy has
        errors, a path does not exist, or no test file was found.
    """
    import io

    text_out: TextIO = out if fmt == "text" else io.StringIO()
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        text_out.write(f"{p}: error: no such file or folder\n")
    files = discover_test_files(p for p in paths if p.exists())
    runner = Runner(text_out, selection, max_failures)
    if not files:
        text_out.write(f"no policy test files (*.test.yaml) found under {', '.join(str(p) for p in paths)}\n")
        code = 2
    else:
        for path in files:
            runner.run_file(path)
        code = runner.finish(min_coverage)
        code = 2 if missing else code
    if runner.selection.active and files and not runner.results and not runner.broken_files:
        text_out.write("no case matches the -k/--case filters\n")
        code = 2
    if junit is not None:
        from .reports import write_junit

        log = text_out.getvalue() if isinstance(text_out, io.StringIO) else ""
        write_junit(junit, runner.results, log)
    if fmt == "json":
        from .reports import json_report

        coverage = [e.coverage for e in runner.policies.values() if e is not None]
        log = text_out.getvalue() if isinstance(text_out, io.StringIO) else ""
        out.write(json_report(runner.results, coverage, code, runner.broken_files, log))
    return code


def main(argv: list[str] | None = None) -> int:
    """``python -m lead_rules.testing.policy_tests PATHS [--min-coverage PCT]``."""
    parser = argparse.ArgumentParser(prog="lead-rules test", description="Run policy tests (*.test.yaml).")
    parser.add_argument("paths", nargs="+", type=Path, help="test files or folders (e.g. policies/)")
    parser.add_argument(
        "--min-coverage", type=float, default=None, metavar="PCT",
        help="fail when less than PCT%% of a policy's coverage items were reached (criteria true, false and,"
        " where possible, unknown; pathways deciding; tie branches; definitions evaluated)",
    )
    add_runner_options(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, sys.stdout)


def add_runner_options(parser: argparse.ArgumentParser) -> None:
    """The CI options of the runner (shared by ``lead-rules test`` and ``python -m``)."""
    parser.add_argument(
        "-k", dest="keywords", action="append", default=[], metavar="TEXT",
        help="run only the cases whose name contains TEXT (case-insensitive; repeat for several)",
    )
    parser.add_argument(
        "--case", dest="case_names", action="append", default=[], metavar="NAME",
        help="run only the case named NAME (repeatable)",
    )
    parser.add_argument(
        "--format", dest="fmt", choices=["text", "json"], default="text",
        help="text: the readable report; json: one JSON document (cases, problems, coverage, exit code)",
    )
    parser.add_argument(
        "--junit", type=Path, default=None, metavar="PATH", help="also write a JUnit XML report to PATH"
    )
    parser.add_argument(
        "--max-failures", type=int, default=10, metavar="N",
        help="show N failing cases in full, summarise the rest grouped by their first problem (default 10)",
    )


def run_from_args(args: argparse.Namespace, out: TextIO) -> int:
    """Run the tests as the parsed arguments say (``paths``, ``min_coverage`` and the runner options)."""
    return run_policy_tests(
        [Path(p) for p in args.paths],
        args.min_coverage,
        out,
        selection=Selection(list(args.keywords), list(args.case_names)),
        fmt=args.fmt,
        junit=args.junit,
        max_failures=args.max_failures,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
