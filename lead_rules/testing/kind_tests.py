"""Policy tests of the decision kinds (verdict, ranking, computation), with criterion coverage.

:mod:`lead_rules.testing.policy_tests` hands a test file here when the policy it
tests has a ``decision:`` section; results and coverage go to the same
runner, so ``lead-rules test policies/ --min-coverage 100`` covers every
policy. Format:

.. code-block:: yaml

    description: Partnership minimum elements (RFA §VII.D)
    context: ../samples/arrangements.yaml   # optional: a file of context documents, or an inline list
    base: {...}                  # the base document of every case (deep-merged, as in alignment tests)
    cases:
      - name: cms_is_a_party
        rule: RFA §VII.D, CMS not a party      # optional
        record: {parties: [...]}                # overrides, deep-merged into base (verdict, computation)
        parameters: {max_selected: 1}           # optional parameter overrides
        expect:
          outcome: invalid
          reasons: [cms_not_a_party]            # criterion names (or {criterion, value}) among the reasons
          only_reasons: true                    # optional: and no other reason
          outputs: {medicaid_entity_amount: "720000.00", quality_gate: true}
          errors: [arrangement_id]              # fields named by the error rows
      - name: two_selected
        records: [{state: NC, ...}, {state: CT, ...}]   # ranking: the whole input, each merged into base
        expect:
          subjects:                             # by subject id
            NC: {outcome: selected, rank: 1}
            OK: {outcome: not_selected, reasons: [enrollment_data_usable]}

Every subject decided in a case adds its trace to the coverage of the policy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

from ..engine.kinds import SubjectResult, decide_all, load_contexts
from ..engine.policy import Policy
from ..language.checker import check_doc
from ..language.documents import read_all
from ..language.errors import Diagnostics, did_you_mean
from ..language.loader import coerce
from ..language.yaml_source import YNode, load_yaml_file
from .cases import deep_merge
from .coverage import CaseResult, Coverage


class KindEntry(Protocol):
    """What this module uses of the runner's entry for one policy (:mod:`.policy_tests`)."""

    policy: Policy
    coverage: Coverage
    variants: dict[tuple[tuple[str, str], ...], Policy]


class KindRunner(Protocol):
    """What this module uses of the policy-test runner (:class:`.policy_tests.Runner`)."""

    results: list[CaseResult]
    broken_files: int

    def print(self, text: str = "") -> None: ...

    def selects(self, name: str) -> bool:
        """Whether the ``-k`` / ``--case`` filters select the case ``name``."""
        ...


CASE_KEYS = ("name", "rule", "record", "records", "parameters", "context", "expect")
EXPECT_KEYS = ("outcome", "reasons", "only_reasons", "outputs", "errors", "subjects", "rank", "score")


def _variant(entry: KindEntry, params: dict[str, Any]) -> Policy | str:
    if not params:
        return entry.policy
    key = tuple(sorted((n, repr(v)) for n, v in params.items()))
    found = entry.variants.get(key)
    if found is not None:
        return found
    doc = entry.policy.doc
    new_params = dict(doc.parameters)
    for name, value in params.items():
        new_params[name] = dataclasses.replace(new_params[name], value=value)
    new_doc = dataclasses.replace(doc, parameters=new_params)
    diags = Diagnostics()
    res = check_doc(new_doc, diags)
    if diags.has_errors:
        return "the parameter overrides make the policy invalid: " + "; ".join(d.message for d in diags.items)
    variant = Policy(new_doc, res, diags.sorted())
    entry.variants[key] = variant
    return variant


def _check_subject(r: SubjectResult, expect: dict[str, Any], who: str) -> list[str]:
    problems = []
    for key, want in expect.items():
        if key not in EXPECT_KEYS or key == "subjects":
            problems.append(f"{who}: unknown expectation '{key}'")
            continue
        if key == "outcome" and r.outcome != want:
            problems.append(f"{who}: outcome is {r.outcome}, expected {want}")
        if key == "rank" and r.rank != want:
            problems.append(f"{who}: rank is {r.rank}, expected {want}")
        if key == "score" and str(r.score) != str(want) and r.score != want:
            problems.append(f"{who}: score is {r.score}, expected {want}")
        if key == "reasons":
            got = [(x.criterion, x.value) for x in r.reasons]
            for item in want or []:
                name, value = (item.get("criterion"), item.get("value")) if isinstance(item, dict) else (item, None)
                if isinstance(value, bool):
                    value = "true" if value else "false"
                if not any(n == name and (value is None or v == value) for n, v in got):
                    problems.append(f"{who}: no reason {name}" + (f" = {value}" if value else "") + f"; reasons: {got}")
            if expect.get("only_reasons"):
                names = {(i.get("criterion") if isinstance(i, dict) else i) for i in want or []}
                extra = [n for n, _ in got if n not in names]
                if extra:
                    problems.append(f"{who}: unexpected reasons {extra}")
        if key == "outputs":
            row = r.to_row()
            for name, value in (want or {}).items():
                if name not in row:
                    problems.append(f"{who}: no output '{name}'")
                elif row[name] != value:
                    problems.append(f"{who}: {name} is {row[name]!r}, expected {value!r}")
        if key == "errors":
            fields = [e.get("field") for e in r.errors]
            for name in want or []:
                if name not in fields:
                    problems.append(f"{who}: no error naming '{name}'; errors: {r.errors}")
    return problems


