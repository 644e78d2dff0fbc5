"""Synthetic populations: deterministic beneficiaries and markets for demos, tests and benchmarks.

Imports nothing else of lead_rules. See docs/architecture.md.
"""
