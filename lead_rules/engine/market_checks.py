"""Evaluating a policy's market checks against a market (stage 1, at market load time).

The checks are the ``market_checks:`` section of the policy
(:mod:`lead_rules.language.market_checks`), typed by the checker against the
market schema. Here each one is compiled by the interpreter's
:class:`~lead_rules.engine.interpreter.Compiler` and run over the market: the
``each`` loops bind their variables element by element, ``require`` must be
true for every combination, and each failing element is one error with the
policy's code at the market file's line of the element ``at`` names (the
YAML list item; a set's item is found by its value). A market given as a model
or a mapping has no file: the error then names the element's path. Both
engines go through :meth:`lead_rules.engine.policy.Policy.check_market`, so a
market that a policy refuses is refused by the interpreter and the SQL
compilers alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..language.checker import Resolution
from ..language.errors import Diagnostics, Span
from ..language.loader import PolicyDoc
from ..language.market_checks import MarketCheck, field_path, render
from ..language.values import to_json
from ..language.yaml_source import YNode
from .interpreter import Compiler, Env, Fn

Path = tuple[str | int, ...]
"""The place of an element in the market document: ``("acos", 1, "participant_tins", 0)``."""


@dataclass
class _CompiledLoop:
    var: str
    source: Fn
    base: str  # the root or loop variable the field path starts at
    steps: tuple[str, ...]  # the field names (YAML keys) from there


@dataclass
class _Compiled:
    check: MarketCheck
    loops: list[_CompiledLoop]
    require: Fn
    when: Fn | None
    values: list[tuple[str, Fn]]


class MarketChecks:
    """The compiled market checks of one checked policy."""

    def __init__(self, doc: PolicyDoc, res: Resolution) -> None:
        compiler = Compiler(doc, res, False)
        self.checks: list[_Compiled] = []
        for check in doc.market_checks.values():
            loops = []
            for loop in check.loops:
                path = field_path(loop.source)
                assert path is not None  # the checker makes sure (E241)
                loops.append(_CompiledLoop(loop.var, compiler.compile(loop.source, False), path[0], tuple(path[1])))
            self.checks.append(
                _Compiled(
                    check,
                    loops,
                    compiler.compile(check.require, False),
                    compiler.compile(check.when, False) if check.when is not None else None,
                    [(name, compiler.compile(e, False)) for name, e in check.values],
                )
            )

    def __bool__(self) -> bool:
        return bool(self.checks)

    def run(self, market: Any, node: YNode | None, diags: Diagnostics, file: str = "<market>") -> None:
        """Run every check on ``market``; one error in ``diags`` per failing element."""
        for compiled in self.checks:
            env = Env(None, market, {}, None)
            if compiled.when is not None and compiled.when(env) is not True:
                continue
            for paths in _combinations(compiled.loops, 0, env, {}, node):
                if compiled.require(env) is True:
                    continue
                check = compiled.check
                shown = {var: env.vars[var] for var in paths}
                shown.update((name, fn(env)) for name, fn in compiled.values)
                where = paths[check.at]
                dotted = ".".join(str(p) for p in where)
                span = node.at(where)[0] if node is not None else Span(file, 1, 1, 1, 2)
                hint = f"market check '{check.name}' of the policy" + (f" ({check.source})" if check.source else "")
                diags.error(check.code, f"{dotted}: {render(check.message, shown, _text)}", span, hint)


def _combinations(
    loops: list[_CompiledLoop], k: int, env: Env, paths: dict[str, Path], node: YNode | None
) -> Iterator[dict[str, Path]]:
    """Bind the loop variables from ``k`` on, element by element; yield the path of each bound element."""
    if k == len(loops):
        yield dict(paths)
        return
    loop = loops[k]
    collection = loop.source(env)
    if collection is None:
        return
    base: Path = paths.get(loop.base, ())
    at: Path = base + loop.steps
    if isinstance(collection, (set, frozenset)):
        items = sorted(collection, key=lambda v: (str(type(v)), str(v)))
        yaml_items = _seq(node, at)
        positions = [_position(yaml_items, item) for item in items]
    else:
        items = list(collection)
        positions = list(range(len(items)))
    for item, position in zip(items, positions, strict=True):
        env.vars[loop.var] = item
        paths[loop.var] = at + ((position,) if position is not None else (str(to_json(item)),))
        yield from _combinations(loops, k + 1, env, paths, node)
    env.vars.pop(loop.var, None)
    paths.pop(loop.var, None)


def _seq(node: YNode | None, path: Path) -> list[YNode]:
    cur = node
    for part in path:
        if cur is None:
            return []
        if cur.kind == "map" and isinstance(part, str):
            cur = cur.get(part)
        elif cur.kind == "seq" and isinstance(part, int) and 0 <= part < len(cur.items):
            cur = cur.items[part]
        else:
            return []
    return cur.items if cur is not None and cur.kind == "seq" else []


def _position(items: list[YNode], value: Any) -> int | None:
    """The index of the YAML list item holding ``value`` (a set element), or None."""
    return next((i for i, n in enumerate(items) if n.plain() == value), None)


def _text(value: Any) -> str:
    """A value as the message shows it: lists and sets as ``a, b``, null as ``null``."""
    plain = to_json(value)
    if isinstance(plain, list):
        return ", ".join(_text(v) for v in plain)
    if plain is None:
        return "null"
    if isinstance(plain, bool):
        return str(plain).lower()
    return str(plain)
