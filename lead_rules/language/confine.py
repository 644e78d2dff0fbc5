"""Confinement of the files a policy reads: parameter ``file:`` paths stay inside.

A parameter's ``file:`` is resolved by the loader (the first stage of the
pipeline) against the file that names it; :func:`confine` accepts it only
when it is relative, and when the file it reaches -- after resolving ``..``
and every symbolic link -- lies inside the policy folder or one of the shared
folders (:data:`SHARED_FOLDERS`, folders next to the policy folder, such as
``policies/schemas/``). A refusal says why without reading the target, so no
diagnostic can show a line of a file outside the policy.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

SHARED_FOLDERS = ("schemas",)
"""Names of folders beside a policy folder that every policy of the parent may read."""


def policy_root(path: Path) -> Path:
    """The folder a policy at ``path`` (a file or a folder) may read from."""
    return (path if path.is_dir() else path.parent).resolve()


def allowed_roots(root: Path) -> list[Path]:
    """The policy folder ``root`` and the shared folders beside it (resolved)."""
    return [root.resolve(), *((root.parent / name).resolve() for name in SHARED_FOLDERS)]


def confine(reference: str, base: Path, roots: list[Path]) -> tuple[Path | None, str | None]:
    """``(resolved path, None)`` when ``reference`` (relative to folder ``base``) stays inside ``roots``.

    Otherwise ``(None, reason)``; the reason names the rule that was broken,
    never the content of the target.
    """
    if PurePosixPath(reference).is_absolute() or PureWindowsPath(reference).is_absolute() or reference.startswith("~"):
        return None, "an absolute path; a parameter file is given relative to the policy file"
    if "\0" in reference:
        return None, "a path with a NUL character"
    target = (base / reference).resolve()
    if any(target.is_relative_to(root) for root in roots):
        return target, None
    if ".." in PurePosixPath(reference.replace("\\", "/")).parts:
        return None, "a path that leaves the policy folder ('..')"
    return None, "a path that leads outside the policy folder (a symbolic link)"


def escaping_links(folder: Path, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Path]:
    """The entries of ``folder`` named ``*.yaml`` that are symbolic links leading outside it.

    A policy folder's files are read because of where they are; a link (to a
    file or a folder) that leads elsewhere, or that cannot be resolved, would
    make the loader read, and its diagnostics show, a file the policy does not hold.
    """
    root = folder.resolve()
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix not in suffixes or not entry.is_symlink():
            continue
        try:
            inside = entry.resolve().is_relative_to(root)
        except (OSError, RuntimeError):  # a loop of links
            inside = False
        if not inside:
            out.append(entry)
    return out
