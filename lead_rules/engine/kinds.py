"""Decision kinds beyond the alignment hierarchy: verdicts, rankings and computations.

A policy either has ``pathways:`` and a ``hierarchy:`` (alignment: the first
pathway whose criteria hold for an ACO of the market decides) or a
``decision:`` section of one of three general kinds, all built from the same
checked criteria and definitions:

* ``verdict``: per subject, every requirement must hold; each one that is
  false or unknown is its own reason, with its citation (partnership).
* ``ranking``: per subject, eligibility requirements and score components
  (definitions, summed); across all the subjects of one input, the eligible
  ones with a known score are ranked (highest first, ties by subject id), and
  up to ``limit`` are selected, at most one per value of ``one_per`` when it
  is given (state selection).
* ``computation``: per subject, named ``outputs`` (amounts with rounding,
  caps and gates written as expressions) and ``notes`` (the criteria whose
  values explain them, reported as reasons); a ``context`` lookup binds each
  subject to the context document it names (savings sharing).

The section is loaded and checked in :mod:`lead_rules.language.decisions`;
this module evaluates subjects with the interpreter's closures and tracer
(stage 1, beside :mod:`lead_rules.engine.policy` for alignment), ranks them
and explains them. Three-valued logic is that of the language: unknown is not
true.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..language import ast
from ..language.values import Month, to_json
from .trace import TraceNode, Tracer, truth

if TYPE_CHECKING:
    from .policy import Policy

# --- results -----------------------------------------------------------------------

@dataclass
class KindReason:
    """One criterion (or rule of the kind) with its value, its citation and why it matters."""

    criterion: str
    value: str  # true | false | unknown | a rule's own word
    source: str | None = None
    explanation: str | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = {"criterion": self.criterion, "value": self.value}
        for key in ("source", "explanation", "at"):
            v = getattr(self, key)
            if v:
                d[key] = v
        return d


@dataclass
class SubjectResult:
    """The decision for one subject (a state, an arrangement, a settlement)."""

    subject: dict[str, Any]
    outcome: str
    reasons: list[KindReason] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    score: Any = None
    rank: int | None = None
    eligible: bool = False
    group: Any = None
    line: int | None = None
    trace: TraceNode | None = None
    kind: str = ""
    policy: str = ""

    def to_row(self) -> dict[str, Any]:
        """The output line (the CLI contract of each kind)."""
        row: dict[str, Any] = dict(self.subject)
        row["outcome"] = self.outcome
        if self.kind == "ranking":
            row["rank"] = self.rank
            row["score"] = _number(self.score)
            row["scores"] = {k: _number(v) for k, v in self.scores.items()}
        for name, value in self.outputs.items():
            row[name] = output_json(value)
        row["reasons"] = [r.to_dict() for r in self.reasons]
        row["errors"] = self.errors
        return row

    def explain(self) -> str:
        """Plain English for an auditor."""
        return explain_subject(self)


def _number(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and abs(v) < 2**53 else float(v)
    return v


def output_json(value: Any) -> Any:
    """JSON of an output value: decimals as decimal strings, ``{key, total}`` lists as objects."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (tuple, list)) and value and all(hasattr(v, "key") and hasattr(v, "total") for v in value):
        return {str(to_json(v.key)): output_json(v.total) for v in value}
    if isinstance(value, (tuple, list, frozenset)):
        return [output_json(v) for v in value]
    if isinstance(value, BaseModel):
        return {
            (f.alias or n): output_json(getattr(value, n)) for n, f in type(value).model_fields.items()
        }
    if isinstance(value, (dt.date, Month)):
        return str(value)
    return value


# --- evaluation --------------------------------------------------------------------

class _Compiled:
    """The closures of one compiler, built once per expression."""

    def __init__(self, compiler: Any) -> None:
        self.compiler = compiler
        self.fns: dict[int, Any] = {}

    def compile(self, e: ast.Expr, in_row: bool) -> Any:
        fn = self.fns.get(id(e))
        if fn is None:
            fn = self.fns[id(e)] = self.compiler.compile(e, in_row)
        return fn