def _merge_base(base: Any, doc: Any) -> Any:
    return deep_merge(base, doc) if base is not None else doc


def run_kind_file(runner: KindRunner, path: Path, entry: KindEntry) -> None:
    """Run the cases of one test file of a decision-kind policy; report to ``runner``."""
    diags = Diagnostics()
    root = load_yaml_file(path, diags)
    if root is None or root.kind != "map" or root.get("cases") is None:
        for d in diags.sorted():
            runner.print(d.render())
        runner.print(f"ERROR {path}: a test file is a mapping with 'cases:'")
        runner.broken_files += 1
        return
    data = root.plain()
    base = data.get("base")
    context_default = _context(path, entry.policy, data.get("context"))
    if isinstance(context_default, str):
        runner.print(f"ERROR {path}: {context_default}")
        runner.broken_files += 1
        return
    cases_node = root.get("cases")
    assert cases_node is not None
    failed = 0
    n = 0
    for case_node in cases_node.items:
        if not runner.selects(_case_name(case_node)):
            continue
        n += 1
        result = _run_case(path, entry, case_node, base, context_default)
        runner.results.append(result)
        if not result.passed:
            failed += 1
            rule = f"  [rule: {result.rule}]" if result.rule else ""
            runner.print(f"FAIL {result.file}:{result.line}: case '{result.name}'{rule}")
            for problem in result.problems:
                runner.print(f"    {problem}")
            runner.print()
    status = "ok" if not failed else f"{failed} FAILED"
    runner.print(f"{path}: {n} case(s), {status}")


def _context(path: Path, policy: Policy, spec: Any) -> Any:
    if spec is None:
        return None
    try:
        docs = read_all(path.parent / spec) if isinstance(spec, str) else (spec if isinstance(spec, list) else [spec])
        return load_contexts(policy, docs)
    except (OSError, ValueError) as exc:
        return f"the context cannot be read: {exc}"


def _case_name(node: YNode) -> str:
    case = node.plain() if node.kind == "map" else {}
    return str(case.get("name") or f"case at line {node.span.line}")


def _run_case(path: Path, entry: KindEntry, node: YNode, base: Any, context_default: Any) -> Any:
    case = node.plain() if node.kind == "map" else {}
    name = _case_name(node)
    rule = case.get("rule")

    def fail(*problems: str) -> CaseResult:
        return CaseResult(path, node.span.line, name, rule, list(problems))

    unknown = [k for k in case if k not in CASE_KEYS]
    if node.kind != "map" or unknown:
        return fail(f"unknown key(s) {unknown} in the case" + (f" ({did_you_mean(unknown[0], CASE_KEYS)})"
                                                                  if unknown and did_you_mean(unknown[0], CASE_KEYS)
                                                                  else ""))
    params: dict[str, Any] = {}
    pnode = node.get("parameters")
    for pname, value in (case.get("parameters") or {}).items():
        param = entry.policy.doc.parameters.get(pname)
        if param is None:
            return fail(f"unknown parameter '{pname}'")
        diags = Diagnostics()
        vnode = pnode.get(pname) if pnode is not None else None
        good, v = coerce(value, param.type, vnode or node, diags)
        if not good:
            return fail(f"parameter '{pname}': " + "; ".join(d.message for d in diags.items))
        params[pname] = v
    policy = _variant(entry, params)
    if isinstance(policy, str):
        return fail(policy)
    context = context_default
    if "context" in case:
        context = _context(path, policy, case["context"])
        if isinstance(context, str):
            return fail(context)
    if "records" in case:
        docs = [_merge_base(base, d) for d in case["records"] or []]
    else:
        docs = [_merge_base(base, case.get("record") or {})]
    results = decide_all(policy, [(i + 1, d, None) for i, d in enumerate(docs)], context, trace=True)
    for r in results:
        entry.coverage.add(r.trace)
    entry.coverage.cases -= len(results) - 1  # one case, however many subjects
    expect = case.get("expect")
    if not isinstance(expect, dict):
        return fail("a case needs 'expect:'")
    problems: list[str] = []
    subjects = expect.get("subjects")
    if subjects is not None:
        by_id = {str(next(iter(r.subject.values()), "")): r for r in results}
        for sid, want in subjects.items():
            found = by_id.get(str(sid))
            if found is None:
                problems.append(f"no subject {sid} in the results")
                continue
            problems += _check_subject(found, want or {}, str(sid))
        rest = {k: v for k, v in expect.items() if k != "subjects"}
        if rest:
            problems.append(f"with 'subjects', put the expectations under each subject: {sorted(rest)}")
    else:
        problems += _check_subject(results[0], expect, name)
        if problems:
            problems.append("explanation: " + results[0].explain().replace("\n", "\n      | "))
    return CaseResult(path, node.span.line, name, rule, problems)
