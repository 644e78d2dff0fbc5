"""Batch evaluation with the interpreter: JSON Lines in, one decision or error row per line out.

Imports :mod:`lead_rules.engine` and :mod:`lead_rules.language`. See docs/architecture.md.
"""

from .jsonl import BatchCounts, decide_lines, dumps, error_row, json_default, parse_line, run_batch

__all__ = ["BatchCounts", "decide_lines", "dumps", "error_row", "json_default", "parse_line", "run_batch"]