class KindEvaluator:
    """Evaluates the subjects of a policy with a ``decision:`` section."""

    def __init__(self, policy: Policy) -> None:
        from .interpreter import Compiler

        doc = policy.doc
        assert doc.decision is not None
        self.policy = policy
        self.d = doc.decision
        self.doc = doc
        self.fast = _Compiled(Compiler(doc, policy.resolution, False))
        self.traced = _Compiled(Compiler(doc, policy.resolution, True))

    # subjects ----------------------------------------------------------------------
    def evaluate(
        self, record: Any, context: Any = None, trace: bool = True, line: int | None = None
    ) -> SubjectResult:
        """Decide one subject; a bad record or context lookup gives an ``error`` result, never an exception."""
        from .interpreter import Env

        base = self.error_result(line)
        if not isinstance(record, BaseModel):
            if isinstance(record, Mapping):
                for n, e in self.d.subject:
                    if isinstance(e, ast.Attr) and isinstance(record.get(e.name), (str, int)):
                        base.subject[n] = record.get(e.name)
            try:
                record = self.policy.validate_record(record)
            except ValidationError as exc:
                from .policy import validation_errors  # policy.py is not imported at module load

                base.errors = validation_errors(exc)
                return base
        env = Env(record, None, {}, None)
        for n, e in self.d.subject:
            base.subject[n] = self._value(e, env)
        if self.d.lookup is not None:
            key, match, fieldname = self.d.lookup
            wanted = self.fast.compile(match, False)(env)
            found = _find(context, key, wanted)
            if found is None:
                what = self.policy.context_schema.name.lower() if self.policy.context_schema else "context document"
                base.errors = [{"field": fieldname, "message": f"no {what} with {key} {wanted!r} in the context"}]
                return base
            context = found
        tracer: Tracer | None = None
        root: TraceNode | None = None
        if trace:
            root = TraceNode("decision", str(next(iter(base.subject.values()), "")))
            root.description = f"{self.policy.id} v{self.policy.version}"
            root.source = self.d.source
            tracer = Tracer(root)
        env = Env(record, context, {}, tracer)
        comp = self.traced if trace else self.fast
        try:
            result = self._decide(base, env, comp)
        except Exception as exc:  # a runtime failure is an error row, never a traceback
            base.errors = [{"field": None, "message": f"evaluation failed: {type(exc).__name__}: {exc}"}]
            return base
        result.trace = root
        if root is not None:
            root.value = result.outcome
        return result

    def error_result(self, line: int | None) -> SubjectResult:
        """An ``error`` result with every subject field and output present (null)."""
        r = SubjectResult({n: None for n, _ in self.d.subject}, "error", kind=self.d.kind, line=line,
                          policy=self.policy.id)
        r.outputs = {n: None for n, _ in self.d.outputs}
        return r

    def _value(self, e: ast.Expr, env: Any) -> Any:
        return self.fast.compile(e, False)(env)

    def _decide(self, res: SubjectResult, env: Any, comp: Any) -> SubjectResult:
        d = self.d
        held: list[KindReason] = []
        failed: list[KindReason] = []
        for r in d.requires:
            v = comp.compile(r, False)(env)
            (held if v is True else failed).append(self._reason(r, truth(v)))
        res.eligible = not failed
        if d.kind == "verdict":
            res.outcome = d.outcomes[0] if not failed else d.outcomes[1]
            res.reasons = failed if failed else held
            return res
        if d.kind == "ranking":
            total: Any = Decimal(0)
            for s in d.score:
                assert isinstance(s, ast.Name)
                v = comp.compile(s, False)(env)
                res.scores[s.name] = v
                total = None if v is None or total is None else total + v
            res.score = total
            res.group = comp.compile(d.one_per, False)(env) if d.one_per is not None else None
            res.reasons = failed if failed else held
            res.outcome = d.outcomes[1] if failed else d.outcomes[0]  # provisional: rank() decides
            return res
        for name, e in d.outputs:
            res.outputs[name] = comp.compile(e, False)(env)
        res.reasons = [self._reason(n, truth(comp.compile(n, False)(env))) for n in d.notes]
        res.outcome = d.outcomes[0]
        return res

    def _reason(self, req: ast.Expr, value: str) -> KindReason:
        from .policy import requirement_label

        item = self.doc.named.get(req.name) if isinstance(req, ast.Name) else None
        return KindReason(
            criterion=requirement_label(req),
            value=value,
            source=item.source if item else self.d.source,
            explanation=(item.reason or item.description) if item and value != "true" else
            (item.description if item else None),
            at=str(item.span) if item else str(req.span),
        )

    # across subjects ---------------------------------------------------------------
    def limit(self) -> int | None:
        """The ranking's limit (it reads parameters only)."""
        from .interpreter import Env

        if self.d.limit is None:
            return None
        v = self.fast.compile(self.d.limit, False)(Env(None, None, {}, None))
        return v if isinstance(v, int) else None

    def rank(self, results: Sequence[SubjectResult]) -> None:
        """Rank the eligible subjects with a known score and select up to the limit (in place)."""
        d = self.d
        limit = self.limit()
        selected_label, not_label = d.outcomes
        live = [r for r in results if r.outcome != "error" and r.eligible and r.score is not None]
        live.sort(key=lambda r: (-r.score, _id_key(r)))
        ranked = {id(r) for r in live}
        taken_groups: dict[Any, str] = {}
        chosen = 0
        position = 0
        prev: Any = object()
        for i, r in enumerate(live, start=1):
            if r.score != prev:
                position, prev = i, r.score
            r.rank = position
            sid = str(next(iter(r.subject.values())))
            if limit is None or chosen >= limit:
                r.outcome = not_label
                r.reasons = [KindReason("limit", "false", d.source,
                                        f"Ranked {position} of {len(live)}; at most {limit} can be selected "
                                        f"and {chosen} ranked above.")]
                continue
            if d.one_per is not None and r.group is not None and r.group in taken_groups:
                r.outcome = not_label
                r.reasons = [KindReason("one_per", "false", d.source,
                                        f"Ranked {position}; {taken_groups[r.group]} ranked higher with the same "
                                        f"{_expr_text(d.one_per)} ({to_json(r.group)}), and at most one is selected "
                                        "per value.")]
                continue
            chosen += 1
            if r.group is not None:
                taken_groups[r.group] = sid
            r.outcome = selected_label
            r.reasons = [*r.reasons, KindReason("rank", "true", d.source,
                                                f"Ranked {position} of {len(live)} eligible; selected "
                                                f"({chosen} of at most {limit}).")]
        for r in results:
            if r.outcome == "error" or id(r) in ranked:
                continue
            r.outcome = not_label
            if r.eligible and r.score is None:
                unknown = [k for k, v in r.scores.items() if v is None]
                r.reasons = [KindReason("score", "unknown", d.source,
                                        f"The score is unknown (missing data for {', '.join(unknown)}); "
                                        "an unknown score is never ranked.")]


