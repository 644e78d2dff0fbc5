"""Standard input and output for ``lead-rules align``: ``-`` as --input or --output, and ``--format``.

Used by :func:`lead_rules.cli.main.cmd_align`. The engines read and write
files (DuckDB and Spark need a path, Parquet a seekable file), so standard
input is first copied to a temporary file (hashed and counted on the way, for
the provenance) and an output to standard output, to a device or a pipe, or to
a file whose extension does not name its format, is written to a temporary file
of the right extension first. A regular output file is still written atomically
(:mod:`lead_rules.engine.output_files`): the finished file is moved onto it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

OUTPUT_EXTENSIONS = {"jsonl": ".jsonl", "parquet": ".parquet", "csv": ".csv"}
"""``--format`` -> the extension the engines write it by."""
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".csv": "csv"}


class StreamError(ValueError):
    """A command line the streams cannot serve (one line for the user)."""


@dataclass
class AlignStreams:
    """The paths the engine reads and writes for one ``align`` run, and how to deliver the output."""

    input_path: str
    output_path: Path
    fmt: str
    input_info: dict[str, Any] | None = None
    deliver: Callable[[dict[str, Any]], None] | None = None  # given the provenance after the run
    to_stdout: bool = False
    work: Path | None = None
    notes: list[str] = field(default_factory=list)
    sidecar: dict[str, Any] | None = None


def is_stream(path: str) -> bool:
    """``-``, or an existing path that is neither a file nor a folder (/dev/stdout, a FIFO)."""
    p = Path(path)
    return path == "-" or (p.exists() and not p.is_file() and not p.is_dir())


def output_format(output: str, fmt: str | None) -> str:
    """The format of ``output``: ``--format``, else its extension; a stream defaults to JSON Lines."""
    if fmt is not None:
        return fmt
    suffix = Path(output).suffix.lower()
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    if is_stream(output):
        return "jsonl"
    raise StreamError(
        f"unknown output format {suffix or '(no extension)'!r} of {output}: expected .parquet, .csv or .jsonl, "
        "or give --format jsonl|parquet|csv"
    )


def _spool_stdin(work: Path, fmt: str | None) -> tuple[Path, dict[str, Any]]:
    """Copy standard input to a file of ``work``; return it and its provenance (path ``-``, rows, hash)."""
    src: IO[bytes] = sys.stdin.buffer
    digest = hashlib.sha256()
    path = work / "stdin"
    with open(path, "wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
    with open(path, "rb") as fh:
        head = fh.read(4)
    fmt = fmt or ("parquet" if head == b"PAR1" else "jsonl")
    named = path.rename(work / f"stdin{'.parquet' if fmt == 'parquet' else '.jsonl'}")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_metadata(named).num_rows
        except Exception as exc:  # pyarrow raises ArrowInvalid (a ValueError) or OSError
            raise StreamError(f"standard input is not a valid Parquet file: {str(exc).splitlines()[0]}") from None
    else:
        with open(named, "rb") as fh:
            rows = sum(1 for line in fh if line.strip())
    return named, {"path": "-", "hash": digest.hexdigest(), "rows": rows}


def _parquet_magic(path: Path) -> bool:
    """Whether ``path`` starts and ends with Parquet's ``PAR1`` (a whole file, not a truncated one)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 12:
            return False
        fh.seek(-4, os.SEEK_END)
        return head == b"PAR1" and fh.read(4) == b"PAR1"


