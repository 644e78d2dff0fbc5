"""Machine-readable reports of a policy-test run: JUnit XML and JSON, for CI.

Written by :func:`lead_rules.testing.policy_tests.run_policy_tests` from its
case results and coverage; the readable text report stays in that module.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .coverage import CaseResult, Coverage


def write_junit(path: Path, results: list[CaseResult], log: str = "") -> None:
    """Write ``results`` as JUnit XML: one ``testsuite`` per test file, one ``testcase`` per case."""
    suites = ET.Element("testsuites", name="lead-rules policy tests")
    by_file: dict[Path, list[CaseResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    total = failures = 0
    for file, cases in by_file.items():
        failed = sum(1 for c in cases if not c.passed)
        total += len(cases)
        failures += failed
        suite = ET.SubElement(
            suites, "testsuite", name=str(file), tests=str(len(cases)), failures=str(failed), errors="0", skipped="0"
        )
        for c in cases:
            case = ET.SubElement(
                suite, "testcase", name=c.name, classname=file.name.removesuffix(".test.yaml"),
                file=str(file), line=str(c.line),
            )
            if not c.passed:
                failure = ET.SubElement(case, "failure", message=c.problems[0] if c.problems else "failed")
                failure.text = "\n".join(c.problems)
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    if log:
        ET.SubElement(suites, "system-out").text = log
    ET.indent(suites)
    try:
        path.write_text(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"lead-rules: cannot write the JUnit report {path}: {exc.strerror}") from None


def json_report(results: list[CaseResult], coverage: list[Coverage], code: int, broken: int, log: str) -> str:
    """The run as one JSON document: counts, every case with its problems, coverage per policy."""
    doc = {
        "exit_code": code,
        "passed": sum(1 for r in results if r.passed),
        "failed": sum(1 for r in results if not r.passed),
        "broken_files": broken,
        "cases": [
            {
                "file": str(r.file), "line": r.line, "name": r.name, "rule": r.rule,
                "passed": r.passed, "problems": r.problems,
            }
            for r in results
        ],
        "coverage": [
            {
                "policy_id": c.policy_id, "folder": str(c.folder), "cases": c.cases, "percent": round(c.percent, 1),
                "uncovered": [name for name in c.criteria if not c.covered(name)],
            }
            for c in coverage
        ],
        "log": log,
    }
    return json.dumps(doc, indent=2) + "\n"