def _expr_text(e: ast.Expr) -> str:
    return e.text or "one_per"


def _id_key(r: SubjectResult) -> str:
    return str(next(iter(r.subject.values()), ""))


def _find(context: Any, key: str, wanted: Any) -> Any:
    if wanted is None or context is None:
        return None
    docs: Iterable[Any] = context if isinstance(context, (list, tuple)) else [context]
    for doc in docs:
        if getattr(doc, key, None) == wanted:
            return doc
    return None


def decide_all(
    policy: Policy, records: Iterable[tuple[int, Any, dict[str, Any] | None]], context: Any = None,
    trace: bool = False,
) -> list[SubjectResult]:
    """Decide every subject of one input, in order (a ranking ranks them all together).

    ``records`` yields ``(line, record or None, error or None)``: an unreadable
    line gives an error result, so every input line has an output line.
    """
    ev = evaluator(policy)
    out: list[SubjectResult] = []
    for line, record, error in records:
        if record is None:
            r = ev.error_result(line)
            r.errors = [error or {"field": None, "message": f"line {line}: not a document"}]
            out.append(r)
            continue
        out.append(ev.evaluate(record, context, trace=trace, line=line))
    if ev.d.kind == "ranking":
        ev.rank(out)
    return out


def evaluator(policy: Policy) -> KindEvaluator:
    """The (cached) evaluator of ``policy``'s decision kind."""
    found = getattr(policy, "_kind_evaluator", None)
    if found is None:
        found = KindEvaluator(policy)
        policy._kind_evaluator = found  # type: ignore[attr-defined]
    return found


def load_contexts(policy: Policy, docs: Sequence[Any]) -> list[Any]:
    """Validate context documents (raw mappings) against the policy's context schema.

    Raises:
        ValueError: naming the document and field of the first invalid one.
    """
    schema = policy.context_schema
    if schema is None:
        return list(docs)
    out = []
    for i, doc in enumerate(docs, start=1):
        try:
            out.append(schema.model.model_validate(doc))
        except ValidationError as exc:
            from .policy import validation_errors

            errs = "; ".join(f"{e['field']}: {e['message']}" for e in validation_errors(exc))
            who = doc.get("id") if isinstance(doc, Mapping) else None
            raise ValueError(f"context document {i}" + (f" ({who})" if who else "") + f" is invalid: {errs}") from None
    return out


# --- explanation -------------------------------------------------------------------

def explain_subject(r: SubjectResult) -> str:
    """The explanation of one subject's decision in plain English."""
    from .explain import format_value, read_lines

    who = ", ".join(f"{k} {v}" for k, v in r.subject.items() if v is not None) or "This record"
    out = []
    if r.outcome == "error":
        out.append(f"{who} could not be decided.")
        for e in r.errors:
            where = f"field '{e['field']}'" if e.get("field") else "record"
            out.append(f"  - {where}: {e['message']}")
        return "\n".join(out)
    head = f"{who}: {r.outcome.upper()}"
    if r.kind == "ranking":
        head += f" (rank {r.rank if r.rank is not None else '-'}, score {format_value(r.score)})"
    out.append(head + (f" under policy {r.policy}" if r.policy else "") + ".")
    if r.scores:
        out.append("Score per criterion: " + "; ".join(f"{k} = {format_value(v)}" for k, v in r.scores.items()))
    if r.outputs:
        out.append("Amounts and values:")
        for k, v in r.outputs.items():
            out.append(f"  {k} = {output_json(v)}")
    out.append("Reasons:")
    for i, reason in enumerate(r.reasons, start=1):
        line = f"  {i}. '{reason.criterion}' is {reason.value}"
        if reason.source:
            line += f" [{reason.source}]"
        out.append(line)
        if reason.explanation:
            out.append(f"     {reason.explanation}")
        node = r.trace.find_evaluated("criterion", reason.criterion) if r.trace is not None else None
        reads = read_lines(node)
        if reads:
            out.append("     read: " + "; ".join(reads))
    if r.trace is not None and r.outputs:
        for name in r.outputs:
            node = r.trace.find_evaluated("definition", name)
            if node is not None:
                reads = read_lines(node)
                if reads:
                    out.append(f"  {name} read: " + "; ".join(reads))
    return "\n".join(out)
