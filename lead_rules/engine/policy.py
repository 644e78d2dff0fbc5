"""A checked policy and its evaluation: the public face of the interpreter.

:func:`load_policy` runs the pipeline (load YAML -> parse -> lower -> check)
and raises one :class:`~lead_rules.language.errors.PolicyError` with every diagnostic,
or returns a :class:`Policy`. ``Policy.evaluate`` validates a record, binds
the market, walks the hierarchy of pathways over the ACOs of the market and
returns a :class:`~lead_rules.engine.decision.Decision`, with its trace when asked.
A bad record or a runtime failure gives an ``error`` decision, never an
exception.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..language import ast
from ..language.checker import Resolution, check_doc
from ..language.errors import Diagnostic, Diagnostics, PolicyError, Span
from ..language.loader import Named, PolicyDoc, load_doc
from ..language.records import Beneficiary, Market
from ..language.schema import Schema, bundled
from ..language.yaml_source import YNode
from .decision import Decision, PathwayResult, Reason
from .documents import load_document as load_document  # re-exported: cli/tools.py reads contexts with it
from .explain import AuditContext
from .interpreter import Compiler, Env, Fn
from .market_checks import MarketChecks
from .trace import TraceNode, Tracer, truth


def requirement_label(req: ast.Expr) -> str:
    """The readable name of a requirement: ``eligible``, ``any(a, b)``, ``not c``."""
    if isinstance(req, ast.Name):
        return req.name
    if isinstance(req, ast.Not):
        return "not " + requirement_label(req.operand)
    if isinstance(req, ast.BoolOp):
        word = "all" if req.op == "and" else "any"
        return f"{word}({', '.join(requirement_label(i) for i in req.items)})"
    return req.text  # pragma: no cover


@dataclass
class CompiledRequirement:
    """One requirement of a pathway: its label, expression and compiled closures (fast and traced)."""

    label: str
    expr: ast.Expr
    fast: Fn
    traced: Fn
    item: Named | None
    per_aco: bool  # depends on the ACO under consideration


@dataclass
class CompiledPathway:
    """One pathway of the hierarchy, compiled: requirements, tie rank and tie rule closures."""

    name: str
    span: Span
    source: str | None
    description: str | None
    requirements: list[CompiledRequirement]
    rank_fast: Fn | None
    rank_traced: Fn | None
    on_tie_fast: Fn | None
    on_tie_traced: Fn | None


class _BoundMarket:
    """A validated market with its market-level value cache."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.cache: dict[str, Any] = {}


def load_market(source: Market | Mapping[str, Any] | str | Path, policy: Policy | None = None) -> Market:
    """A :class:`Market` from a model, a mapping or a YAML/JSON file path.

    A market file must not repeat a key or an ACO id, and its performance
    year must be 1-9999 and, given ``policy``, inside the policy's effective
    period and pass the policy's market checks (``market_checks:``, errors at
    the market file's line).

    Raises:
        PolicyError: a market file that is unreadable or invalid, with the
            file:line:column of each problem.
    """
    market: Market = load_document(source, Market, lambda m, node, diags: _check_market(m, node, diags, policy))
    if policy is not None:  # a market given as a model or a mapping (a file's market passed already)
        policy.check_market(market)
    return market


def _check_market(market: Market, node: YNode, diags: Diagnostics, policy: Policy | None) -> None:
    """Duplicate ACO ids and a performance year outside the policy's period (E402, E403)."""
    first: dict[str, Span] = {}
    for i, aco in enumerate(market.acos):
        span, _ = node.at(("acos", i, "id"))
        if aco.id in first:
            diags.error("E402", f"ACO id '{aco.id}' is already used at {first[aco.id]}", span)
        first.setdefault(aco.id, span)
    year_span, _ = node.at(("performance_year",))
    year = market.performance_year
    if not 1 <= year <= 9999:
        diags.error("E403", f"performance year {year} is not a year (1-9999)", year_span)
        return
    period = policy.doc.meta.effective if policy is not None and policy.doc.meta is not None else None
    if period is not None:
        start = period.from_.year if period.from_ else None
        end = period.to.year if period.to else None
        if (start is not None and year < start) or (end is not None and year > end):
            diags.error(
                "E403",
                f"performance year {year} is outside the effective period of {policy.id if policy else 'the policy'} "
                f"({start or '...'}-{end or '...'})",
                year_span,
            )
    if policy is not None and not diags.has_errors:
        policy.check_market(market, node, diags)


