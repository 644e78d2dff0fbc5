"""The layout of the package: stages import one way, no cycles, no reach into another module's underscore names.

A small checker over the ``ast`` of every module of ``lead_rules`` (imports at
any depth count, lazy and ``TYPE_CHECKING`` ones included):

* no import cycle between modules;
* a sub-package imports only sub-packages of a lower stage (:data:`STAGES`),
  never the package root or the deprecated aliases kept there;
* no module uses an underscore name of another module (``from m import _x``,
  ``m._x``, ``obj._x`` where no ``_x`` is defined in the module itself);
* no module over 600 lines unless its docstring says why;
* the sub-packages on disk, :data:`STAGES` and docs/architecture.md agree.

The checker is tested on small made-up packages first, so that each rule is
seen to fail.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "lead_rules"
ARCHITECTURE = REPO / "docs" / "architecture.md"

STAGES: dict[str, int] = {
    "language": 0,
    "engine": 1,
    "batch": 2,
    "sql": 2,
    "testing": 3,
    "synth": 3,
    "cli": 4,
}
"""Rank of each sub-package: a sub-package may import only sub-packages of a lower rank."""

MAX_LINES = 600
NAMEDTUPLE_API = {"_asdict", "_replace", "_fields", "_make", "_field_defaults"}


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    imports: list[tuple[str, int]] = field(default_factory=list)  # (module imported, line)
    underscore_imports: list[tuple[str, str, int]] = field(default_factory=list)  # (module, name, line)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_modules(root: Path) -> dict[str, Module]:
    """Every module of the package at ``root``, by dotted name, with its imports resolved."""
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        name = _module_name(root, path)
        modules[name] = Module(name, path, path.name == "__init__.py", ast.parse(path.read_text(encoding="utf-8")))
    top = root.name
    for mod in modules.values():
        base = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == top or alias.name.startswith(top + "."):
                        mod.imports.append((alias.name, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target != top and not target.startswith(top + "."):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        mod.imports.append((sub, node.lineno))
                    else:
                        mod.imports.append((target, node.lineno))
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            mod.underscore_imports.append((target, alias.name, node.lineno))
    return modules


def _stage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The import cycles (each as a list of modules), found by a depth-first search."""
    graph = {m: sorted({t for t, _ in mod.imports if t in modules and t != m}) for m, mod in modules.items()}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                found.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def direction_violations(modules: dict[str, Module], stages: dict[str, int]) -> list[str]:
    """Imports from a sub-package into the package root or a sub-package of the same or a higher rank."""
    out = []
    for mod in modules.values():
        here = _stage(mod.name)
        if here is None:
            continue  # the package root (public API, __main__, deprecated aliases) may import anything
        for target, line in mod.imports:
            there = _stage(target)
            if there == here:
                continue
            if there is None:
                out.append(f"{mod.name}:{line} imports {target}, the package root (only the root imports down)")
            elif stages[there] >= stages[here]:
                out.append(f"{mod.name}:{line} ({here}, stage {stages[here]}) imports {target} (stage {stages[there]})")
    return out


def _own_underscore_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)  # namedtuple/dataclass fields passed by keyword
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)  # __slots__ and namedtuple field names
    return {n for n in names if n.startswith("_")}


def underscore_violations(modules: dict[str, Module]) -> list[str]:
    """Uses of another module's underscore names."""
    out = []
    for mod in modules.values():
        for target, name, line in mod.underscore_imports:
            out.append(f"{mod.name}:{line} imports {name} from {target}")
        own = _own_underscore_names(mod.tree)
        for node in ast.walk(mod.tree):
            if not isinstance(node, ast.Attribute) or isinstance(node.ctx, ast.Store):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in NAMEDTUPLE_API or attr in own:
                continue
            out.append(f"{mod.name}:{node.lineno} reads .{attr}, which it does not define")
    return sorted(out)


def long_modules(modules: dict[str, Module]) -> list[str]:
    """Modules over :data:`MAX_LINES` lines whose docstring does not say why."""
    out = []
    for mod in modules.values():
        n = len(mod.path.read_text(encoding="utf-8").splitlines())
        doc = ast.get_docstring(mod.tree) or ""
        if n > MAX_LINES and f"{MAX_LINES} lines" not in doc:
            out.append(f"{mod.name}: {n} lines, and its docstring does not say why it is over {MAX_LINES}")
    return out


def documented_subpackages(text: str) -> list[str]:
    """The sub-packages docs/architecture.md gives a section (``### `lead_rules/<name>/` ``)."""
    return re.findall(r"^### `lead_rules/(\w+)/`", text, flags=re.MULTILINE)


# --- the checker on made-up packages -------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return load_modules(root)


STAGES_FOR_FAKES = {"low": 0, "high": 1}


def test_checker_finds_a_cycle_including_a_lazy_import(tmp_path: Path) -> None:
    mods = _package(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "from .b import x\n",
            "low/b.py": "def x():\n    from .a import y\n",
            "low/c.py": "from . import a\n",
        },
    )
    assert cycles(mods) == [["pkg.low.a", "pkg.low.b", "pkg.low.a"]]


def test_checker_finds_no_cycle_in_a_tree(tmp_path: Path) -> None:
    mods = _package(tmp_path, {"low/__init__.py": "from .a import x\n", "low/a.py": "x = 1\n", "high/__init__.py": ""})
    assert cycles(mods) == []


