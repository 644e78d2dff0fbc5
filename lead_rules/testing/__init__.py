"""Policy tests: the test-file format beside a policy, the runner and the coverage report.

Imports :mod:`lead_rules.engine` and :mod:`lead_rules.language`. See docs/architecture.md.
"""
