"""`phototag suggest` end to end, as a person runs it (real process, real photos, real sidecars)."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from PIL import Image

pytestmark = pytest.mark.slow  # every test runs phototag in a real process, backbone included
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "library"


def phototag(*args: str, codes=(0,)) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "phototag", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode in codes, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    return proc


def clean_copy(name: str, dest: Path) -> Path:
    """An example photo re-encoded without metadata: a real, untagged photo."""
    source = EXAMPLES / name
    if not source.exists():
        pytest.skip(f"example photo {name} is absent")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGB").save(dest, "JPEG", quality=90)
    return dest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOTAG_CACHE_DIR", str(tmp_path / "cache"))


def test_empty_library(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = phototag("suggest", str(tmp_path / "empty"), "--json")
    assert proc.stdout == ""
    assert "No photos to suggest for" in proc.stderr


def test_untagged_library_gets_general_tags_as_json_lines_and_skips_broken_files(tmp_path):
    root = tmp_path / "Pictures"
    clean_copy("pets/cat-chelsea.jpg", root / "cat.jpg")
    clean_copy("home/espresso.jpg", root / "kitchen" / "espresso.jpg")
    broken = make_jpeg(root / "broken.jpg", size=(300, 200))
    broken.write_bytes(broken.read_bytes()[:200])
    proc = phototag("suggest", str(root), "--json", "--device", "cpu", codes=(3,))
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(r["path"] for r in records) == ["cat.jpg", os.path.join("kitchen", "espresso.jpg")]
    for record in records:
        assert list(record) == ["path", "abs_path", "path_b64", "present", "suggestions", "model"]
        assert base64.b64decode(record["path_b64"]) == os.fsencode(record["path"])
        assert Path(record["abs_path"]) == root / record["path"]
        assert record["present"] == [] and record["model"] == "phototag-general-1"
        assert 1 <= len(record["suggestions"]) <= 5
        assert all(s["source"] == "general" and 0 < s["score"] <= 1 for s in record["suggestions"])
    by_path = {r["path"]: [s["tag"] for s in r["suggestions"]] for r in records}
    assert "cat" in by_path["cat.jpg"]
    assert "espresso" in by_path[os.path.join("kitchen", "espresso.jpg")]
    warnings = [line for line in proc.stderr.splitlines() if "broken.jpg" in line]
    assert len(warnings) == 1 and "skipped" in warnings[0]


def test_csv_for_all_photos_never_repeats_present_tags(tmp_path):
    root = tmp_path / "Pictures"
    cat = clean_copy("pets/cat-chelsea.jpg", root / "cat.jpg")
    write_sidecar(cat.with_suffix(".xmp"), subjects=["Cat", "pets"], hierarchical=["Animals|Cat"])
    clean_copy("pets/cat-chelsea.jpg", root / "other" / "cat2.jpg")  # same content, untagged
    proc = phototag(
        "suggest", str(root), "--csv", "--all", "--new-tags", "--top-k", "8", "--min-score", "0", "--device", "cpu"
    )
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows and list(rows[0]) == ["path", "tag", "score", "source", "path_b64"]
    tagged = [r["tag"].split("|")[-1].casefold() for r in rows if r["path"] == "cat.jpg"]
    assert tagged and not {"cat", "pets", "animals"} & set(tagged)
    untagged = [r["tag"] for r in rows if r["path"] == os.path.join("other", "cat2.jpg")]
    assert untagged[0] == "Animals|Cat"  # the owner's spelling and hierarchy, not the general 'cat'
    assert "cat" not in untagged


def test_write_puts_suggestions_in_a_sidecar(tmp_path):
    root = tmp_path / "Pictures"
    photo = clean_copy("home/espresso.jpg", root / "espresso.jpg")
    before = photo.read_bytes()
    proc = phototag("suggest", str(root), "--write", "--top-k", "2", "--json", "--device", "cpu")
    record = json.loads(proc.stdout)
    sidecar = root / "espresso.jpg.xmp"  # darktable naming by default
    text = sidecar.read_text(encoding="utf-8")
    for suggestion in record["suggestions"]:
        assert f">{suggestion['tag']}<" in text
    assert photo.read_bytes() == before  # the photo itself is never touched
    # Now tagged: the default --only-untagged leaves it alone.
    again = phototag("suggest", str(root), "--json", "--device", "cpu")
    assert again.stdout == ""


def test_table_with_present_tags_and_a_dry_run_write(tmp_path):
    root = tmp_path / "Pictures"
    cat = clean_copy("pets/cat-chelsea.jpg", root / "cat.jpg")
    write_sidecar(cat.with_suffix(".xmp"), subjects=["pets"])
    before = cat.with_suffix(".xmp").read_bytes()
    clean_copy("home/wall-clock.jpg", root / "clock.jpg")
    # (--min-score 0: a two-photo library's calibrated scores stay low, rightly; this test is about the table.
    # --top-k 2 keeps to one-word tags, so a line splits into its columns on spaces)
    proc = phototag(
        "suggest",
        str(root),
        "--all",
        "--new-tags",
        "--write",
        "--dry-run",
        "--device",
        "cpu",
        "--min-score",
        "0",
        "--top-k",
        "2",
    )
    assert "Suggestions (phototag-general-1+history)" in proc.stdout
    blocks: dict[str, list[str]] = {}  # photo -> its lines without the name: one line per suggestion
    for line in proc.stdout.splitlines():
        if line.startswith(("cat.jpg ", "clock.jpg ")):
            name, rest = line.split(" ", 1)
            blocks[name] = [rest]
        elif line.startswith(" ") and line.strip() and blocks:
            blocks[list(blocks)[-1]].append(line)
    tag, score, source, present = blocks["cat.jpg"][0].split()  # tag, score, where from, the photo's own tags
    assert present == "pets" and 0 < float(score) < 0.5 and source == "general"
    assert all(len(line.split()) == 3 for line in blocks["clock.jpg"])  # untagged: tag, score, where from
    assert "would be written" in proc.stderr
    assert cat.with_suffix(".xmp").read_bytes() == before
    assert not (root / "clock.jpg.xmp").exists() and not (root / "clock.xmp").exists()


def test_dry_run_diffs_do_not_break_json_lines(tmp_path):
    """`suggest --write --dry-run --json`: stdout stays pure JSON Lines, the diffs go to stderr."""
    root = tmp_path / "lib"
    for i in range(3):
        photo = make_jpeg(root / f"tagged{i}.jpg", color=(30 * i, 120, 40))
        write_sidecar(photo.with_suffix(".xmp"), subjects=["garden", "green"])
    make_jpeg(root / "new.jpg", color=(40, 130, 50))
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "phototag", "suggest", str(root), "--write", "--dry-run", "--json", "--min-score", "0"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert [r["path"] for r in records] == ["new.jpg"] and records[0]["suggestions"]
    assert "+++" in proc.stderr  # the unified diff of the sidecar that would be created
    assert not (root / "new.jpg.xmp").exists()


def test_non_utf8_file_names_give_utf8_output_that_apply_writes_back(tmp_path, exiftool):
    """A name with bytes that are not UTF-8: --json and --csv stay valid UTF-8 under a strict UTF-8
    stdout (0.x wrote the raw bytes, or crashed with UnicodeEncodeError), and `apply` of that output
    writes the sidecar of exactly that file (path_b64)."""
    root = tmp_path / "lib"
    name = b"caf\xe9 \xff.jpg"  # Latin-1 e-acute and a stray 0xFF
    clean_copy("home/espresso.jpg", root / os.fsdecode(name))
    sidecar = os.path.join(os.fsencode(root), name + b".xmp")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}

    def run(*args: str) -> bytes:
        proc = subprocess.run(
            [sys.executable, "-m", "phototag", *args], cwd=REPO, capture_output=True, timeout=600, env=env
        )
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
        return proc.stdout

    def subjects() -> list[str]:
        proc = subprocess.run([exiftool, "-j", "-XMP-dc:Subject", sidecar], capture_output=True, check=True)
        subject = json.loads(proc.stdout)[0].get("Subject", [])
        return subject if isinstance(subject, list) else [subject]

    out = run("suggest", str(root), "--json", "--device", "cpu", "--top-k", "3")
    record = json.loads(out.decode("utf-8"))  # strict: valid UTF-8
    assert record["path"] == "caf\\xe9 \\xff.jpg" and record["abs_path"].endswith("caf\\xe9 \\xff.jpg")
    assert base64.b64decode(record["path_b64"]) == name
    tags = [s["tag"] for s in record["suggestions"]]
    (tmp_path / "s.jsonl").write_bytes(out)
    run("apply", str(tmp_path / "s.jsonl"), "--library", str(root))
    assert sorted(subjects()) == sorted(tags)

    run("undo", str(root))
    assert not os.path.exists(sidecar)
    out = run("suggest", str(root), "--csv", "--device", "cpu", "--top-k", "3")
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8"))))
    assert {base64.b64decode(r["path_b64"]) for r in rows} == {name} and [r["tag"] for r in rows] == tags
    (tmp_path / "s.csv").write_bytes(out)
    run("apply", str(tmp_path / "s.csv"), "--library", str(root))
    assert sorted(subjects()) == sorted(tags)
