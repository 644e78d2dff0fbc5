"""Impact of a change to a decision-kind policy (verdict, ranking, computation): ``lead-rules diff --context``.

The decision kinds do not compile to SQL, so both versions decide the input
with the interpreter (:func:`lead_rules.engine.kinds.decide_all`, the same
call as ``lead-rules evaluate``), each against its own reading of the
context, and the two outputs are joined line by line in input order. The
result is the :class:`~lead_rules.tools.diff.DiffResult` of an alignment diff:

* the decision key is ``(outcome, aco_id, pathway)`` as ``evaluate`` writes
  it: a verdict's or ranking's ``outcome`` (``valid``/``invalid``,
  ``selected``/``not_selected``, or ``error``), with ``aco_id`` and
  ``pathway`` null, since these kinds assign the subject to nothing;
* a computation's outcome is always ``computed`` (or ``error``), so there a
  subject is changed when any output value changed too, and its transitions
  are grouped by the outputs that changed (``"outputs"``);
* the causes of a changed subject are the named criteria and definitions the
  decision reads whose values changed for it (:class:`KindProbe`), labelled
  with the part of the ``decision:`` section that reads them (``requires``,
  ``score``, ``outputs``, ...), in that order; for a ranking also ``limit``
  (the number selected changed), ``one_per`` (its group changed) and
  ``rank`` (its place among the others changed, e.g. because another
  subject's score did). A requirement one
  version has and the other has not is a cause too; with nothing else to
  name, the cause is the policy structure, so every changed subject has one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..engine.kinds import SubjectResult, decide_all, evaluator, load_contexts, output_json
from ..engine.policy import Policy
from ..language.documents import read_all, read_documents
from .diff import STRUCTURE, Cause, DiffResult, SubjectChange
from .kind_probe import PARTS, KindProbe, names_in

RANKING_PART = "ranking"
"""The ``pathway`` of the causes a ranking adds: ``rank`` (and ``limit`` under ``limit``)."""


def _key(r: SubjectResult) -> tuple[Any, Any, Any]:
    return (r.outcome, None, None)


def _outputs(r: SubjectResult) -> dict[str, Any]:
    return {k: output_json(v) for k, v in r.outputs.items()}


def read_context(policy: Policy, context_path: str | Path | None) -> Any:
    """The context documents of ``policy`` (validated), or None without a context file.

    Raises:
        ValueError: the policy looks subjects up in a context and none is given, or a document is invalid.
    """
    d = policy.doc.decision
    if context_path is None:
        if d is not None and d.lookup is not None:
            raise ValueError(f"{policy.id} looks each subject up in a context: give --context")
        return None
    return load_contexts(policy, read_all(context_path))


def _requirement_names(policy: Policy) -> list[str]:
    d = policy.doc.decision
    assert d is not None
    out: list[str] = []
    for r in d.requires:
        out += [n for n in names_in(r, policy.doc.named) if n not in out]
    return out


class _Attribution:
    """The causes of the changed subjects of one pair of policies."""

    def __init__(self, old: Policy, new: Policy, ctx_old: Any, ctx_new: Any) -> None:
        self.po, self.pn = KindProbe(old), KindProbe(new)
        self.ctx_old, self.ctx_new = ctx_old, ctx_new
        self.kind = self.pn.decision.kind
        req_o, req_n = _requirement_names(old), _requirement_names(new)
        self.one_sided = [n for n in req_n if n not in req_o] + [n for n in req_o if n not in req_n]
        self.limits = (evaluator(old).limit(), evaluator(new).limit()) if self.kind == "ranking" else (None, None)
        self.order: dict[tuple[str, str], tuple[int, int]] = {}
        for probe in (self.pn, self.po):
            for i, (n, part) in enumerate(probe.parts.items()):
                self.order.setdefault((n, part), (PARTS.index(part), i))
        self.order[("limit", "limit")] = (PARTS.index("limit"), -1)
        self.order[("one_per", "one_per")] = (PARTS.index("one_per"), -1)
        self.order[("rank", RANKING_PART)] = (len(PARTS), 0)

    def part(self, name: str) -> str:
        return self.pn.parts.get(name) or self.po.parts.get(name) or "requires"

    def causes(self, record: Any, a: SubjectResult, b: SubjectResult) -> list[Cause]:
        vo = self.po.values(record, self.ctx_old) if record is not None else None
        vn = self.pn.values(record, self.ctx_new) if record is not None else None
        if vo is None or vn is None:
            return [Cause(STRUCTURE, "decision")]  # the record (or its lookup) is valid for one version only
        missing = object()
        names = list(vn) + [n for n in vo if n not in vn]
        out = [Cause(n, self.part(n)) for n in names if vo.get(n, missing) != vn.get(n, missing)]
        out += [Cause(n, "requires") for n in self.one_sided if Cause(n, "requires") not in out]
        if self.kind == "ranking":
            if self.limits[0] != self.limits[1]:
                out.append(Cause("limit", "limit"))
            if a.group != b.group:
                out.append(Cause("one_per", "one_per"))
            if a.rank != b.rank:
                out.append(Cause("rank", RANKING_PART))
        return out or [Cause(STRUCTURE, "decision")]

    def sort_key(self, cause: Cause) -> tuple[int, int]:
        return self.order.get((cause.criterion, cause.pathway), (len(PARTS) + 1, 0))


def diff_kinds(
    old: Policy, new: Policy, input_path: str | Path, context_path: str | Path | None = None
) -> DiffResult:
    """Decide ``input_path`` with both decision-kind policies (interpreter) and compare the decisions.

    Raises:
        ValueError: a policy is not a decision kind, the kinds differ, the
            context is missing or invalid, or the input cannot be read.
    """
    for p in (old, new):
        if p.doc.decision is None:
            raise ValueError(f"{p.id} is an alignment policy: diff it with --market")
    assert old.doc.decision is not None and new.doc.decision is not None
    if old.doc.decision.kind != new.doc.decision.kind:
        raise ValueError(f"the versions decide different kinds ({old.doc.decision.kind}, {new.doc.decision.kind})")
    ctx_old, ctx_new = read_context(old, context_path), read_context(new, context_path)
    try:
        docs = list(read_documents(input_path))
    except OSError as exc:
        raise ValueError(f"cannot read {input_path}: {exc.strerror}") from None
    before = decide_all(old, docs, ctx_old)
    after = decide_all(new, docs, ctx_new)
    attribution = _Attribution(old, new, ctx_old, ctx_new)
    computation = attribution.kind == "computation"
    groups: Counter[tuple[tuple[Any, ...], tuple[Any, ...], tuple[str, ...]]] = Counter()
    unchanged: Counter[tuple[Any, ...]] = Counter()
    subjects: list[SubjectChange] = []
    counts: Counter[Cause] = Counter()
    for (line, record, _error), a, b in zip(docs, before, after, strict=True):
        ka, kb = _key(a), _key(b)
        oa, ob = _outputs(a), _outputs(b)
        changed_outputs = [n for n in list(ob) + [n for n in oa if n not in ob] if oa.get(n) != ob.get(n)]
        if ka == kb and not (computation and changed_outputs):
            unchanged[ka] += 1
            continue
        causes = sorted(attribution.causes(record, a, b), key=attribution.sort_key)
        counts.update(causes)
        groups[(ka, kb, tuple(changed_outputs) if computation else ())] += 1
        subject = b.subject if b.outcome != "error" else a.subject
        subjects.append(
            SubjectChange(
                row=line,
                bene_id=None if not subject else _text(next(iter(subject.values()))),
                before=dict(zip(("outcome", "aco_id", "pathway"), ka, strict=True)),
                after=dict(zip(("outcome", "aco_id", "pathway"), kb, strict=True)),
                causes=causes,
                subject=dict(subject),
                outputs={n: {"from": oa.get(n), "to": ob.get(n)} for n in changed_outputs} if computation else None,
            )
        )
    ordered = sorted(groups.items(), key=lambda g: (-g[1], str(g[0])))
    return DiffResult(
        old=_identity(old),
        new=_identity(new),
        engines={"old": "interpreter", "new": "interpreter"},
        total=len(docs),
        changed=len(subjects),
        transitions=[(a, b, n) for (a, b, _o), n in ordered],
        unchanged=sorted(unchanged.items(), key=lambda u: (-u[1], str(u[0]))),
        causes=sorted(counts.items(), key=lambda cn: (attribution.sort_key(cn[0]), -cn[1])),
        subjects=subjects,
        kind=attribution.kind,
        transition_outputs=[list(o) for (_a, _b, o), _n in ordered] if computation else None,
    )


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _identity(policy: Policy) -> dict[str, str]:
    return {"id": policy.id, "version": policy.version, "hash": policy.content_hash}
