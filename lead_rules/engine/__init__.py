"""The engine: a checked policy evaluated record by record, with its trace.

The interpreter's closures (:mod:`.interpreter`), the decision trace
(:mod:`.trace`), :class:`~.policy.Policy` (the hierarchy of pathways over the
ACOs of a market), the :class:`~.decision.Decision` it returns and its
explanation (:mod:`.explain`). It imports only :mod:`lead_rules.language`.
See docs/architecture.md.
"""