@contextlib.contextmanager
def align_streams(args: argparse.Namespace) -> Iterator[AlignStreams]:
    """The input and output paths of ``align`` for ``args`` (``-``, ``--format``, ``--input-format``).

    Temporary files live in one folder removed when the block ends; the output
    is delivered (to standard output, a device, or moved onto an odd-extension
    file) by ``streams.deliver()`` inside the block.
    """
    import tempfile

    from ..engine.output_files import atomic_output
    from ..engine.provenance import file_hash, sidecar_path, write_sidecar

    fmt = output_format(args.output, args.format)
    in_fmt = getattr(args, "input_format", None)
    ext = OUTPUT_EXTENSIONS[fmt]
    with contextlib.ExitStack() as stack:
        work: Path | None = None

        def workdir() -> Path:
            nonlocal work
            if work is None:
                work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lead-rules-stream-")))
            return work

        input_path, input_info = args.input, None
        if args.input == "-":
            spooled, input_info = _spool_stdin(workdir(), in_fmt)
            input_path = str(spooled)
        elif in_fmt is not None and not Path(args.input).is_dir():
            wanted = ".parquet" if in_fmt == "parquet" else ".jsonl"
            if _SUFFIX_FORMATS.get(Path(args.input).suffix.lower()) != in_fmt:  # odd extension: a link named right
                link = workdir() / f"input{wanted}"
                os.symlink(Path(args.input).resolve(), link)
                input_path = str(link)
                input_info = {"path": args.input, "hash": file_hash(args.input)}
        if args.input != "-" and Path(args.input).is_file():
            is_parquet = (in_fmt or _SUFFIX_FORMATS.get(Path(args.input).suffix.lower())) == "parquet"
            if is_parquet and not _parquet_magic(Path(args.input)):
                raise StreamError(f"{args.input} is not a Parquet file (no PAR1 magic at its start and end)")
        streams = AlignStreams(input_path, Path(args.output), fmt, input_info)
        if is_stream(args.output):
            streams.output_path = workdir() / f"decisions{ext}"
            streams.to_stdout = args.output == "-"

            def deliver_stream(record: dict[str, Any]) -> None:
                dst = sys.stdout.buffer if args.output == "-" else stack.enter_context(open(args.output, "wb"))
                with open(streams.output_path, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                if fmt != "parquet":  # no sidecar beside a stream: the provenance on standard error
                    print("lead-rules: provenance " + json.dumps(record, separators=(",", ":"), default=str),
                          file=sys.stderr)

            streams.deliver = deliver_stream
        elif _SUFFIX_FORMATS.get(Path(args.output).suffix.lower()) != fmt:
            target = Path(args.output)
            partial = stack.enter_context(atomic_output(target))
            streams.output_path = partial.parent / f"decisions{ext}"

            def deliver_file(record: dict[str, Any]) -> None:
                os.replace(streams.output_path, partial)
                if fmt != "parquet":
                    sidecar_path(target).unlink(missing_ok=True)  # never stale; written after the move
                    streams.sidecar = record

            streams.deliver = deliver_file
        streams.work = work
        yield streams
    if streams.sidecar is not None:  # an odd-extension CSV or JSON Lines file, moved into place: its sidecar beside it
        write_sidecar(args.output, streams.sidecar)


def run_align(args: argparse.Namespace, refuse_output: Callable[[str, list[str | None]], None]) -> int:
    """``lead-rules align``: load, check the paths (``refuse_output`` exits when the output is an input), run."""
    import json

    from ..engine.provenance import prefetch_file_hash
    from ..sql.run import align
    from .loading import alignment_policy_or_exit, market_or_exit

    if args.input != "-":
        prefetch_file_hash(args.input)  # the provenance's input hash, on the other core while the policy loads
    policy = alignment_policy_or_exit(args.policy)  # located diagnostics before any engine starts
    market = market_or_exit(args.market, policy, args.allow_outside_effective)
    if args.input != "-" and not Path(args.input).exists():
        print(f"lead-rules: no such input {args.input}", file=sys.stderr)
        return 2
    if Path(args.output).is_dir():
        print(f"lead-rules: --output {args.output} is a folder: give a .parquet, .csv or .jsonl file", file=sys.stderr)
        return 2
    if not is_stream(args.output):
        refuse_output(args.output, [args.input, args.market, args.policy])
    try:
        with align_streams(args) as streams:
            summary = align(
                policy,
                market,
                streams.input_path,
                streams.output_path,
                engine=args.engine,
                progress=not args.quiet and not streams.to_stdout,  # the progress display writes to stdout
                columns=args.columns,
                input_info=streams.input_info,
            )
            if args.log:  # the decision log (lead_rules/tools/decision_log.py), from the files the engine used
                from .tools import write_align_log_or_exit

                write_align_log_or_exit(
                    argparse.Namespace(**{**vars(args), "input": streams.input_path, "output": streams.output_path})
                )
            if streams.deliver is not None:
                counts = {k: summary[k] for k in ("read", "decided", "errors", "aligned", "not_aligned", "by_pathway")}
                streams.deliver({**summary["provenance"], "counts": counts})
            summary["output"] = args.output
    except StreamError as exc:
        print(f"lead-rules: {exc}", file=sys.stderr)
        return 2
    for note in streams.notes:
        print(f"lead-rules: note: {note}", file=sys.stderr)
    print(
        f"read {summary['read']}, decided {summary['decided']}, errors {summary['errors']} "
        f"(aligned {summary['aligned']}, not_aligned {summary['not_aligned']}) "
        f"in {summary['seconds']} s with {summary['engine']} -> {summary['output']}",
        file=sys.stderr,
    )
    if args.summary_json:  # on standard error when standard output is the decisions
        print(json.dumps(summary, indent=2, default=str), file=sys.stderr if streams.to_stdout else sys.stdout)
    return 1 if args.strict and summary["errors"] else 0
