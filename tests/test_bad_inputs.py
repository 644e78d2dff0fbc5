"""No traceback from any command on any input: every subcommand over a table of bad inputs
(wrong format, wrong extension, missing optional dependency, unreadable path, directory as
output, /dev/full) gives a one-line error, the documented exit code, and no Python traceback."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lead_rules.cli.main import main
from lead_rules.synth.generate import write_population

REPO = Path(__file__).resolve().parent.parent
LEAD = REPO / "policies" / "lead"
HAS_SPARK = importlib.util.find_spec("pyspark") is not None
DEV_FULL = Path("/dev/full").exists()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    paths = write_population(root / "pop", 20, 7, 2028, ("jsonl", "parquet"))
    decisions = root / "decisions.parquet"
    common = ["--policy", str(LEAD), "--market", str(paths["market"]), "--quiet"]
    assert main(["align", *common, "--input", str(paths["jsonl"]), "--output", str(decisions), "--columns",
                 "decisions"]) == 0
    full = root / "full.parquet"
    assert main(["align", *common, "--input", str(paths["jsonl"]), "--output", str(full)]) == 0
    edited = root / "lead-edited"  # the LEAD policy after the run: another content hash
    shutil.copytree(LEAD, edited)
    (edited / "parameters.yaml").write_text((LEAD / "parameters.yaml").read_text(encoding="utf-8") + "\n# edited\n",
                                            encoding="utf-8")
    market = paths["market"].read_text(encoding="utf-8")
    (root / "market-2040.yaml").write_text(market.replace("performance_year: 2028", "performance_year: 2040"),
                                           encoding="utf-8")
    (root / "binary.yaml").write_bytes(b"\xff\xfe\x00not yaml\x00")
    (root / "empty").mkdir()
    first = json.loads(paths["jsonl"].read_text(encoding="utf-8").splitlines()[0])["bene_id"]
    return {**paths, "root": root, "decisions": decisions, "binary": root / "binary.yaml", "empty": root / "empty",
            "full": full, "edited": edited, "market-2040": root / "market-2040.yaml",
            "missing": root / "no-such-file.jsonl", "first_id": Path(first)}


Build = Callable[[dict[str, Path]], list[str]]


def _pm(f: dict[str, Path]) -> list[str]:
    return ["--policy", str(LEAD), "--market", str(f["market"])]


# (id, argv, exit code, words the one line must contain)
CASES: list[tuple[str, Build, int, str]] = [
    ("evaluate parquet as jsonl", lambda f: ["evaluate", *_pm(f), "--input", str(f["parquet"])], 2, "UTF-8"),
    ("explain parquet as jsonl", lambda f: ["explain", *_pm(f), "--input", str(f["parquet"]), "--id", "X"], 2, "UTF-8"),
    ("evaluate missing input", lambda f: ["evaluate", *_pm(f), "--input", str(f["missing"])], 2, "cannot open"),
    ("evaluate folder as input", lambda f: ["evaluate", *_pm(f), "--input", str(f["empty"])], 2, "cannot open"),
    ("evaluate folder as output",
     lambda f: ["evaluate", *_pm(f), "--input", str(f["jsonl"]), "--output", str(f["empty"])], 2, "cannot open"),
    ("align .txt output",
     lambda f: ["align", *_pm(f), "--input", str(f["jsonl"]), "--output", str(f["root"] / "x.txt"), "--quiet"],
     2, "unknown output format"),
    ("align folder as output",
     lambda f: ["align", *_pm(f), "--input", str(f["jsonl"]), "--output", str(f["empty"]), "--quiet"], 2, "folder"),
    ("align market as input",
     lambda f: ["align", *_pm(f), "--input", str(f["market"]), "--output", str(f["root"] / "y.parquet"), "--quiet"],
     2, "unknown input format"),
    ("align folder without tables",
     lambda f: ["align", *_pm(f), "--input", str(f["empty"]), "--output", str(f["root"] / "y.parquet"), "--quiet"],
     2, "beneficiaries"),
    ("align missing input",
     lambda f: ["align", *_pm(f), "--input", str(f["missing"]), "--output", str(f["root"] / "y.parquet"), "--quiet"],
     2, "no such input"),
    ("explain from a decisions-only output",
     lambda f: ["explain", *_pm(f), "--from-output", str(f["decisions"]), "--id", str(f["first_id"])], 2,
     "--columns decisions"),
    ("market is parquet", lambda f: ["sql", "--policy", str(LEAD), "--market", str(f["parquet"])], 2, "cannot read"),
    ("market is binary", lambda f: ["sql", "--policy", str(LEAD), "--market", str(f["binary"])], 2, "cannot read"),
    ("market missing", lambda f: ["sql", "--policy", str(LEAD), "--market", str(f["missing"])], 2, ""),
    ("policy is parquet", lambda f: ["sql", "--policy", str(f["parquet"]), "--market", str(f["market"])], 1, ""),
    ("check a binary file", lambda f: ["check", str(f["binary"])], 1, ""),
    ("check a missing path", lambda f: ["check", str(f["missing"])], 1, ""),
    ("test a missing path", lambda f: ["test", str(f["missing"])], 2, ""),
    ("test a parquet file", lambda f: ["test", str(f["parquet"])], 2, ""),
    ("generate over a file", lambda f: ["generate", "--output", str(f["market"]), "--n", "3"], 2, "File exists"),
    # streaming and provenance options (issue 14)
    ("align bad --format value",
     lambda f: ["align", *_pm(f), "--input", str(f["jsonl"]), "--output", "-", "--format", "xml"], 2, "invalid choice"),
    ("align bad --input-format value",
     lambda f: ["align", *_pm(f), "--input", "-", "--output", "-", "--input-format", "csv"], 2, "invalid choice"),
    ("align jsonl read as --input-format parquet",
     lambda f: ["align", *_pm(f), "--input", str(f["jsonl"]), "--input-format", "parquet", "--output",
                str(f["root"] / "z.parquet"), "--quiet"], 2, "not a Parquet file"),
    ("align odd extension without --format",
     lambda f: ["align", *_pm(f), "--input", str(f["jsonl"]), "--output", str(f["root"] / "z.out"), "--quiet"],
     2, "--format jsonl|parquet|csv"),
    ("explain bad --policy-hash-mismatch value",
     lambda f: ["explain", *_pm(f), "--from-output", str(f["full"]), "--id", "X", "--policy-hash-mismatch", "maybe"],
     2, "invalid choice"),
    ("explain from the output of another policy",
     lambda f: ["explain", "--policy", str(f["edited"]), "--market", str(f["market"]), "--from-output", str(f["full"]),
                "--id", str(f["first_id"])], 3, "--policy-hash-mismatch=warn"),
    ("explain from a missing output",
     lambda f: ["explain", *_pm(f), "--from-output", str(f["missing"]), "--id", "X"], 2, "no such output"),
    ("market outside the effective period",
     lambda f: ["align", "--policy", str(LEAD), "--market", str(f["market-2040"]), "--input", str(f["jsonl"]),
                "--output", "-"], 2, "outside the effective period"),
    ("bad --allow-outside-effective value",
     lambda f: ["sql", *_pm(f), "--allow-outside-effective=yes"], 2, "ignored explicit argument"),
]
if not HAS_SPARK:
    CASES.append((
        "spark without pyspark",
        lambda f: ["align", "--engine", "spark", *_pm(f), "--input", str(f["jsonl"]), "--output",
                   str(f["root"] / "s.parquet"), "--quiet"],
        2, "pip install 'lead-rules[spark]'",
    ))
if DEV_FULL:
    CASES += [
        ("align --format parquet to /dev/full",
         lambda f: ["align", *_pm(f), "--input", str(f["jsonl"]), "--output", "/dev/full", "--format", "parquet",
                    "--quiet"], 2, "No space left"),
        ("evaluate to /dev/full",
         lambda f: ["evaluate", *_pm(f), "--input", str(f["jsonl"]), "--output", "/dev/full"], 2, "No space left"),
        ("generate to /dev/full", lambda f: ["generate", "--output", "/dev/full", "--n", "3"], 2, "/dev/full"),
    ]


# (id, argv, standard input, exit code, words): bad bytes on standard input ("-")
STDIN_CASES: list[tuple[str, Build, bytes, int, str]] = [
    ("align stdin that is not Parquet", lambda f: ["align", *_pm(f), "--input", "-", "--output", "-"],
     b"PAR1 truncated", 2, "not a valid Parquet file"),
    ("align stdin forced to Parquet", lambda f: ["align", *_pm(f), "--input", "-", "--output", "-", "--input-format",
     "parquet"], b'{"bene_id": "B1"}\n', 2, "not a valid Parquet file"),
    ("evaluate stdin that is Parquet", lambda f: ["evaluate", *_pm(f)], b"PAR1\x00\x00binary", 0, ""),
]


@pytest.mark.parametrize(("argv", "stdin", "code", "words"), [c[1:] for c in STDIN_CASES],
                         ids=[c[0] for c in STDIN_CASES])
def test_bad_standard_input_gives_one_line_and_the_exit_code(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    argv: Build, stdin: bytes, code: int, words: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    if code == 0:  # a binary line on standard input is an error row of evaluate, never a traceback
        assert main(argv(files)) == 0
        assert "Traceback" not in capsys.readouterr().err
        return
    test_bad_input_gives_one_line_and_the_exit_code(files, capsys, argv, code, words)


@pytest.mark.parametrize(("argv", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_the_exit_code(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], argv: Build, code: int, words: str
) -> None:
    capsys.readouterr()
    args = argv(files)
    try:
        got = main(args)
    except SystemExit as exc:  # argparse and the loaders exit this way
        got = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    # check and test report on standard output (their report is the product); the others on standard error
    err = captured.out + captured.err if args[0] in ("check", "test") else captured.err
    assert got == code, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, "an error must say something"
    heads = [
        ln for ln in lines
        if ln.startswith(("lead-rules:", "no policy test files")) or ": error[" in ln or ": error:" in ln
    ]
    assert heads, err
    if heads[0].startswith("lead-rules:") and ": error[" not in err:
        assert len(lines) == 1, err  # one line, not a report
    assert words in err
