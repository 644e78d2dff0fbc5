"""lead-rules: LEAD ACO alignment rules as data.

Load a policy (YAML + expression language), check it, and decide beneficiary
records with an explainable trace::

    import lead_rules
    policy = lead_rules.load_policy("policies/lead")
    decision = policy.evaluate(record, market="market.yaml")
    print(decision.outcome, decision.aco_id, decision.pathway)
    print(decision.explain())
"""

from .engine.decision import Decision, PathwayResult, Reason
from .engine.policy import Policy, check_policy, load_market, load_policy
from .language.errors import Diagnostic, PolicyError, Span
from .language.records import Beneficiary, Market

__all__ = [
    "Beneficiary",
    "Decision",
    "Diagnostic",
    "Market",
    "PathwayResult",
    "Policy",
    "PolicyError",
    "Reason",
    "Span",
    "check_policy",
    "load_market",
    "load_policy",
]
__version__ = "0.1.0"
