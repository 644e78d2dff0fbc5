"""The compiled-SQL cache of ``lead-rules align --engine duckdb``: the output query text by policy hash.

Compiling the LEAD policy and generating its DuckDB text with SQLGlot takes about a second,
more than a small run. :func:`lead_rules.sql.run.cached_duckdb_sql` keeps the text in the user's cache folder
(:func:`sql_cache_dir`), keyed by the package source and SQLGlot's version, the policy's
content hash, the market, the column set and the output format. The folder is the user's
own but another account may share the machine, so an entry is used only when it is safe:
the folder and the entry are owned by the user and writable by no one else (no symbolic
link), and the entry names its key and carries the SHA-256 of its content; anything else
is ignored and the query compiled. Entries are written to a private temporary file and
moved into place, so a reader never sees half an entry. See docs/security.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.policy import Policy
    from ..language.records import Market

ENTRY_VERSION = 1
"""The layout of an entry; a change makes old entries misses."""


def sql_cache_dir() -> Path:
    """The folder of compiled-SQL texts: ``$LEAD_RULES_CACHE_DIR``, else ``$XDG_CACHE_HOME/lead-rules/sql``."""
    explicit = os.environ.get("LEAD_RULES_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lead-rules" / "sql"


@cache
def code_hash() -> str:
    """A hash of the package's own source and of sqlglot's version: a changed compiler misses the cache."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sqlglot_version = version("sqlglot")
    except PackageNotFoundError:  # pragma: no cover - sqlglot is a dependency
        sqlglot_version = ""
    h = hashlib.sha256(sqlglot_version.encode())
    for path in sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        h.update(path.as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _canonical(value: Any) -> str:
    """JSON text of a dumped model with its sets sorted (their iteration order depends on the hash seed)."""

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (set, frozenset)):
            return sorted((norm(x) for x in v), key=repr)
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True, default=str)


def private(st: os.stat_result) -> bool:
    """True when the file or folder of ``st`` is the user's own and no one else may write it."""
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _digest(key: str, sql: str, issues: list[str]) -> str:
    return hashlib.sha256(json.dumps([ENTRY_VERSION, key, sql, issues]).encode()).hexdigest()


def _safe_folder(folder: Path, create: bool) -> bool:
    """``folder`` exists (made ``0700`` when ``create``), is no symbolic link, is private."""
    if create and not folder.exists():
        try:
            folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        except OSError:
            return False
    try:
        st = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and private(st)


def read_entry(folder: Path, key: str) -> tuple[str, list[str]] | None:
    """The SQL text and issues of entry ``key`` in ``folder``, or None when absent or not trustworthy."""
    if not _safe_folder(folder, create=False):
        return None
    try:
        fd = os.open(folder / f"{key}.json", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not private(st):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            entry = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if not isinstance(entry, dict) or entry.get("version") != ENTRY_VERSION or entry.get("key") != key:
        return None
    sql, issues = entry.get("sql"), entry.get("issues")
    if not isinstance(sql, str) or not isinstance(issues, list) or not all(isinstance(i, str) for i in issues):
        return None
    if entry.get("sha256") != _digest(key, sql, issues):
        return None
    return sql, issues


def write_entry(folder: Path, key: str, sql: str, issues: list[str]) -> bool:
    """Write entry ``key`` atomically (a ``0600`` temporary file moved into place); False when not written."""
    if not _safe_folder(folder, create=True):
        return False
    entry = {"version": ENTRY_VERSION, "key": key, "sql": sql, "issues": issues, "sha256": _digest(key, sql, issues)}
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=folder)  # 0600, O_EXCL
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(entry).encode("utf-8"))
        os.replace(tmp, folder / f"{key}.json")
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    return True


def cache_key(policy: Policy, market: Market, columns: str, fmt: str) -> str:
    """The entry name of one compiled output query."""
    parts = (code_hash(), policy.content_hash, _canonical(market.model_dump()), columns, fmt)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
