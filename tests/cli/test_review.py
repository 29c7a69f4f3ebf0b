"""`phototag review DIR --from FILE` driven with scripted answers on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from typer.testing import CliRunner

from phototag.cli import app
from phototag.cli.review import Answer, parse_answer
from phototag.library.index import Index
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT, LR_HIERARCHICAL

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "Pictures"
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        make_jpeg(root / name)
    write_sidecar(root / "b.jpg.xmp", subjects=["harbour"])
    return root


@pytest.fixture
def suggestions(library, tmp_path) -> Path:
    def record(name, tags, present=()):
        return {
            "path": name,
            "abs_path": str(library / name),
            "present": list(present),
            "suggestions": [{"tag": t, "score": s, "source": "personal"} for t, s in tags],
            "model": "personal-test",
        }

    records = [
        record("a.jpg", [("Animals|Gull", 0.91), ("sea", 0.72), ("boat", 0.55)]),
        record("b.jpg", [("harbour", 0.95), ("boat", 0.66), ("evening", 0.52)], present=["harbour"]),
        record("c.jpg", [("rain", 0.58), ("street", 0.54)]),
        record("d.jpg", [("snow", 0.80)]),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def subjects(path: Path) -> list[str]:
    return read_fields(path.read_bytes()).get(DC_SUBJECT, []) if path.exists() else []


def test_parse_answer():
    assert parse_answer("", 3) == Answer("accept", [1, 2, 3])
    assert parse_answer(" A ", 3) == Answer("accept", [1, 2, 3])
    assert parse_answer("s", 3) == Answer("skip")
    assert parse_answer("q", 3) == Answer("quit")
    assert parse_answer("1 3", 3) == Answer("accept", [1, 3])
    assert parse_answer("3,1 1", 3) == Answer("accept", [3, 1])
    assert parse_answer("2-3", 3) == Answer("accept", [2, 3])
    assert parse_answer("+beach, Places|Nice", 3) == Answer("accept", [], ["beach", "Places|Nice"])
    assert parse_answer("1 +beach +sun", 3) == Answer("accept", [1], ["beach", "sun"])
    assert parse_answer("a +beach", 2) == Answer("accept", [1, 2], ["beach"])
    for bad in ("4", "0", "x", "1-9"):
        with pytest.raises(ValueError):
            parse_answer(bad, 3)


def test_review_with_scripted_answers(library, suggestions, tmp_path):
    index_path = tmp_path / "index.sqlite"
    # a: pick 1 and 3 and add one; b: a typo, then accept all; c: skip; d: never reached (quit)
    answers = "1 3 +Places|Harbour\nseven\n\ns\nq\n"
    result = runner.invoke(
        app, ["review", str(library), "--from", str(suggestions), "--index", str(index_path)], input=answers
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "[1/4] a.jpg" in out and "   1  Animals|Gull" in out and "0.91  personal" in out
    assert "[2/4] b.jpg" in out and "has: harbour" in out
    assert (
        "harbour " not in out.split("[2/4] b.jpg")[1].split("[3/4]")[0].split("has: harbour")[1]
    )  # present: not offered
    assert "not understood: 'seven'" in out
    assert "[4/4] d.jpg" in out
    assert "added: Animals|Gull, boat, Places|Harbour → a.jpg.xmp" in out

    a = read_fields((library / "a.jpg.xmp").read_bytes())
    assert a[DC_SUBJECT] == ["Gull", "boat", "Harbour"]
    assert a[LR_HIERARCHICAL] == ["Animals|Gull", "boat", "Places|Harbour"]
    assert subjects(library / "b.jpg.xmp") == ["harbour", "boat", "evening"]
    assert not (library / "c.jpg.xmp").exists() and not (library / "d.jpg.xmp").exists()

    with Index.for_library(library, index_path) as index:
        rows = index.connection.execute("SELECT tags, model FROM write_journal ORDER BY id").fetchall()
    assert [(json.loads(t), m) for t, m in rows] == [
        (["Animals|Gull", "boat", "Places|Harbour"], "personal-test"),
        (["boat", "evening"], "personal-test"),
    ]
    # the whole review session is one batch: undo reverts it
    undone = runner.invoke(app, ["undo", str(library), "--index", str(index_path)])
    assert undone.exit_code == 0, undone.output
    assert not (library / "a.jpg.xmp").exists() and subjects(library / "b.jpg.xmp") == ["harbour"]


def test_review_end_of_input_stops_cleanly_and_min_score_hides(library, suggestions, tmp_path):
    result = runner.invoke(
        app,
        [
            "review",
            str(library),
            "--from",
            str(suggestions),
            "--min-score",
            "0.6",
            "--index",
            str(tmp_path / "i.sqlite"),
        ],
        input="2\n",
    )
    assert result.exit_code == 0, result.output
    assert "boat" not in result.stdout.split("[2/")[0]  # a.jpg: boat (0.55) hidden
    assert subjects(library / "a.jpg.xmp") == ["sea"]  # '2' is now sea
    assert not (library / "b.jpg.xmp").read_bytes().count(b"boat")


@pytest.mark.slow
def test_review_computes_suggestions_live_without_from(tmp_path):
    """No --from: the packaged model suggests for the untagged photos; 'a' accepts them all."""
    library = tmp_path / "lib"
    make_jpeg(library / "tagged.jpg", color=(30, 120, 200))
    write_sidecar(library / "tagged.jpg.xmp", subjects=["sky"])
    make_jpeg(library / "tagged2.jpg", color=(20, 60, 220))
    write_sidecar(library / "tagged2.jpg.xmp", subjects=["sea"])
    make_jpeg(library / "untagged.jpg", color=(40, 160, 60))
    index_path = tmp_path / "i.sqlite"
    result = runner.invoke(
        app, ["review", str(library), "--index", str(index_path), "--top-k", "3", "--min-score", "0"], input="a\n"
    )
    assert result.exit_code == 0, result.output
    assert "[1/1] untagged.jpg" in result.stdout  # the tagged photo is not offered
    written = subjects(library / "untagged.jpg.xmp")
    assert 1 <= len(written) <= 3
    assert "added: " in result.stdout
    assert subjects(library / "tagged.jpg.xmp") == ["sky"]

    # --all: tagged photos are offered too (answers: skip both)
    again = runner.invoke(
        app, ["review", str(library), "--all", "--min-score", "0", "--index", str(index_path)], input="s\ns\ns\n"
    )
    assert again.exit_code == 0, again.output
    assert "] tagged.jpg" in again.stdout and "] tagged2.jpg" in again.stdout


@pytest.mark.slow
def test_review_in_a_real_process_with_piped_stdin(library, suggestions, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "phototag",
            "review",
            str(library),
            "--from",
            str(suggestions),
            "--dry-run",
            "--index",
            str(tmp_path / "i.sqlite"),
        ],
        input="a\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"+++ {library / 'a.jpg.xmp'}\n" in proc.stdout and "b//" not in proc.stdout
    assert "would add: Animals|Gull, sea, boat" in proc.stdout
    assert not (library / "a.jpg.xmp").exists()


def test_review_shows_names_with_brackets_verbatim(tmp_path):
    library = tmp_path / "lib"
    make_jpeg(library / "[red]odd.jpg")
    record = {
        "path": "[red]odd.jpg",
        "abs_path": str(library / "[red]odd.jpg"),
        "suggestions": [{"tag": "x", "score": 0.5}],
    }
    source = tmp_path / "s.jsonl"
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = runner.invoke(
        app, ["review", str(library), "--from", str(source), "--index", str(tmp_path / "i")], input="s\n"
    )
    assert result.exit_code == 0, result.output
    assert "[1/1] [red]odd.jpg" in result.stdout


REVIEW_OPTIONS = [
    "--all",
    "--top-k",
    "4",
    "--min-score",
    "0",
    "--device",
    "cpu",
    "--history",
    "folder",
    "--no-embed",
    "--new-tags",
]


def _shown(stdout: str) -> dict[str, list[tuple[str, str]]]:
    """What review showed: photo -> [(tag, score as printed)]."""
    shown: dict[str, list[tuple[str, str]]] = {}
    for line in stdout.splitlines():
        if line.startswith("[") and "] " in line:
            current = shown.setdefault(line.split("] ", 1)[1], [])
        elif line.startswith("   ") and line.strip()[:1].isdigit():
            tag, score, _source = line.strip().split(None, 1)[1].rsplit(None, 2)
            current.append((tag.strip(), score))
    return shown


@pytest.mark.slow
def test_review_ranks_exactly_as_suggest_with_the_same_options(tmp_path):
    from phototag.app.review import live_entries
    from phototag.app.suggest import SuggestOptions
    from phototag.reporting import CollectingReporter

    library = tmp_path / "lib"
    for folder, name, color, tags in [
        ("beach", "a.jpg", (30, 120, 200), ["sea", "sand"]),
        ("beach", "b.jpg", (40, 110, 210), ["sea"]),
        ("beach", "c.jpg", (35, 115, 205), None),
        ("garden", "d.jpg", (40, 160, 60), ["garden", "green"]),
        ("garden", "e.jpg", (50, 150, 70), None),
    ]:
        photo = make_jpeg(library / folder / name, color=color)
        if tags:
            write_sidecar(photo.with_suffix(".xmp"), subjects=tags)
    index_path = tmp_path / "i.sqlite"

    suggested = runner.invoke(app, ["suggest", str(library), "--json", "--index", str(index_path), *REVIEW_OPTIONS])
    assert suggested.exit_code == 0, suggested.output
    records = {r["path"]: r["suggestions"] for r in map(json.loads, suggested.stdout.splitlines())}
    assert len(records) == 5 and all(records.values())

    # Through the command line: the tags, in order, and their scores as review prints them.
    reviewed = runner.invoke(
        app, ["review", str(library), "--dry-run", "--index", str(index_path), *REVIEW_OPTIONS], input="s\n" * 5
    )
    assert reviewed.exit_code == 0, reviewed.output
    assert _shown(reviewed.stdout) == {
        path: [(s["tag"], f"{s['score']:.2f}") for s in suggestions] for path, suggestions in records.items()
    }

    # Through the use case review calls: every score to the digit.
    options = SuggestOptions(
        only_untagged=False, top_k=4, min_score=0.0, device="cpu", history="folder", embed=False, new_tags=True
    )
    with Index.for_library(library, index_path) as index:
        entries = live_entries(index, options, CollectingReporter())
    assert {e.shown: e.suggestions for e in entries} == records


@pytest.fixture
def flowers(tmp_path) -> tuple[Path, Path]:
    """A library whose owner tags `Nature|Flower` and `macro`, one untagged photo, and a suggest file for it."""
    root = tmp_path / "flowers"
    make_jpeg(root / "tagged.jpg")
    write_sidecar(root / "tagged.jpg.xmp", subjects=["Flower", "macro"], hierarchical=["Nature|Flower"])
    make_jpeg(root / "new.jpg")
    source = tmp_path / "f.jsonl"
    record = {"path": "new.jpg", "suggestions": [{"tag": "sea", "score": 0.9}, {"tag": "sky", "score": 0.5}]}
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return root, source


def test_typed_tags_in_the_terminal_review_take_the_owners_vocabulary(flowers, tmp_path):
    root, source = flowers
    result = runner.invoke(
        app, ["review", str(root), "--from", str(source), "--index", str(tmp_path / "i")], input="1 +flower, Macro\n"
    )
    assert result.exit_code == 0, result.output
    assert "added: sea, Nature|Flower, macro → new.jpg.xmp" in result.stdout
    fields = read_fields((root / "new.jpg.xmp").read_bytes())
    assert fields[DC_SUBJECT] == ["sea", "Flower", "macro"] and "Nature|Flower" in fields[LR_HIERARCHICAL]


def test_apply_writes_a_file_in_the_owners_vocabulary(flowers, tmp_path):
    root, _ = flowers
    edited = tmp_path / "edited.csv"
    edited.write_text("path,tag\nnew.jpg,FLOWERS\nnew.jpg,macro\nnew.jpg,Nature|flower\n", encoding="utf-8")
    result = runner.invoke(app, ["apply", str(edited), "-l", str(root), "--index", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    fields = read_fields((root / "new.jpg.xmp").read_bytes())
    assert fields[DC_SUBJECT] == ["Flower", "macro"] and "Nature|Flower" in fields[LR_HIERARCHICAL]


def test_the_terminal_review_keeps_its_answers_and_does_not_ask_a_rejected_tag_again(library, suggestions, tmp_path):
    index_path = tmp_path / "i.sqlite"
    # a: 1 (Animals|Gull) accepted, sea and boat rejected; b: skipped; c: 2 (street); then quit
    first = runner.invoke(
        app, ["review", str(library), "--from", str(suggestions), "--index", str(index_path)], input="1\ns\n2\nq\n"
    )
    assert first.exit_code == 0, first.output
    with Index.for_library(library, index_path) as index:
        rows = index.connection.execute(
            "SELECT p.display_path, d.tag, d.state, d.batch_id IS NOT NULL FROM decisions d"
            " JOIN photos p ON p.id = d.photo_id ORDER BY p.display_path, d.tag"
        ).fetchall()
    assert rows == [
        ("a.jpg", "Animals|Gull", "accept", 1),
        ("a.jpg", "boat", "reject", 0),
        ("a.jpg", "sea", "reject", 0),
        ("c.jpg", "rain", "reject", 0),
        ("c.jpg", "street", "accept", 1),
    ]
    again = runner.invoke(
        app, ["review", str(library), "--from", str(suggestions), "--index", str(index_path)], input="q\n"
    )
    assert again.exit_code == 0, again.output
    assert "a.jpg" not in again.stdout and "c.jpg" not in again.stdout  # nothing new for them
    assert "[1/2] b.jpg" in again.stdout  # skipped, not answered: asked again


def test_apply_without_a_file_writes_the_tags_a_review_kept(library, suggestions, tmp_path):
    from phototag.library import decisions

    index_path = tmp_path / "i.sqlite"
    runner.invoke(app, ["scan", str(library), "--index", str(index_path)])
    with Index.for_library(library, index_path) as index:
        ids = {p.display_path: p.id for p in index.photos()}
        decisions.decide(index, ids["c.jpg"], "rain", "accept", "personal-test")
        decisions.decide(index, ids["c.jpg"], "street", "reject")
        decisions.decide(index, ids["d.jpg"], "HARBOUR", "accept")  # typed: the owner writes `harbour`
    result = runner.invoke(app, ["apply", "-l", str(library), "--index", str(index_path)])
    assert result.exit_code == 0, result.output
    assert subjects(library / "c.jpg.xmp") == ["rain"] and subjects(library / "d.jpg.xmp") == ["harbour"]
    with Index.for_library(library, index_path) as index:
        assert decisions.unwritten(index).tags == 0
        journal = index.connection.execute("SELECT sidecar, model FROM write_journal")
        models = {Path(os.fsdecode(bytes(sidecar))).name: model for sidecar, model in journal}
    assert models == {"c.jpg.xmp": "personal-test", "d.jpg.xmp": None}
    again = runner.invoke(app, ["apply", "-l", str(library), "--index", str(index_path)])
    assert "0 photo(s)" in again.output  # nothing kept any more


@pytest.mark.slow
def test_ctrl_c_at_the_prompt_stops_in_one_line_saying_what_is_kept(library, suggestions, tmp_path):
    import signal

    from phototag.library import decisions

    index_path = tmp_path / "i.sqlite"
    runner.invoke(app, ["scan", str(library), "--index", str(index_path)])
    with Index.for_library(library, index_path) as index:  # an accepted tag a web review kept
        decisions.decide(index, index.photos()[3].id, "snow", "accept")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phototag",
            "review",
            str(library),
            "--from",
            str(suggestions),
            "--index",
            str(index_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    shown = ""
    while "accept [" not in shown:  # the first question
        shown += proc.stdout.read(1)
    started = proc.stderr.readline()  # the review says first that an earlier one kept a tag
    assert started.startswith("from an earlier review; 1 accepted tag(s) on 1 photo(s) are kept, not written yet:")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("review stopped; 1 accepted tag(s) on 1 photo(s) are kept, not written yet:")
