"""``lead-rules eval-expr``: the value and trace of one expression against one record.

The expression goes through the same pipeline as the policy's own: parsed
and lowered (a syntax error points at its column), added to a copy of the
policy as a definition so the checker resolves its names (parameters,
definitions, criteria, ``bene``, ``market``, ``aco``) and types, then
evaluated by the interpreter with the tracer on, for the record, the market
and, when given, one ACO of the market.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..engine.interpreter import Compiler
from ..engine.policy import Policy, validation_errors
from ..engine.runtime import Env, EvaluationError
from ..engine.trace import TraceNode, Tracer, truth
from ..language.checker import check_doc
from ..language.errors import Diagnostic, Diagnostics, PolicyError, Span
from ..language.loader import Named, parse_expr
from ..language.records import Beneficiary, Market
from ..language.values import to_json
from ..language.yaml_source import YNode

NAME = "eval_expr__"
"""The name the expression is checked and evaluated under."""


@dataclass
class Evaluation:
    """The value of an expression and its trace."""

    value: Any
    trace: TraceNode
    aco_id: str | None
    warnings: list[Diagnostic]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"value": to_json(self.value), "aco_id": self.aco_id, "trace": self.trace.to_dict()}


def evaluate_expression(
    policy: Policy, text: str, record: Mapping[str, Any], market: Market, aco_id: str | None = None
) -> Evaluation:
    """Evaluate ``text`` against ``record`` in ``market`` (for ACO ``aco_id``).

    Raises:
        PolicyError: a syntax, name or type error in the expression (located in it).
        ValueError: an invalid record, an unknown ACO, or a runtime error (an overflow) on this record.
    """
    diags = Diagnostics()
    node = YNode(
        "scalar",
        Span("<expression>", 1, 1, 1, len(text) + 1),
        value=text,
        offsets=tuple((1, i + 1) for i in range(len(text))),
        raw=text,
    )
    expr = parse_expr(node, diags)
    if expr is None:
        raise PolicyError(diags.sorted())
    doc = policy.doc
    named = dict(doc.named)
    named[NAME] = Named(NAME, "definition", expr, "the expression given to eval-expr", None, None, expr.span)
    new_doc = dataclasses.replace(doc, named=named)
    res = check_doc(new_doc, diags)
    own = [d for d in diags.sorted() if d.severity == "error" or d.span.file == "<expression>"]
    if diags.has_errors:
        raise PolicyError([d for d in own if d.severity == "error"])
    try:
        bene = Beneficiary.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(f"{e['field']}: {e['message']}" for e in validation_errors(exc))
        raise ValueError(f"the record is not valid: {problems}") from None
    aco = None
    if aco_id is not None:
        aco = next((a for a in market.acos if a.id == aco_id), None)
        if aco is None:
            raise ValueError(f"no ACO {aco_id!r} in the market (ACOs: {', '.join(a.id for a in market.acos)})")
    elif "aco" in res.depends.get(NAME, frozenset()):
        if not market.acos:
            raise ValueError("the expression reads `aco`, and the market has no ACO: give --market")
        aco = market.acos[0]
    root = TraceNode("expression", text)
    env = Env(bene, market, {}, Tracer(root))
    env.set_aco(aco)
    comp = Compiler(new_doc, res, True)
    try:
        value = comp.compile(expr, False)(env)
    except (EvaluationError, OverflowError, RecursionError) as exc:  # a runtime error of this record: located
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{expr.span}: evaluation error: {reason}") from None
    root.value = value
    warnings = [d for d in own if d.severity == "warning" and NAME not in d.message]
    return Evaluation(value, root, aco.id if aco is not None else None, warnings)


def render_trace(node: TraceNode, depth: int = 0, limit: int = 200) -> list[str]:
    """The trace as indented text lines (at most ``limit``)."""
    lines: list[str] = []

    def short(v: Any, n: int = 100) -> str:
        text = " ".join(str(v).split())
        return text if len(text) <= n else text[: n - 3] + "..."

    def walk(n: TraceNode, d: int) -> None:
        if len(lines) >= limit:
            return
        value = (
            "skipped"
            if n.skipped
            else (
                truth(n.value)
                if isinstance(n.value, bool) or n.value is None
                else json.dumps(to_json(n.value), default=str)
            )
        )
        value = short(value)
        text = f"  [{short(n.text, 80)}]" if n.text and n.text != n.label else ""
        cached = " (cached)" if n.cached else ""
        lines.append(f"{'  ' * d}{n.kind} {n.label} = {value}{cached}{text}")
        if n.kind in ("criterion", "definition") and not n.cached:
            for field, v in n.reads()[:8]:
                lines.append(f"{'  ' * (d + 1)}read {field} = {short(json.dumps(to_json(v), default=str))}")
        for c in n.children:
            walk(c, d + 1)

    walk(node, depth)
    if len(lines) >= limit:
        lines.append("... (trace cut; use --json for all of it)")
    return lines
