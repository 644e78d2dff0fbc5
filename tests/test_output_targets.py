"""Every command that writes a file goes through one writer (lead_rules/engine/output_files.py).

Table-driven: each command x {a device, a FIFO, a symlink, a folder, the same file as an input, --log ==
--output}. A device or FIFO is written in place (never replaced), a symlink is written through (the link
kept, its target a regular file), a folder or an input is refused in one line with exit 2 and nothing left
behind; a SIGTERM during ``evaluate --log`` leaves no temporary file. Devices are our own nodes in tmp_path
(a copy of /dev/full, a FIFO), never the real /dev/full or /dev/stdout.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lead_rules.cli import main
from lead_rules.engine.output_files import TEMP_PREFIX, OutputRefused, atomic_output, refuse_outputs
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
PARTNERSHIP = REPO / "policies" / "partnership" / "samples"


@pytest.fixture(scope="module")
def pop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("targets")
    paths = write_population(root / "pop", 4, 5, 2028, ("jsonl",))
    decisions = root / "decisions.jsonl"
    assert main(["evaluate", "--policy", str(LEAD), "--market", str(paths["market"]), "--input",
                 str(paths["jsonl"]), "--output", str(decisions)]) == 0
    return {**paths, "decisions": decisions}


def _aco(pop: dict[str, Path]) -> tuple[str, str]:
    first = json.loads(pop["jsonl"].read_text().splitlines()[0])
    import yaml

    market = yaml.safe_load(pop["market"].read_text())
    return first["bene_id"], market["acos"][0]["id"]


def _argv(command: str, pop: dict[str, Path], out: Path) -> list[str]:
    """The command line of ``command`` writing ``out`` (its --output, or the file fmt rewrites)."""
    if command == "fmt":
        return ["fmt", str(out)]
    market, inp = str(pop["market"]), str(pop["jsonl"])
    if command == "evaluate":
        return ["evaluate", "--policy", str(LEAD), "--market", market, "--input", inp, "--output", str(out)]
    if command == "evaluate-log":
        return ["evaluate", "--policy", str(LEAD), "--market", market, "--input", inp, "--output",
                str(out.parent / "o.jsonl"), "--log", str(out)]
    if command == "align":
        return ["align", "--policy", str(LEAD), "--market", market, "--input", inp, "--output", str(out),
                "--format", "jsonl", "--quiet"]
    if command == "align-log":
        return ["align", "--policy", str(LEAD), "--market", market, "--input", inp, "--output",
                str(out.parent / "y.parquet"), "--log", str(out), "--quiet"]
    if command == "why-not":
        bene, aco = _aco(pop)
        return ["why-not", "--policy", str(LEAD), "--market", market, "--input", inp, "--id", bene, "--aco", aco,
                "--output", str(out)]
    if command == "diff":
        return ["diff", "--old", str(LEAD), "--set", "pc_specialist_min_share=0.9", "--market", market, "--input",
                inp, "--output", str(out)]
    if command == "report":
        return ["report", "--input", str(pop["decisions"]), "--output", str(out)]
    if command == "market":
        return ["market", "--base", str(PARTNERSHIP / "base-market.yaml"), "--arrangements",
                str(PARTNERSHIP / "arrangements.yaml"), "--output", str(out)]
    raise AssertionError(command)


COMMANDS = ["evaluate", "evaluate-log", "align", "align-log", "why-not", "diff", "report", "market"]
SUFFIX = {"evaluate": ".jsonl", "evaluate-log": ".log", "align": ".out", "align-log": ".log", "why-not": ".jsonl",
          "diff": ".json", "report": ".html", "market": ".yaml"}


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX) or p.suffix == ".tmp")


@pytest.mark.parametrize("command", COMMANDS)
def test_symlink_written_through(command: str, pop: dict[str, Path], tmp_path: Path) -> None:
    real = tmp_path / "real" / f"target{SUFFIX[command]}"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / f"link{SUFFIX[command]}"
    link.symlink_to(real)
    assert _run(_argv(command, pop, link)) in (0, 1)
    assert link.is_symlink() and os.readlink(link) == str(real)  # the link kept
    assert real.is_file() and real.read_text() != "old\n" and real.stat().st_size > 0
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_full_device_written_in_place(command: str, pop: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    full = tmp_path / "myfull"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # our own /dev/full
    code = _run(_argv(command, pop, full))
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    assert stat.S_ISCHR(full.stat().st_mode)  # never replaced by a regular file
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_fifo_written_in_place(command: str, pop: dict[str, Path], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # our reader and a writer first: nothing blocks or hangs
    wfd = os.open(fifo, os.O_WRONLY)
    os.set_blocking(rfd, True)
    got: list[bytes] = []

    def read() -> None:
        while chunk := os.read(rfd, 1 << 16):
            got.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert _run(_argv(command, pop, fifo)) in (0, 1)
    finally:
        os.close(wfd)  # the end of the stream once the command's writer closed too
        reader.join(10)
        os.close(rfd)
    got = [b"".join(got)]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and got and len(got[0]) > 0
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_folder_refused_in_one_line(command: str, pop: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()
    assert _run(_argv(command, pop, folder)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "it is a folder" in err[0], err
    assert list(folder.iterdir()) == [] and _leftovers(tmp_path) == []


SAME_AS_INPUT: list[tuple[str, Callable[[dict[str, Path]], Path]]] = [
    ("evaluate", lambda p: p["jsonl"]),
    ("evaluate", lambda p: p["market"]),
    ("evaluate-log", lambda p: p["jsonl"]),
    ("align-log", lambda p: p["jsonl"]),
    ("align-log", lambda p: p["market"]),
    ("why-not", lambda p: p["jsonl"]),
    ("diff", lambda p: p["jsonl"]),
    ("report", lambda p: p["decisions"]),
    ("market", lambda p: PARTNERSHIP / "base-market.yaml"),
]


@pytest.mark.parametrize(("command", "which"), SAME_AS_INPUT)
def test_output_over_an_input_refused(command: str, which: Callable[[dict[str, Path]], Path], pop: dict[str, Path],
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = which(pop)
    before = target.read_bytes()
    link = tmp_path / f"alias{target.suffix}"  # through a link too: the same file
    link.symlink_to(target)
    for out in (target, link):
        assert _run(_argv(command, pop, out)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is the input" in err[0], err
    assert target.read_bytes() == before


@pytest.mark.parametrize("command", ["evaluate", "align"])
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_log_equal_to_output_refused(command: str, suffix: str, pop: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    if command == "evaluate" and suffix == ".parquet":
        suffix = ".json"
    out = tmp_path / f"y{suffix}"
    argv = _argv(command, pop, out)
    assert _run([*argv, "--log", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--log" in err[0] and "same file" in err[0], err
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".txt"])
def test_evaluate_refuses_a_non_json_lines_name(suffix: str, pop: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"o{suffix}"
    assert _run(_argv("evaluate", pop, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "JSON Lines" in err[0] and "align" in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("engine", ["duckdb", "interpreter"])
def test_align_jsonl_output_with_log(engine: str, pop: dict[str, Path], tmp_path: Path) -> None:
    """Finding 2: the log reads the JSON Lines output back (DuckDB's reader saw only two columns)."""
    out, log = tmp_path / "y.jsonl", tmp_path / "y.log"
    argv = ["align", "--policy", str(LEAD), "--market", str(pop["market"]), "--input", str(pop["jsonl"]),
            "--output", str(out), "--log", str(log), "--engine", engine, "--quiet"]
    assert _run(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    fields = ("bene_id", "outcome", "aco_id", "pathway")
    assert [tuple(e[k] for k in fields) for e in logged] == [tuple(r[k] for k in fields) for r in rows]
    assert len(rows) == 4 and _leftovers(tmp_path) == []


def test_fmt_symlinked_file_rewritten_at_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("a:   1\nb:     [1,2]\n")
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert _run(_argv("fmt", {}, link)) == 0
    assert link.is_symlink() and real.read_text() != "a:   1\nb:     [1,2]\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file replaced keeps its permissions
    assert _leftovers(tmp_path) == []


def test_atomic_output_removes_its_folder_on_error(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_refuse_outputs_two_links_to_one_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.symlink_to(tmp_path / "same.jsonl")
    b.symlink_to(tmp_path / "same.jsonl")
    with pytest.raises(OutputRefused, match="same file"):
        refuse_outputs({"--output": str(a), "--log": str(b)}, [])
    refuse_outputs({"--output": str(a), "--log": str(tmp_path / "other.log")}, [])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_evaluate_log_leaves_nothing(sig: signal.Signals, pop: dict[str, Path], tmp_path: Path) -> None:
    """A killed ``evaluate --log`` (reading a pipe that never ends) leaves no partial log or temporary file."""
    out, log = tmp_path / "o.jsonl", tmp_path / "d.log"
    cmd = [sys.executable, "-m", "lead_rules.cli", "evaluate", "--policy", str(LEAD), "--market",
           str(pop["market"]), "--output", str(out), "--log", str(log)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdin is not None
    proc.stdin.write(pop["jsonl"].read_bytes())
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir()):  # the writers have started
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"Traceback" not in err, err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
