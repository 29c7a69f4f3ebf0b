"""What phototag prints, as a person (or a script) sees it: exit codes, warning lines, errors and tables.

Every test runs phototag in a real process on real files (Pillow JPEGs, hand-written sidecars),
with stdout and stderr a pipe or a terminal (a pty) as stated, and COLUMNS set or not as stated.
"""

from __future__ import annotations

import json
import os
import pty
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from photos import make_jpeg, write_sidecar

from tests.train.small_library import build_library

REPO = Path(__file__).resolve().parents[2]
# An XMP packet with a DTD declaring an external entity: refused, never expanded (XXE).
XXE_SIDECAR = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&e;</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
# File names a hostile folder may hold: a newline, an ANSI colour sequence, rich markup, an emoji code, a tab.
HOSTILE_NAMES = ["new\nline.jpg", "esc\x1b[31mred.jpg", "[bold]x[/bold] :smile: tab\there.jpg"]
ESCAPED_NAMES = ["new\\nline.jpg", "esc\\x1b[31mred.jpg", "[bold]x[/bold] :smile: tab\\there.jpg"]


def run(*args: str, columns: Optional[int] = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """phototag in a real process; stdout and stderr pipes (not terminals); COLUMNS only when given."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "phototag", *args], cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=600
    )


def stderr_of(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.decode("utf-8")


def log_file(stderr: str) -> Path:
    return Path(stderr.split("details in ")[-1].strip())


# --- item 10: exit status when only warnings were given -------------------------------------------------


def test_a_refused_sidecar_exits_3_and_the_closing_line_says_so(tmp_path):
    root = tmp_path / "lib"
    make_jpeg(root / "a.jpg")
    (root / "a.xmp").write_text(XXE_SIDECAR)
    make_jpeg(root / "b.jpg")
    proc = run("scan", str(root), columns=250)
    err = stderr_of(proc)
    assert proc.returncode == 3, err  # was 0: the photo's keywords were not read, and nothing said so in the code
    last = err.strip().splitlines()[-1]
    assert last.startswith("1 warning(s), 0 file(s) skipped, 1 file(s) whose keywords were not all read; details in ")
    text = log_file(err).read_text()
    assert "a.xmp: sidecar not read: XMP refused" in text and "a.jpg: not all of its keywords were read" in text


def test_warnings_alone_exit_0_and_are_counted_in_the_closing_line(tmp_path):
    root = tmp_path / "lib"
    # an EXIF block whose first directory lies outside it: the EXIF is not read, nothing else is lost
    make_jpeg(root / "b.jpg", exif=b"Exif\x00\x00II*\x00" + struct.pack("<I", 4000) + b"\x00" * 8)
    proc = run("scan", str(root), columns=250)
    err = stderr_of(proc)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1].startswith("1 warning(s), 0 file(s) skipped; details in ")
    assert "EXIF/TIFF directory offset 4000 lies outside the data" in log_file(err).read_text()


# --- item 13: one warning, one line, control characters escaped, no markup ---------------------------------


@pytest.fixture
def hostile_library(tmp_path) -> Path:
    """Photos with hostile names whose sidecars are refused (one warning each), in a folder whose
    long name makes every warning line longer than 80 columns."""
    root = tmp_path / ("a-folder-with-a-rather-long-name-" * 3)
    for name in HOSTILE_NAMES:
        make_jpeg(root / name)
        (root / f"{name}.xmp").write_text(XXE_SIDECAR)
    return root


def _check_warning_lines(text: str, root: Path) -> None:
    lines = [line for line in text.splitlines() if "sidecar not read" in line]
    assert len(lines) == len(HOSTILE_NAMES), text  # one line each: not wrapped, no newline from a name
    for escaped in ESCAPED_NAMES:
        line = next(line for line in lines if escaped in line)
        assert f"{root}/{escaped}.xmp: sidecar not read: XMP refused: it declares a DTD" in line
        assert line.rstrip().endswith("(entities and external references are never followed)")
    assert "\x1b[31m" not in text and "\t" not in text
    assert "😄" not in text  # ':smile:' is a file name here, not an emoji code


@pytest.mark.parametrize("columns", [None, 80])
def test_warning_lines_on_a_pipe_are_whole_and_escaped(hostile_library, columns):
    proc = run("scan", str(hostile_library), "--verbose", columns=columns)
    err = stderr_of(proc)
    assert proc.returncode == 3, err
    warnings = "\n".join(line for line in err.splitlines() if line.startswith("warning: "))
    _check_warning_lines(warnings, hostile_library)
    # the log file holds the same lines
    _check_warning_lines(log_file(err).read_text(encoding="utf-8"), hostile_library)
    # the closing line is one line too, however long the log file's path
    assert re.search(
        r"^3 warning\(s\), 0 file\(s\) skipped, 3 file\(s\) whose keywords were not all read; details in \S+$",
        err,
        re.M,
    )


def test_warning_lines_on_a_terminal_are_whole_and_escaped(hostile_library):
    """stderr a terminal 80 columns wide: rich does not break the line (the terminal may wrap it
    visually) and no escape sequence of a file name reaches the terminal."""
    controller, terminal = pty.openpty()
    import fcntl
    import termios

    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "TERM": "dumb-but-not-quite"}
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "phototag", "scan", str(hostile_library), "--verbose"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert proc.wait(timeout=120) == 3
    raw = b"".join(chunks).decode("utf-8")
    assert "\x1b[31mred" not in raw  # the name's own colour sequence, raw before the fix
    # rich's own styling (bold, the progress bar) aside, each warning is one line of the terminal
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r\n", "\n")
    shown = [
        line.split("\r")[-1] for line in plain.split("\n")
    ]  # what is left of a line after the bar's carriage returns
    _check_warning_lines("\n".join(line for line in shown if line.startswith("warning: ")), hostile_library)


def test_an_error_line_shows_a_hostile_folder_name_literally(tmp_path):
    folder = tmp_path / "[red]odd\nname\x1b[2J"
    folder.mkdir()
    proc = run("tags", str(folder), columns=80)
    err = stderr_of(proc)
    assert proc.returncode == 1
    assert err.count("\n") == 1, err  # one line, however long
    assert err.startswith(f"error: no photos indexed for {tmp_path}/[red]odd\\nname\\x1b[2J; run `phototag scan ")
    assert "\x1b" not in err


# --- item 14: one-line errors, no option the README invents, unwrapped data, whole figures ----------------


def test_every_suggest_option_the_readme_names_exists():
    row = next(
        line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `phototag suggest DIR`")
    )
    named = set(re.findall(r"`(--[a-z0-9-]+)", row))
    assert "--raw-full" not in named  # documented, never implemented
    proc = run("suggest", "--help", columns=250)
    assert proc.returncode == 0
    help_text = proc.stdout.decode()
    assert {option for option in named if option not in help_text} == set()


@pytest.mark.slow
def test_suggest_on_a_missing_cuda_device_is_a_one_line_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    root = tmp_path / "lib"
    make_jpeg(root / "a.jpg")
    write_sidecar(root / "b.jpg.xmp", subjects=["sea"])
    make_jpeg(root / "b.jpg")
    proc = run("suggest", str(root), "--device", "cuda")
    err = stderr_of(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "error: --device cuda: no CUDA device is available to PyTorch"


@pytest.fixture(scope="module")
def trained_library(tmp_path_factory) -> tuple[str, str, str]:
    """A two-owner library with one personal model (phototag finetune, one epoch): the arguments
    naming it and its index (each test has its own data folder; this library outlives one test)."""
    folder = tmp_path_factory.mktemp("output")
    library = build_library(folder / "lib", per_look=6, folders=True)
    named = (str(library), "--index", str(folder / "index.sqlite"))
    trained = run("finetune", *named, "--epochs", "1", "--min-count", "2", "--quiet")
    assert trained.returncode == 0, stderr_of(trained)
    return named


EVAL = ("--owner-from", "folder", "--min-count", "2", "--epochs", "1", "--seed", "1", "--no-scan")


@pytest.fixture(scope="module")
def eval_figures(trained_library) -> dict:
    return json.loads(run("eval", *trained_library, *EVAL, "--json", "--quiet").stdout)


@pytest.mark.slow
def test_eval_markdown_in_a_file_is_never_wrapped(trained_library, tmp_path):
    out = tmp_path / "eval.md"
    with out.open("wb") as file:
        proc = run("eval", *trained_library, *EVAL, "--markdown", stdout=file)
    assert proc.returncode == 0, stderr_of(proc)
    rows = [line for line in out.read_text().splitlines() if line.startswith("|")]
    assert all(row.endswith("|") for row in rows), rows
    methods = [row for row in rows if row.count("|") == 15]  # (the suggest rows' calibration table follows them)
    assert len(methods) == 2 * (2 + 10)  # two tables: header, rule and ten methods each (eight + two suggest rows)
    assert max(len(row) for row in rows) > 80


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 120])
def test_models_table_shows_every_figure_whole(trained_library, columns):
    models = run("models", *trained_library, columns=columns)
    text = models.stdout.decode()
    assert models.returncode == 0, stderr_of(models)
    assert "…" not in text  # every figure was cut to "0.…" at 80 and 120 columns
    assert max(len(line) for line in text.splitlines()) <= columns
    listed = json.loads(run("models", *trained_library, "--json").stdout.decode().splitlines()[0])
    for metric in ("P@1", "P@5", "R@5"):  # the table's columns
        assert f"{listed['validation'][metric]:.3f}" in text
    # the status column, whole: the model is in use only when it beat the ranking without it (issue 19)
    assert ("in use" if listed["used_by_suggest"] else "ok") in text


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 120])
def test_eval_tables_show_every_figure_whole(trained_library, eval_figures, columns):
    table = run("eval", *trained_library, *EVAL, columns=columns)
    text = table.stdout.decode()
    assert table.returncode == 0, stderr_of(table)
    assert "…" not in text  # every figure was cut to "0.…" at 80 and 120 columns
    assert max(len(line) for line in text.splitlines()) <= columns
    for row in eval_figures["rows"]:  # every figure of every row, to three decimals
        for average in ("per_photo", "per_owner"):
            for value in row[average].values():
                assert f"{value:.3f}" in text


# --- issue 22: the suggestion table at 80 and 120 columns, and in a file -------------------------------------


def _suggestion_rows(tagged: bool):
    from types import SimpleNamespace

    from phototag.model.recommend import PhotoSuggestions, Suggestion

    def photo(path):
        return SimpleNamespace(display_path=path)

    return [
        PhotoSuggestions(
            photo("lake-at-dusk.jpg"),
            ["sea", "boat"] if tagged else [],
            [Suggestion("holiday", 0.61, "neighbours+knn"), Suggestion("sky", 0.40, "neighbours")],
        ),
        PhotoSuggestions(
            photo("holidays/2023 summer in the mountains/storm-on-the-road-near-the-lake.jpg"),
            [],
            [
                Suggestion("Places|Spain|Picos de Europa national park", 0.34, "knn+cooc+history"),
                Suggestion("sunset", 0.37, "personal"),
            ],
        ),
        PhotoSuggestions(photo("empty.jpg"), [], []),
    ]


def _render(rows, width: int) -> list[str]:
    from rich.console import Console

    from phototag.cli.suggest import suggestion_table

    console = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(suggestion_table(rows, "personal-test", width))
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_the_suggestion_table_fits_and_never_breaks_a_name(width):
    lines = _render(_suggestion_rows(tagged=False), width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    header = next(line for line in lines if line.startswith("photo"))
    assert header.split() == ["photo", "tag", "score", "from"]  # untagged photos: no empty "has" column
    first = next(line for line in lines if line.startswith("lake-at-dusk.jpg"))  # a short name whole, on one line
    assert first.split() == ["lake-at-dusk.jpg", "holiday", "0.61", "nearby+kNN"]
    assert next(line for line in lines if "sky" in line).split() == ["sky", "0.40", "nearby"]  # one line a suggestion
    long = [line for line in lines if line.startswith("holidays/")]
    assert len(long) == 1 and "…" in long[0].split("   ")[0]  # shortened in the middle, on its own line
    assert long[0].split("   ")[0].endswith("lake.jpg")  # the end of the name (the file) stays
    assert not any(line.startswith(("g ", "jpg", "pg ")) for line in lines)  # no piece of a name on a line of its own
    assert "empty.jpg" in lines[lines.index(next(line for line in lines if line.startswith("empty.jpg")))]
    assert any(line.startswith("from: nearby: same folder and time") for line in lines)  # the source column explained


def test_the_suggestion_table_shows_the_photos_tags_only_when_some_have_them():
    lines = _render(_suggestion_rows(tagged=True), 80)
    assert next(line for line in lines if line.startswith("photo")).split()[-1] == "has"
    assert all(len(line) <= 80 for line in lines)


def test_the_suggestion_table_in_a_file_is_whole():
    from phototag.cli.common import WIDE

    lines = _render(_suggestion_rows(tagged=False), WIDE)
    whole = "holidays/2023 summer in the mountains/storm-on-the-road-near-the-lake.jpg   "
    assert any(line.startswith(whole) for line in lines)
    assert any("Places|Spain|Picos de Europa national park" in line and "kNN+co-occ+history" in line for line in lines)
    assert not any("…" in line for line in lines)


def test_help_shows_no_type_for_flags_and_the_usage_says_dir_as_the_text_does():
    from typer.testing import CliRunner

    from phototag.cli import app

    names = [command.name or command.callback.__name__.replace("_", "-") for command in app.registered_commands]
    assert {"scan", "suggest", "review", "apply", "eval"} <= set(names)
    for name in names:
        shown = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "120"}).output
        usage = next(line for line in shown.splitlines() if "Usage:" in line)
        assert "<bool>" not in shown, name
        assert "{" not in usage and "library" not in usage, usage
        if "--from" in shown or "Root folder of the photo library" in shown:
            assert usage.rstrip().endswith("[OPTIONS] DIR"), usage
    shown = CliRunner().invoke(app, ["apply", "--help"]).output
    apply_usage = next(line for line in shown.splitlines() if "Usage:" in line)
    assert apply_usage.rstrip().endswith("[OPTIONS] [FILE]")
    device = CliRunner().invoke(app, ["suggest", "--help"], env={"COLUMNS": "200"}).output
    assert "about 1.8x" in device and "2x faster" not in device  # as README and BENCHMARKS.md say


def test_help_names_the_extras_to_install_in_full():
    """Rich markup took `[ray]` and `[web]` for styles: the help said "pip install 'phototag'"."""
    from typer.testing import CliRunner

    from phototag.cli import app

    wide = {"COLUMNS": "400"}
    for name in ("scan", "suggest", "finetune"):
        shown = CliRunner().invoke(app, [name, "--help"], env=wide).output
        assert "pip install 'phototag[ray]'" in shown and "install 'phototag'" not in shown, name
    assert "needs phototag[web]" in CliRunner().invoke(app, ["review", "--help"], env=wide).output


def test_evals_closing_line_says_in_words_how_suggest_compares():
    from phototag.cli.eval import closing_line
    from phototag.evaluate.report import reference_row, relative_gain
    from phototag.evaluate.result import EvalResult
    from phototag.metrics import Evaluation

    def row(p5: float) -> Evaluation:
        return Evaluation({"P@5": p5}, {"P@5": p5}, 100, 1)

    result = EvalResult({}, {"owners": 1}, {"library": row(0.403), "knn": row(0.31), "suggest": row(0.27)})
    line = closing_line(result, reference_row(result), relative_gain(result, "P@5"))
    assert line == (
        "phototag suggest (after finetune): P@5 0.270 (the share of its top 5 tags that are right),"
        " 33% lower than the best other row, Library most-frequent (paper's Baseline) (0.403)"
    )
    result.results["suggest"] = row(0.45)
    assert "12% higher than the best other row" in closing_line(result, "suggest", relative_gain(result, "P@5"))


def test_an_epoch_marked_best_with_the_same_p5_shows_the_map_that_made_it_best():
    from phototag.cli.common import epoch_line
    from phototag.train.finetune import EpochReport

    before = epoch_line(EpochReport(3, {"L_p": 0.5}, {"P@1": 0.5, "P@5": 0.4, "R@5": 0.3, "mAP": 0.311}, True, 1.0), 10)
    tied = epoch_line(EpochReport(4, {"L_p": 0.4}, {"P@1": 0.5, "P@5": 0.4, "R@5": 0.3, "mAP": 0.327}, True, 1.0), 10)
    assert "val P@1 0.500  P@5 0.400  R@5 0.300  mAP 0.311" in before
    assert "mAP 0.327" in tied and tied.endswith("[green]best[/]")  # same P@5, a higher mAP: why it is the best