class Policy:
    """A loaded and checked policy, ready to evaluate records."""

    def __init__(self, doc: PolicyDoc, res: Resolution, diagnostics: list[Diagnostic]) -> None:
        self.doc = doc
        self.resolution = res
        self.warnings = [d for d in diagnostics if d.severity == "warning"]
        assert doc.meta is not None
        self.id = doc.meta.id
        self.version = doc.meta.version
        self.title = doc.meta.title
        self.content_hash = doc.content_hash
        default_record = None if doc.schemas else bundled("beneficiary")
        self.record_schema: Schema | None = doc.schemas.get("record") or default_record
        """The schema records are validated against (None: the policy reads no records)."""
        self.context_schema: Schema | None = doc.schemas.get("context") or (None if doc.schemas else bundled("market"))
        """The schema of the evaluation context (the market for alignment)."""
        fast, traced = Compiler(doc, res, False), Compiler(doc, res, True)
        self._pathways: list[CompiledPathway] = []
        for name, _ in doc.hierarchy:
            pw = doc.pathways[name]
            reqs = [
                CompiledRequirement(
                    requirement_label(r),
                    r,
                    fast.compile(r, False),
                    traced.compile(r, False),
                    doc.named.get(r.name) if isinstance(r, ast.Name) else None,
                    any(
                        "aco" in res.depends.get(n.name, frozenset())
                        for n in ast.walk(r)
                        if isinstance(n, ast.Name)
                    ),
                )
                for r in pw.requires
            ]
            self._pathways.append(
                CompiledPathway(
                    name,
                    pw.span,
                    pw.source,
                    pw.description,
                    reqs,
                    fast.compile(pw.tie_rank, False) if pw.tie_rank else None,
                    traced.compile(pw.tie_rank, False) if pw.tie_rank else None,
                    fast.compile(pw.on_tie, False) if pw.on_tie else None,
                    traced.compile(pw.on_tie, False) if pw.on_tie else None,
                )
            )
        self._bound: dict[int, tuple[object, _BoundMarket]] = {}
        self._market_checks = MarketChecks(doc, res) if doc.market_checks else None
        self._checked: dict[int, object] = {}  # markets that passed the market checks, by identity
        self._reasons: dict[tuple[str, int, str, tuple[str, ...] | None], Reason] = {}

    @property
    def pathways(self) -> Sequence[CompiledPathway]:
        """The compiled pathways in hierarchy order (read-only; for explanations rebuilt from batch output)."""
        return self._pathways

    @property
    def pathway_names(self) -> list[str]:
        """The pathways in hierarchy order."""
        return [p.name for p in self._pathways]

    def criteria(self) -> dict[str, Named]:
        """The criteria of the policy by name."""
        return {n: i for n, i in self.doc.named.items() if i.kind == "criterion"}

    def _bind(self, market: Market | Mapping[str, Any] | str | Path) -> _BoundMarket:
        key = id(market)
        found = self._bound.get(key)
        if found is not None and found[0] is market:
            return found[1]
        context = self.load_context(market)
        if isinstance(context, Market):
            self.check_market(context)
        bound = _BoundMarket(context)
        if len(self._bound) > 16:
            self._bound.clear()
        self._bound[key] = (market, bound)
        return bound

    def check_market(self, market: Any, node: YNode | None = None, diags: Diagnostics | None = None) -> None:
        """Run the policy's market checks (``market_checks:``) on a loaded ``market``.

        Given the market file's ``node``, each error points at the line of the
        failing element; ``diags`` collects them (else they are raised). Both
        engines call this before deciding, so a market the policy refuses is
        refused by every engine.

        Raises:
            PolicyError: without ``diags``, when a check fails.
        """
        if self._market_checks is None or (node is None and self._checked.get(id(market)) is market):
            return
        own = Diagnostics()
        self._market_checks.run(market, node, own, node.span.file if node is not None else "<market>")
        if own.has_errors:
            if diags is None:
                raise PolicyError(own.sorted())
            diags.items.extend(own.items)
            return
        if len(self._checked) > 16:
            self._checked.clear()
        self._checked[id(market)] = market

    def audit_context(self) -> AuditContext:
        """Citations (id -> title, link) and pathway descriptions, for :meth:`Decision.explain_for_auditor`."""
        meta = self.doc.meta
        sources = {s.id: (s.title, s.url) for s in meta.sources} if meta is not None else {}
        return AuditContext(sources, {name: pw.description for name, pw in self.doc.pathways.items()})

    def make_decision(self, bene_id: str | None, outcome: str, **kw: Any) -> Decision:
        """A :class:`Decision` of this policy (its id, version and hash) from the parts ``kw`` names.

        ``kw``: ``aco_id``, ``pathway``, ``reasons``, ``errors``, ``performance_year``,
        ``pathways``, ``trace``; the interpreter and explanations rebuilt from
        batch output build their decisions here.
        """
        return Decision(
            bene_id=bene_id,
            outcome=outcome,
            aco_id=kw.get("aco_id"),
            pathway=kw.get("pathway"),
            reasons=kw.get("reasons", []),
            errors=kw.get("errors", []),
            policy_id=self.id,
            policy_version=self.version,
            policy_hash=self.content_hash,
            performance_year=kw.get("performance_year"),
            pathways=kw.get("pathways", []),
            trace=kw.get("trace"),
        )

    def evaluate(
        self,
        record: Beneficiary | Mapping[str, Any],
        market: Market | Mapping[str, Any] | str | Path,
        trace: bool = True,
    ) -> Decision:
        """Decide one beneficiary against ``market``; never raises on bad record data.

        Raises:
            PolicyError: a market that is invalid or fails the policy's market
                checks (configuration, not data: no record is decided against it).
        """
        bound = self._bind(market)
        # the cyclic GC is paused while one record is validated and evaluated: neither makes reference
        # cycles (reference counting frees what they allocate), but the models and the trace allocate
        # enough small objects to trigger collections that rescan every live object (docs/benchmarks.md)
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            if isinstance(record, (Beneficiary, BaseModel)):
                bene = record
            else:
                raw_id = record.get("bene_id") if isinstance(record, Mapping) else None
                bene_id = raw_id if isinstance(raw_id, str) else None
                try:
                    bene = self.validate_record(record)
                except ValidationError as exc:
                    return self.make_decision(
                        bene_id, "error", errors=validation_errors(exc), performance_year=bound.market.performance_year
                    )
            try:
                return self._evaluate(bene, bound, trace)
            except Exception as exc:
                return self.make_decision(
                    bene.bene_id,
                    "error",
                    errors=[{"field": None, "message": f"evaluation failed: {type(exc).__name__}: {exc}"}],
                    performance_year=bound.market.performance_year,
                )
        finally:
            if paused:
                gc.enable()

    def load_context(self, source: Any) -> Any:
        """The evaluation context (the market for alignment) validated against the context schema.

        Raises:
            PolicyError: a context file that is unreadable or invalid, with the place of each problem.
        """
        schema = self.context_schema
        if schema is None or schema.struct == bundled("market").struct:
            if isinstance(source, (str, Path)):  # the market checks point at the file's lines
                return load_document(source, Market, self._check_context)
            return load_market(source)
        if isinstance(source, BaseModel):
            return source
        return load_document(source, schema.model)

    def _check_context(self, market: Market, node: YNode, diags: Diagnostics) -> None:
        _check_market(market, node, diags, None)  # the effective period is the caller's (load_market) to check
        if not diags.has_errors:
            self.check_market(market, node, diags)

    def validate_record(self, record: Any) -> Any:
        """``record`` (a mapping, or one JSON document as text) validated against the record schema.

        Raises:
            pydantic.ValidationError: naming each invalid field.
        """
        schema = self.record_schema
        if schema is None:
            model: type[BaseModel] = Beneficiary
        else:  # an alignment policy's records are also read by the SQL engines: money as they read it
            model = schema.sql_model if self.doc.decision is None else schema.model
        if isinstance(record, (str, bytes)):
            return model.model_validate_json(record)
        return model.model_validate(record)

    def _evaluate(self, bene: Any, bound: _BoundMarket, trace: bool) -> Decision:
        market = bound.market
        root: TraceNode | None = None
        tracer: Tracer | None = None
        if trace:
            root = TraceNode("decision", bene.bene_id)
            root.description = f"{self.id} v{self.version}"
            tracer = Tracer(root)
        env = Env(bene, market, {} if trace else bound.cache, tracer)
        results: list[PathwayResult] = []
        winner: tuple[str, str] | None = None
        for pw in self._pathways:
            if winner is not None:
                if root is not None:
                    skipped = TraceNode("pathway", pw.name, pw.span)
                    skipped.skipped = True
                    skipped.note = f"not evaluated: the {winner[0]} pathway decided"
                    root.children.append(skipped)
                results.append(PathwayResult(pw.name, "skipped", None, (), ()))
                continue
            result = self._run_pathway(pw, env, tracer)
            results.append(result)
            if result.aco_id is not None:
                winner = (pw.name, result.aco_id)
        outcome, aco_id, pathway, reasons = self.conclude(results, market)
        if root is not None:
            root.value = aco_id
            root.note = outcome
        return self.make_decision(
            bene.bene_id,
            outcome,
            aco_id=aco_id,
            pathway=pathway,
            reasons=reasons,
            performance_year=market.performance_year,
            pathways=results,
            trace=root,
        )

    def _run_fast(self, pw: CompiledPathway, env: Env) -> PathwayResult:
        """:meth:`_run_pathway` without a trace: what does not depend on the ACO is evaluated once."""
        reqs = pw.requirements
        env.set_aco(None)
        shared = [None if req.per_aco else req.fast(env) for req in reqs]
        per = [(i, req.fast) for i, req in enumerate(reqs) if req.per_aco]
        acos = env.market.acos
        # a shared requirement that fails fails for every ACO (and then none qualifies)
        failed: dict[tuple[int, str], list[str]] = {
            (i, truth(v)): [a.id for a in acos] for i, v in enumerate(shared) if not reqs[i].per_aco and v is not True
        } if acos else {}
        shared_ok = not failed
        qualifying: list[str] = []
        for aco in acos:
            env.set_aco(aco)
            ok = shared_ok
            for i, fn in per:
                v = fn(env)
                if v is not True:
                    ok = False
                    failed.setdefault((i, truth(v)), []).append(aco.id)
            if ok:
                qualifying.append(aco.id)
        winner, tie_reason = self._choose(pw, env, None, qualifying)
        return self.pathway_result(pw, qualifying, failed, winner, tie_reason, len(acos))

    def _run_pathway(self, pw: CompiledPathway, env: Env, tracer: Tracer | None) -> PathwayResult:
        if tracer is None:
            return self._run_fast(pw, env)
        node = TraceNode("pathway", pw.name, pw.span)
        node.source, node.description = pw.source, pw.description
        tracer.open(node)
        qualifying: list[str] = []
        failed: dict[tuple[int, str], list[str]] = {}
        try:
            for aco in env.market.acos:
                env.set_aco(aco)
                aco_node = TraceNode("aco", aco.id)
                tracer.open(aco_node)
                values = [req.traced(env) for req in pw.requirements]
                tracer.close()
                ok = all(v is True for v in values)
                aco_node.value = ok
                if ok:
                    qualifying.append(aco.id)
                else:
                    for i, v in enumerate(values):
                        if v is not True:
                            failed.setdefault((i, truth(v)), []).append(aco.id)
            winner, tie_reason = self._choose(pw, env, tracer, qualifying)
        finally:
            tracer.close()
        result = self.pathway_result(pw, qualifying, failed, winner, tie_reason, len(env.market.acos))
        if result.aco_id is not None:
            node.value = result.aco_id
        else:
            node.note = result.status
        return result

    def pathway_result(
        self,
        pw: CompiledPathway,
        qualifying: list[str],
        failed: dict[tuple[int, str], list[str]],
        chosen: str | None,
        tie_reason: Reason | None,
        n_acos: int,
    ) -> PathwayResult:
        """A pathway's result and reasons from its qualifying ACOs and failed requirements.

        Shared by the interpreter and by explanations rebuilt from batch output.
        """
        if chosen is not None:
            reasons = [self._reason(pw, i, "true", (chosen,)) for i in range(len(pw.requirements))]
            if tie_reason is not None:
                reasons.append(tie_reason)
            return PathwayResult(pw.name, "decided", chosen, tuple(qualifying), tuple(reasons))
        reasons = [
            self._reason(pw, i, value, None if len(acos) == n_acos else tuple(acos))
            for (i, value), acos in sorted(failed.items())
        ]
        if tie_reason is not None:
            reasons.append(tie_reason)
        status = "tie" if tie_reason is not None else "failed"
        return PathwayResult(pw.name, status, None, tuple(qualifying), tuple(reasons))

    @staticmethod
    def conclude(results: list[PathwayResult], market: Market) -> tuple[str, str | None, str | None, list[Reason]]:
        """Outcome, ACO, pathway and reasons from the pathway results in hierarchy order."""
        deciding = next((r for r in results if r.status == "decided"), None)
        if deciding is not None:
            return "aligned", deciding.aco_id, deciding.pathway, list(deciding.reasons)
        reasons = [r for res in results for r in res.reasons]
        if not market.acos:
            reasons.append(Reason("-", "market_has_acos", "false", None, None, "The market lists no ACO."))
        return "not_aligned", None, None, reasons

    def _choose(
        self, pw: CompiledPathway, env: Env, tracer: Tracer | None, qualifying: list[str]
    ) -> tuple[str | None, Reason | None]:
        if len(qualifying) <= 1:
            return (qualifying[0] if qualifying else None), None
        by_id = {a.id: a for a in env.market.acos}
        top = sorted(qualifying)
        rank_fn = pw.rank_traced if tracer is not None else pw.rank_fast
        if rank_fn is not None:
            ranks: dict[str, Any] = {}
            for aco_id in top:
                env.set_aco(by_id[aco_id])
                ranks[aco_id] = rank_fn(env)
            known = [r for r in ranks.values() if r is not None]
            if known:
                best = max(known)
                top = [a for a in top if ranks[a] == best]
        if len(top) == 1:
            return top[0], Reason(pw.name, "tie.rank", "true", tuple(qualifying), pw.source,
                                  f"Several ACOs qualified; {top[0]} has the highest rank.")
        on_tie_fn = pw.on_tie_traced if tracer is not None else pw.on_tie_fast
        env.set_aco(None)  # the rule chooses between ACOs; it does not depend on one (checked: E217)
        rule = on_tie_fn(env) if on_tie_fn is not None else "not_aligned"
        if rule == "lowest_aco_id":
            return top[0], Reason(pw.name, "tie.on_tie", "true", tuple(top), pw.source,
                                  f"Tied ACOs {', '.join(top)}; the rule 'lowest_aco_id' chose {top[0]}.")
        if rule != "not_aligned":
            raise ValueError(f"unknown on_tie rule {rule!r} in pathway {pw.name}")
        return None, Reason(pw.name, "tie.on_tie", "tie", tuple(top), pw.source,
                            f"Tied ACOs {', '.join(top)}; the rule 'not_aligned' aligns to none of them.")

    def _reason(self, pw: CompiledPathway, index: int, value: str, acos: tuple[str, ...] | None) -> Reason:
        found = self._reasons.get((pw.name, index, value, acos))
        if found is not None:  # a Reason is frozen: the same few recur record after record
            return found
        req = pw.requirements[index]
        item = req.item
        reason = Reason(
            pathway=pw.name,
            criterion=req.label,
            value=value,
            acos=acos,
            source=item.source if item else pw.source,
            description=item.description if item else None,
            explanation=item.reason if item and value != "true" else None,
            at=str(item.span) if item else str(req.expr.span),
        )
        if len(self._reasons) < 10_000:
            self._reasons[(pw.name, index, value, acos)] = reason
        return reason


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Record validation errors as ``{field, message}`` rows."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        out.append({"field": loc or None, "message": err["msg"]})
    return out


def check_policy(path: str | Path) -> tuple[Policy | None, list[Diagnostic]]:
    """Run the pipeline; return the policy (None on errors) and all diagnostics."""
    diags = Diagnostics()
    doc = load_doc(Path(path), diags)
    res = check_doc(doc, diags)
    items = diags.sorted()
    if diags.has_errors:
        return None, items
    return Policy(doc, res, items), items


def load_policy(path: str | Path) -> Policy:
    """Load and check the policy at ``path`` (a file or a folder).

    Raises:
        PolicyError: carrying every diagnostic, when the policy has errors.
    """
    policy, diagnostics = check_policy(path)
    if policy is None:
        raise PolicyError(diagnostics)
    return policy

