"""Files of the ``evaluate`` and ``explain`` commands: text inputs, JSON Lines outputs and their refusals.

Part of the CLI (stage 4), used by :mod:`.main`: a path or ``-`` opened as text
(undecodable bytes reach the batch as error rows; a binary file is refused in
one line), an output written atomically with no stale provenance sidecar, and
the refusals that run before anything is decided (an input that is a FIFO or
Parquet on standard input; an output that is an input, a folder, the log, or
not JSON Lines).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..engine.output_files import atomic_output


@contextlib.contextmanager
def open_text(path: str | None, mode: str, default: IO[str]) -> Iterator[IO[str]]:
    """``path`` opened as UTF-8 text (``default`` for None or ``-``); exit 2 in one line when it cannot be read."""
    if path is None or path == "-":
        if "r" in mode and hasattr(default, "reconfigure"):
            default.reconfigure(errors="surrogateescape")
        yield default
        return
    try:
        # reading, an undecodable byte reaches the batch (an error row for its line), never an exception
        errors = "surrogateescape" if "r" in mode else "strict"
        f = open(path, mode, encoding="utf-8", errors=errors)  # noqa: SIM115 - closed below
    except OSError as exc:
        print(f"lead-rules: cannot open {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        if "r" in mode and is_binary(f):
            # a whole file that is not text (Parquet, an archive) is the wrong input, not bad lines
            print(
                f"lead-rules: {path} is not UTF-8 text (a binary file); this command reads JSON Lines "
                "(a Parquet population is read by 'lead-rules align')",
                file=sys.stderr,
            )
            raise SystemExit(2)
        yield f
    finally:
        f.close()


def is_binary(f: IO[str]) -> bool:
    """Whether the file starts with Parquet's magic or holds a NUL byte in its first 64 KiB (then rewound)."""
    buffer = getattr(f, "buffer", None)
    if buffer is None or not buffer.seekable():
        return False
    head = buffer.read(1 << 16)
    buffer.seek(0)
    return head.startswith(b"PAR1") or b"\0" in head


@contextlib.contextmanager
def output_text(path: str | None, inputs: list[str | None]) -> Iterator[IO[str]]:
    """Standard output, or ``path`` written atomically (never over one of ``inputs``)."""
    if path is None or path == "-":
        yield sys.stdout
        return
    refuse_output(path, inputs)
    from ..engine.provenance import sidecar_path

    sidecar_path(path).unlink(missing_ok=True)  # never a stale sidecar beside the new file
    with atomic_output(path) as partial, open_text(str(partial), "w", sys.stdout) as dst:
        yield dst


def refuse_output(output: str, inputs: list[str | None]) -> None:
    """Exit 2 in one line when ``output`` is a folder or one of ``inputs``."""
    from .tools import refuse_outputs_or_exit  # a folder, an input: one line before the atomic writer starts

    refuse_outputs_or_exit({"--output": output}, inputs)


JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")
"""The output extensions ``evaluate`` accepts (or none): it writes JSON Lines (``align`` writes Parquet and CSV too)."""


def evaluate_outputs_or_exit(args: argparse.Namespace, inputs: list[str | None]) -> None:
    """Refuse (exit 2, one line) an output or log that is an input, a folder, the other one, or not JSON Lines."""
    from ..engine.output_files import is_special
    from .tools import refuse_outputs_or_exit

    refuse_outputs_or_exit({"--output": args.output, "--log": getattr(args, "log", None)}, inputs)
    out = args.output
    suffix = Path(out).suffix.lower() if out not in (None, "-") else ""
    if suffix and suffix not in JSON_LINES_SUFFIXES and not is_special(out):  # a name without extension is fine
        print(
            f"lead-rules: evaluate writes JSON Lines: {out} should end in .jsonl "
            "(for Parquet or CSV use 'lead-rules align')",
            file=sys.stderr,
        )
        raise SystemExit(2)


def refuse_input_source(path: str | None) -> None:
    """Exit 2 with one line for an ``evaluate`` input that cannot be read as records.

    A path that is not a regular file (a FIFO, a device: reading it again for the provenance
    hash would wait forever; use ``-`` for a stream), and standard input that starts with
    Parquet's magic ``PAR1`` (as ``--input`` of a Parquet file: ``align`` reads Parquet).
    """
    import os
    import stat

    if path not in (None, "-"):
        assert path is not None
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return  # the reader names the missing file
        if not stat.S_ISREG(mode):
            print(f"lead-rules: cannot open {path}: not a regular file (a FIFO, device or folder); "
                  "give - to read a stream", file=sys.stderr)
            raise SystemExit(2)
        return
    peek = getattr(getattr(sys.stdin, "buffer", None), "peek", None)
    if peek is not None and bytes(peek(4))[:4] == b"PAR1":
        print("lead-rules: standard input is a Parquet file, not JSON Lines; this command reads JSON Lines "
              "(a Parquet population is read by 'lead-rules align')", file=sys.stderr)
        raise SystemExit(2)