def test_checker_finds_a_lower_stage_importing_a_higher_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STAGES, "low", 0)
    monkeypatch.setitem(STAGES, "high", 1)
    mods = _package(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from ..high import b\n",
            "high/__init__.py": "",
            "high/b.py": "from ..low.a import f\n",
            "high/c.py": "from .. import low\nfrom pkg import thing\n",
        },
    )
    found = direction_violations(mods, STAGES_FOR_FAKES)
    assert found == [
        "pkg.high.c:2 imports pkg, the package root (only the root imports down)",
        "pkg.low.a:2 (low, stage 0) imports pkg.high.b (stage 1)",
    ]


def test_checker_finds_siblings_of_one_rank_importing_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STAGES, "low", 0)
    monkeypatch.setitem(STAGES, "high", 0)
    mods = _package(tmp_path, {"low/__init__.py": "", "high/__init__.py": "from ..low import x\n"})
    assert direction_violations(mods, {"low": 0, "high": 0}) == ["pkg.high:1 (high, stage 0) imports pkg.low (stage 0)"]


def test_checker_finds_underscore_names_of_another_module(tmp_path: Path) -> None:
    mods = _package(
        tmp_path,
        {
            "a.py": "class _Hidden:\n    def __init__(self):\n        self._mine = 1\n\n    def _helper(self):\n"
            "        return self._mine\n",
            "b.py": "from .a import _Hidden\nfrom . import a\n\n\ndef f(p):\n    return p._helper(), a._Hidden, "
            "p._replace(), p.__class__\n",
        },
    )
    assert underscore_violations(mods) == [
        "pkg.b:1 imports _Hidden from pkg.a",
        "pkg.b:6 reads ._Hidden, which it does not define",
        "pkg.b:6 reads ._helper, which it does not define",
    ]


def test_checker_finds_long_modules_unless_the_docstring_says_why(tmp_path: Path) -> None:
    body = "x = 1\n" * (MAX_LINES + 1)
    mods = _package(
        tmp_path, {"long.py": body, "excused.py": f'"""Kept over {MAX_LINES} lines: one hot loop."""\n' + body}
    )
    assert long_modules(mods) == [f"pkg.long: {MAX_LINES + 1} lines, and its docstring does not say why it is over 600"]


def test_documented_subpackages_reads_the_section_headings() -> None:
    text = "# Architecture\n\n### `lead_rules/language/`\n\ntext `lead_rules/engine/`\n### `lead_rules/engine/`\n"
    assert documented_subpackages(text) == ["language", "engine"]


# --- the package itself -------------------------------------------------------------------


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_modules(PACKAGE)


def test_no_import_cycles(modules: dict[str, Module]) -> None:
    assert cycles(modules) == []


def test_stages_import_one_way(modules: dict[str, Module]) -> None:
    assert direction_violations(modules, STAGES) == []


def test_no_module_reads_another_modules_underscore_names(modules: dict[str, Module]) -> None:
    assert underscore_violations(modules) == []


def test_modules_stay_under_600_lines_or_say_why(modules: dict[str, Module]) -> None:
    assert long_modules(modules) == []


def test_subpackages_match_the_stages_and_the_architecture_doc() -> None:
    on_disk = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert on_disk == sorted(STAGES)
    documented = documented_subpackages(ARCHITECTURE.read_text(encoding="utf-8"))
    assert sorted(documented) == on_disk
    assert len(documented) == len(set(documented))


def test_tests_and_benchmarks_use_no_underscore_names_of_the_package() -> None:
    found = []
    for folder in (REPO / "tests", REPO / "benchmarks"):
        for path in sorted(folder.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lead_rules"):
                    found += [f"{path.name}:{node.lineno} {a.name}" for a in node.names if a.name.startswith("_")]
    assert found == []


# --- the deprecated aliases at the old module paths -------------------------------------------

MOVED = {
    **{m: f"language.{m}" for m in (
        "errors", "values", "records", "yaml_source", "policy_model", "loader",
        "parser", "lower", "ast", "types", "builtins", "checker",
    )},
    **{m: f"engine.{m}" for m in ("interpreter", "trace", "decision", "explain", "policy")},
    "policy_tests": "testing.policy_tests",
    "generate": "synth.generate",
    "demo": "cli.demo",
}  # fmt: skip


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_paths_warn_and_reach_the_same_objects(old: str) -> None:
    new = importlib.import_module(f"lead_rules.{MOVED[old]}")
    sys.modules.pop(f"lead_rules.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"lead_rules.{old} moved to lead_rules.{MOVED[old]}"):
        alias = importlib.import_module(f"lead_rules.{old}")
    names = [n for n in vars(new) if not n.startswith("__")]
    assert names
    for n in names:
        assert getattr(alias, n) is getattr(new, n), n


def test_public_paths_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for name in ("lead_rules", "lead_rules.cli", "lead_rules.batch", "lead_rules.sql", "lead_rules.sql.run"):
            importlib.import_module(name)
    from lead_rules import Decision, Policy, load_policy
    from lead_rules.cli import main

    assert callable(main) and callable(load_policy) and Policy.evaluate and Decision.explain
