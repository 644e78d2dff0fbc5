"""No traceback from any command on any input: every subcommand over a table of bad inputs
(wrong format, wrong extension, missing optional dependency, unreadable path, directory as
output, /dev/full) gives a one-line error, the documented exit code, and no Python traceback."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import sys
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
    (root / "trunc.parquet").write_bytes(full.read_bytes()[:3000])  # a Parquet file cut short
    (root / "out.txt").write_bytes(full.read_bytes()[:3000])
    lines = paths["jsonl"].read_text(encoding="utf-8").splitlines()
    (root / "three.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    (root / "badline.jsonl").write_text('{"bene_id": "ZZ1", "x": \n', encoding="utf-8")
    (root / "invalid.jsonl").write_text('{"bene_id": "ZZ2", "months": "bad"}\n', encoding="utf-8")
    (root / "typo.yaml").write_text(market.replace("performance_year:", "performance_yaer:"), encoding="utf-8")
    big = json.loads(lines[0])
    for claim in big.get("claims", []):
        claim["line"] = 9_000_000_000_000_000_000  # within int64 alone; their sum is not
    (root / "big.json").write_text(json.dumps(big), encoding="utf-8")
    (root / "dup.yaml").write_text("a: 1\na: 2\n", encoding="utf-8")
    (root / "broken.yaml").write_text("a: [1\nb: }\n", encoding="utf-8")
    (root / "deep.yaml").write_text("a: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
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
CASES += [
    # unreadable outputs and decisions, misuse of options (probe findings 13, 18, 21, 22)
    ("explain from a truncated Parquet output",
     lambda f: ["explain", *_pm(f), "--from-output", str(f["root"] / "trunc.parquet"), "--id", "X"], 2,
     "cannot read"),
    ("explain from an output with an odd extension",
     lambda f: ["explain", *_pm(f), "--from-output", str(f["root"] / "out.txt"), "--id", "X"], 2,
     "unknown output format"),
    ("explain with --input and --from-output",
     lambda f: ["explain", *_pm(f), "--input", str(f["jsonl"]), "--from-output", str(f["full"]), "--id", "X"], 2,
     "not both"),
    ("explain an id on a line that is not JSON",
     lambda f: ["explain", *_pm(f), "--input", str(f["root"] / "badline.jsonl"), "--id", "ZZ1"], 2, "unreadable"),
    ("diff a truncated Parquet population",
     lambda f: ["diff", "--old", str(LEAD), "--new", str(LEAD), "--market", str(f["market"]), "--input",
                str(f["root"] / "trunc.parquet")], 2, "No magic bytes"),
    ("diff two kinds of policy",
     lambda f: ["diff", "--old", str(LEAD), "--new", str(REPO / "policies" / "state-selection"), "--market",
                str(f["market"]), "--input", str(f["jsonl"])], 2, "kind ranking"),
    ("report a truncated Parquet file",
     lambda f: ["report", "--input", str(f["root"] / "trunc.parquet"), "--output", str(f["root"] / "r.html")], 2,
     "cannot read"),
    ("report a population as decisions",
     lambda f: ["report", "--input", str(f["jsonl"]), "--output", str(f["root"] / "r.html")], 2,
     "not a decisions file"),
    ("report with a population of another size",
     lambda f: ["report", "--input", str(f["full"]), "--population", str(f["root"] / "three.jsonl"), "--output",
                str(f["root"] / "r.html")], 2, "has 3 rows"),
    ("why-not --want on an alignment policy",
     lambda f: ["why-not", *_pm(f), "--input", str(f["jsonl"]), "--id", str(f["first_id"]), "--want", "foo"], 2,
     "--want is for decision kinds"),
    ("why-not on a truncated Parquet population",
     lambda f: ["why-not", *_pm(f), "--input", str(f["root"] / "trunc.parquet"), "--id", "X", "--aco", "Y"], 2,
     "cannot read"),
    ("eval-expr on a truncated Parquet population",
     lambda f: ["eval-expr", *_pm(f), "--record", str(f["root"] / "trunc.parquet"), "--id", "X", "bene"], 2,
     "cannot read"),
    ("why-not an id on a line that is not JSON",
     lambda f: ["why-not", *_pm(f), "--input", str(f["root"] / "badline.jsonl"), "--id", "ZZ1", "--aco", "X"], 2,
     "unreadable"),
    ("sql of a decision kind",
     lambda f: ["sql", "--policy", str(REPO / "policies" / "state-selection"), "--market", str(f["market"])], 1,
     "S120"),
    ("evaluate negative --trace-depth",
     lambda f: ["evaluate", *_pm(f), "--input", str(f["jsonl"]), "--trace", "--trace-depth", "-1"], 2, ">= 0"),
    ("evaluate negative --trace-values",
     lambda f: ["evaluate", *_pm(f), "--input", str(f["jsonl"]), "--trace", "--trace-values=-5"], 2, ">= 0"),
    ("misspelt option", lambda f: ["explain", "--polcy", str(LEAD), "--id", "X"], 2, "did you mean '--policy'"),
    ("missing required option", lambda f: ["explain", *_pm(f)], 2, "required: --id"),
    ("fmt a file with a duplicate key", lambda f: ["fmt", str(f["root"] / "dup.yaml")], 2, "dup.yaml:2:1"),
    ("fmt broken YAML", lambda f: ["fmt", str(f["root"] / "broken.yaml")], 2, "broken.yaml:2:"),
    ("fmt deeply nested YAML", lambda f: ["fmt", str(f["root"] / "deep.yaml")], 2, "nested deeper"),
    ("eval-expr integer overflow at run time",
     lambda f: ["eval-expr", *_pm(f), "--record", str(f["root"] / "big.json"), "sum(c.line for c in bene.claims)"],
     2, "<expression>:1:1: evaluation error: integer overflow"),
    ("schema file with a duplicate key", lambda f: ["schema", str(f["root"] / "dup.yaml")], 1, "duplicate key 'a'"),
    ("market base that is Parquet",
     lambda f: ["market", "--base", str(f["parquet"]), "--arrangements", str(f["jsonl"]), "--output",
                str(f["root"] / "m.yaml")], 2, "not UTF-8"),
    ("market with a misspelt key",
     lambda f: ["sql", "--policy", str(LEAD), "--market", str(f["root"] / "typo.yaml")], 2,
     "did you mean 'performance_year'"),
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


def test_why_not_on_an_invalid_record_lists_its_causes(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    aco = __import__("yaml").safe_load(files["market"].read_text(encoding="utf-8"))["acos"][0]["id"]
    invalid = str(files["root"] / "invalid.jsonl")
    code = main(["why-not", *_pm(files), "--input", invalid, "--id", "ZZ2", "--aco", aco])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "months: Input should be a valid list" in err
    assert "[{" not in err  # no Python repr


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), RuntimeError("Query interrupted")])
def test_an_interrupted_command_says_so_and_exits_130(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    def stopped(_args: object) -> int:
        raise failure

    monkeypatch.setattr(sys.modules["lead_rules.cli.main"], "cmd_align", stopped)
    code = main(["align", *_pm(files), "--input", str(files["jsonl"]), "--output", "-"])
    assert code == 130
    assert capsys.readouterr().err == "lead-rules: interrupted\n"


@pytest.mark.parametrize("failure", [OverflowError("integer overflow"), RecursionError("maximum recursion depth"),
                                     LookupError("odd")])
def test_no_failure_is_reported_as_an_internal_error(failure: Exception) -> None:
    from lead_rules.cli.main import describe_failure

    text = describe_failure(failure)
    assert "internal error" not in text and "please report" not in text
    assert "\n" not in text


def test_a_misspelt_market_key_is_not_also_a_missing_field(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["sql", "--policy", str(LEAD), "--market", str(files["root"] / "typo.yaml")])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "did you mean 'performance_year'" in err
    assert "Field required" not in err  # the typo is the root; the missing field is its consequence
