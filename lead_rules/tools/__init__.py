"""Analyst and auditor tools built on the public Policy/Decision API.

Each tool is one module: :mod:`.diff` (impact of a policy change with causes),
:mod:`.why_not` (verified counterfactual record changes), :mod:`.report` (the
self-contained HTML audit report), :mod:`.decision_log` (decision logs and
their verification), :mod:`.json_schema`, :mod:`.fmt` and :mod:`.eval_expr`
(editor support). They sit above the interpreter and the SQL engine and below
the command line; nothing here holds a rule.
"""
