"""Provenance of an output: which policy, market or context, input, engine and tool version made it, and when.

Part of the last arrow of the pipeline, beside :mod:`.output_files`: ``evaluate``
and ``align`` (every engine and format) record :func:`provenance` in their
output -- Parquet key-value metadata (:data:`METADATA_KEY`), or a sidecar file
beside JSON Lines and CSV (:func:`sidecar_path`), whose lines stay one per input
record -- and ``explain --from-output`` reads it back with
:func:`read_provenance` to refuse an explanation under another policy. It
lives in ``engine/`` (stage 1) so that ``sql/``, ``batch/`` and ``cli/`` share it.

Hashes are SHA-256: the policy's content hash (every file of the policy, as
loaded), the market's canonical JSON (:func:`market_hash`, the same value the
decision log records, so a market given as YAML or JSON hashes alike), and the
input file's bytes (a folder of tables: each file's name and bytes in name
order). Standard input records its row count. ``created`` is the time of the run, or
``$SOURCE_DATE_EPOCH`` (the reproducible-builds convention) so that a re-run can be byte-identical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import stat
import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..language.records import Market
from ..language.values import to_json
from .policy import Policy

METADATA_KEY = "lead_rules_provenance"
"""The Parquet key-value metadata key holding the provenance as JSON text."""
SIDECAR_SUFFIX = ".provenance.json"
"""A JSON Lines or CSV output ``decisions.csv`` has its provenance in ``decisions.csv.provenance.json``."""


def canonical(value: Any) -> Any:
    """Plain JSON values with one spelling per value: decimals normalised (131.70 -> "131.7"), sets sorted."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((canonical(v) for v in value), key=str)
    return to_json(value)


def sha256_text(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def market_hash(market: Market) -> str:
    """The SHA-256 of the market's canonical JSON."""
    plain = canonical(market.model_dump(by_alias=True))  # sets sorted: the same hash in every process
    return sha256_text(json.dumps(plain, sort_keys=True, separators=(",", ":")))


_PREFETCHED: dict[str, tuple[tuple[int, int, int, int], threading.Thread, list[str]]] = {}
"""Hashes started by :func:`prefetch_file_hash`, by real path: the identity when started, the thread, the digest."""


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """A regular file's device, inode, size and modification time (a changed file has another), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def prefetch_file_hash(path: str | Path) -> None:
    """Start hashing the regular file ``path`` in a background thread, for :func:`file_hash` to pick up.

    ``align`` hashes its input for the provenance before the engine runs (183 MB of
    JSON Lines take ~0.3 s); the CLI starts it here, so it runs on the other core
    while the policy loads (hashlib releases the GIL). :func:`file_hash` uses the
    digest only if the file is still the same (device, inode, size, mtime), else
    hashes again. Anything else (a folder, a FIFO, a missing file) is left to it.
    """
    real = os.path.realpath(path)
    identity = _identity(real)
    if identity is None or real in _PREFETCHED:
        return
    digest: list[str] = []

    def work() -> None:
        with contextlib.suppress(OSError):
            digest.append(_hash_files(Path(real)))

    thread = threading.Thread(target=work, name="lead-rules-input-hash", daemon=True)
    _PREFETCHED[real] = (identity, thread, digest)
    thread.start()


def file_hash(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, or of a folder's files (relative name and bytes, in name order)."""
    found = _PREFETCHED.pop(os.path.realpath(path), None) if _PREFETCHED else None
    if found is not None:
        identity, thread, digest = found
        thread.join()
        if digest and _identity(os.path.realpath(path)) == identity:
            return digest[0]
    return _hash_files(Path(path))


def _hash_files(p: Path) -> str:
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def tool_version() -> str:
    """The installed version of lead-rules."""
    from importlib import metadata

    try:
        return metadata.version("lead-rules")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
        return "unknown"


def created_time() -> str:
    """Now in UTC (ISO 8601, seconds), or ``$SOURCE_DATE_EPOCH`` when set: byte-identical outputs on re-runs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch.isdigit() else dt.datetime.now(dt.UTC)
    return when.isoformat(timespec="seconds")


def provenance(
    policy: Policy,
    engine: str,
    *,
    market: Market | None = None,
    context: str | Path | None = None,
    input_path: str | Path | None = None,
    input_hash: str | None = None,
    rows: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provenance record of one output.

    ``market`` (an alignment policy) or ``context`` (a decision kind's context file);
    ``input_path`` is hashed unless ``input_hash`` is given; standard input
    (``input_path`` None or ``-``) records ``rows`` instead. ``extra`` (the column
    set, say) is added as given.
    """
    record: dict[str, Any] = {
        "tool": "lead-rules",
        "tool_version": tool_version(),
        "created": created_time(),
        "engine": engine,
        "policy": {"id": policy.id, "version": policy.version, "hash": policy.content_hash},
    }
    if market is not None:
        record["market"] = {"performance_year": market.performance_year, "hash": market_hash(market)}
    if context is not None and str(context) != "-":
        record["context"] = {"path": str(context), "hash": file_hash(context)}
    stdin = input_path is None or str(input_path) == "-"
    source: dict[str, Any] = {"path": "-" if stdin else str(input_path)}
    if input_hash is not None or not stdin:
        source["hash"] = input_hash or file_hash(str(input_path))
    if rows is not None:
        source["rows"] = rows
    record["input"] = source
    record.update(extra)
    return record


def sidecar_path(output: str | Path) -> Path:
    """The provenance sidecar of a text output (``decisions.csv`` -> ``decisions.csv.provenance.json``)."""
    p = Path(output)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_sidecar(output: str | Path, provenance_record: Mapping[str, Any]) -> Path:
    """Write the sidecar of a JSON Lines or CSV ``output`` atomically, with ``output``'s own SHA-256.

    Returns the sidecar's path.
    """
    path = sidecar_path(output)
    body = {**provenance_record, "output": {"path": Path(output).name, "hash": file_hash(output)}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_provenance(output: str | Path) -> dict[str, Any] | None:
    """The provenance recorded for an output file (Parquet metadata, or the sidecar of JSON Lines and CSV), or None."""
    p = Path(output)
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet" or _is_parquet(p):
            import pyarrow.parquet as pq

            meta = pq.read_metadata(p).metadata or {}
            text = meta.get(METADATA_KEY.encode())
            return _object(json.loads(text)) if text else None
        side = sidecar_path(p)
        return _object(json.loads(side.read_text(encoding="utf-8"))) if side.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _is_parquet(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False
