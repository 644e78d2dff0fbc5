"""Safe outputs: never over an input, never a partial file at the output path.

The last arrow of the pipeline: ``evaluate`` and ``align`` (every engine and
format) write their output through :func:`atomic_output`, which hands the
writer a path inside a fresh hidden folder next to the target
(``.lead-rules-<random>/``, so a temporary file of the engine, e.g. DuckDB's
``tmp_*``, lands there too) and moves the finished file onto the target with
one ``os.replace`` only when the writer returns. On an error, Ctrl-C or
SIGTERM the folder is removed and the target is untouched; only SIGKILL can
leave the hidden folder, never a file at the output path. :func:`refuse_overwrite`
refuses an output that is one of the inputs (the same file after resolving
links, or a file inside an input folder). It lives in ``engine/`` (stage 1)
so that ``sql/`` and ``batch/`` (stage 2) and ``cli/`` share it
(docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
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


def refuse_overwrite(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Raise :class:`OutputRefused` when ``output`` is (or lies inside) one of ``inputs``."""
    out = Path(output)
    for src in inputs:
        if src is None or str(src) == "-":
            continue
        path = Path(src)
        if not path.exists():
            continue
        if path.is_dir() and out.resolve().is_relative_to(path.resolve()):
            raise OutputRefused(f"the output {out} is inside the input folder {path}; choose another path")
        if out.exists() and _same(out, path):
            raise OutputRefused(f"the output {out} is the input {path}; choose another path")


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
    is yielded itself: there is nothing to replace atomically.
    """
    final = Path(target)
    if final.exists() and not final.is_file() and not final.is_dir():
        # a device or a pipe (/dev/stdout, /dev/full, a FIFO): written in place, never replaced by a file
        yield final
        return
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
            os.replace(tmp, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
