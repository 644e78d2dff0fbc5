"""The language front end: load YAML -> parse -> lower -> check.

Everything a policy is made of before it runs: YAML with positions
(:mod:`.yaml_source`), the policy file model (:mod:`.policy_model`), the
loader (:mod:`.loader`), the Lark parser (:mod:`.parser`), lowering to the
frozen AST (:mod:`.lower`, :mod:`.ast`), the types and builtins
(:mod:`.types`, :mod:`.builtins`), the checker (:mod:`.checker`), the
diagnostics (:mod:`.errors`), runtime values (:mod:`.values`) and the input
record models (:mod:`.records`). It imports nothing else of lead_rules.
See docs/architecture.md.
"""
