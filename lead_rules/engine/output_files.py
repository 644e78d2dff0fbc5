"""Safe outputs: never over an input, never a partial file at the output path.

The last arrow of the pipeline: ``evaluate`` and ``align`` (every engine and
format) write their output through :func:`atomic_output`, which hands the
writer a path inside a fresh hidden folder next to the target
(``.lead-rules-<random>/``, so a temporary file of the engine, e.g. DuckDB's
``tmp_*``, lands there too) and moves the finished file onto the target with
one ``os.replace`` only when the writer returns. On an error, Ctrl-C or
SIGTERM the folder is removed and the target is untouched; only SIGKILL can
leave the hidden folder, never a file at the output path. Every command that
writes a file (``evaluate``/``align`` outputs and ``--log``, ``why-not``,
``diff``, ``report`` and ``market`` ``--output``, ``fmt``) goes through it, or
through :func:`atomic_write_text` for a text written at once. A symlink target
is written through (atomically at the resolved path, the link kept); a device
or FIFO is written in place; a folder is refused (:class:`OutputRefused`).
:func:`refuse_overwrite` refuses an output that is one of the inputs (the same
file after resolving links, or a file inside an input folder) and
:func:`refuse_outputs` also two outputs that are one file (``--log`` and
``--output``) and folders. It lives in ``engine/`` (stage 1)
so that ``sql/`` and ``batch/`` (stage 2) and ``cli/`` share it
(docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType

TEMP_PREFIX = ".lead-rules-"
"""The name prefix of the hidden work folder :func:`atomic_output` creates beside the target."""


class OutputRefused(ValueError):
    """The output path is one of the inputs (or inside an input folder)."""


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def refuse_overwrite(output: str | Path, inputs: Iterable[str | Path | None], label: str = "the output") -> None:
    """Raise :class:`OutputRefused` when ``output`` is (or lies inside) one of ``inputs`` (``label`` names it)."""
    out = Path(output)
    for src in inputs:
        if src is None or str(src) == "-":
            continue
        path = Path(src)
        if not path.exists():
            continue
        if path.is_dir() and out.resolve().is_relative_to(path.resolve()):
            raise OutputRefused(f"{label} {out} is inside the input folder {path}; choose another path")
        if out.exists() and _same(out, path):
            raise OutputRefused(f"{label} {out} is the input {path}; choose another path")


def refuse_outputs(
    outputs: Mapping[str, str | Path | None] | Iterable[str | Path | None], inputs: Iterable[str | Path | None]
) -> None:
    """Raise :class:`OutputRefused` for an output that is a folder, an input, or the same file as another output.

    ``outputs`` maps an option name (``--output``, ``--log``) to its path, or
    is a list of paths. Standard output (``-`` or ``None``) is skipped. Two
    outputs are compared after resolving links, so ``--log`` and ``--output``
    naming one file (or a link to it) are refused even before either exists.
    """
    named = list(outputs.items()) if isinstance(outputs, Mapping) else [("the output", o) for o in outputs]
    seen: dict[Path, str] = {}
    sources = list(inputs)
    for label, item in named:
        if item is None or str(item) == "-":
            continue
        out = Path(item)
        if out.is_dir():
            raise OutputRefused(f"cannot open {label} {out}: it is a folder, not a file; give a file name")
        refuse_overwrite(out, sources, label)
        if is_special(out):
            continue  # a device or a pipe may take two streams (e.g. both to a terminal)
        key = out.resolve()
        if key in seen:
            raise OutputRefused(f"{label} {out} is the same file as {seen[key]}; choose another path")
        seen[key] = f"{label} {out}"


def is_special(path: str | Path) -> bool:
    """Whether ``path`` (links followed) exists and is neither a regular file nor a folder (a device, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit while the block runs (main thread only), so cleanup happens."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def atomic_output(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path for ``target``; move it onto ``target`` when the block succeeds.

    The temporary path has the target's name (so its suffix chooses the same
    format) inside a hidden folder of the target's folder, on the same file
    system, so the final move is atomic. When the block raises (or the process
    gets SIGINT/SIGTERM) the folder is removed and ``target`` is left as it was.
    A target that exists and is neither a file nor a folder (a device, a pipe)
    is yielded itself: there is nothing to replace atomically. A symlink is
    followed: the file it points to is replaced, the link kept. A folder raises
    :class:`OutputRefused` before anything is written. A file replaced keeps its
    permission bits.
    """
    if is_special(target):
        # a device or a pipe (/dev/stdout, /dev/full, a FIFO, a link to one): written in place, never replaced
        yield Path(target)
        return
    final = Path(os.path.realpath(target)) if Path(target).is_symlink() else Path(target)
    if final.is_dir():
        raise OutputRefused(f"cannot open the output {target}: it is a folder, not a file; give a file name")
    mode = stat.S_IMODE(final.stat().st_mode) if final.is_file() else None
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=final.parent))
    try:
        with _sigterm_as_exit():
            tmp = work / final.name
            yield tmp
            if not tmp.exists():
                raise OSError(f"the writer produced no file for {final}")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` through :func:`atomic_output`."""
    with atomic_output(target) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
