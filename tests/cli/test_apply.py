"""`phototag apply FILE` and `phototag undo DIR` end to end on real files (in-process CLI runner)."""

from __future__ import annotations

import base64
import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from sidecar_samples import DARKTABLE
from typer.testing import CliRunner

from phototag.cli import app
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT, DIGIKAM_TAGS, LR_HIERARCHICAL

runner = CliRunner()


def run(*args: str, code: int = 0, input: str | None = None):
    result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
    return result


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "Pictures"
    make_jpeg(root / "2023" / "IMG_0001.jpg")
    (root / "2023" / "IMG_0001.jpg.xmp").write_text(DARKTABLE, encoding="utf-8")
    make_jpeg(root / "2023" / "IMG_0002.jpg")
    make_jpeg(root / "2024" / "lake.jpg")
    write_sidecar(root / "2024" / "lake.xmp", subjects=["lake"])
    return root


def suggest_record(root: Path, rel: str, tags: list[str], model: str = "personal-20240601") -> dict:
    return {
        "path": rel,
        "abs_path": str(root / rel),
        "present": [],
        "suggestions": [{"tag": t, "score": 0.9 - 0.1 * i, "source": "personal"} for i, t in enumerate(tags)],
        "model": model,
    }


def write_jsonl(path: Path, records: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_apply_json_lines_then_undo(library, tmp_path):
    before = snapshot(library)
    reviewed = write_jsonl(
        tmp_path / "s.jsonl",
        [
            suggest_record(library, "2023/IMG_0001.jpg", ["Animals|Dog", "cat"]),
            suggest_record(library, "2023/IMG_0002.jpg", ["sunset"]),
            suggest_record(library, "2024/lake.jpg", ["Places|Alps", "LAKE"]),
        ],
    )
    result = run("apply", str(reviewed), "--library", str(library))
    assert "3 photo(s): changed 3 sidecar(s) (1 new), 3 tag(s) added" in result.output
    assert read_fields((library / "2023" / "IMG_0001.jpg.xmp").read_bytes())[DC_SUBJECT] == ["cat", "garden", "Dog"]
    assert read_fields((library / "2023" / "IMG_0002.jpg.xmp").read_bytes()) == {DC_SUBJECT: ["sunset"]}
    assert read_fields((library / "2024" / "lake.xmp").read_bytes()) == {
        DC_SUBJECT: ["lake", "Alps"],
        LR_HIERARCHICAL: ["lake", "Places|Alps"],
        DIGIKAM_TAGS: ["lake", "Places/Alps"],
    }
    for name in ("2023/IMG_0001.jpg", "2023/IMG_0002.jpg", "2024/lake.jpg"):
        assert (library / name).read_bytes() == before[name]  # images never written

    again = run("apply", str(reviewed), "-l", str(library))  # idempotent
    assert "changed 0 sidecar(s)" in again.output and "3 already up to date" in again.output

    undone = run("undo", str(library))
    assert "restored 2 sidecar(s), deleted 1 created by phototag, kept 0" in undone.output
    assert snapshot(library) == before
    assert "nothing to undo" in run("undo", str(library)).output


def test_apply_csv_needs_library_and_resolves_against_it(library, tmp_path):
    reviewed = tmp_path / "s.csv"
    with open(reviewed, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["path", "tag", "score", "source"])
        out.writerow(["2023/IMG_0002.jpg", "Animals|Heron", "0.81", "personal"])
        out.writerow(["2023/IMG_0002.jpg", "river, bank", "0.40", "general"])  # a comma inside a tag
        out.writerow(["2024/lake.jpg", "mist", "0.33", "general"])
    missing = run("apply", str(reviewed), code=2)
    assert "--library" in missing.output
    run("apply", str(reviewed), "--library", str(library))
    assert read_fields((library / "2023" / "IMG_0002.jpg.xmp").read_bytes())[DC_SUBJECT] == ["Heron", "river, bank"]
    assert read_fields((library / "2024" / "lake.xmp").read_bytes())[DC_SUBJECT] == ["lake", "mist"]


def test_dry_run_prints_unified_diff_and_writes_nothing(library, tmp_path):
    before = snapshot(library)
    reviewed = write_jsonl(
        tmp_path / "s.jsonl",
        [
            suggest_record(library, "2023/IMG_0001.jpg", ["sunset"]),
            suggest_record(library, "2023/IMG_0002.jpg", ["sea"]),
        ],
    )
    result = run("apply", str(reviewed), "--library", str(library), "--dry-run")
    assert f"+++ {library / '2023' / 'IMG_0001.jpg.xmp'}\n" in result.stdout
    assert "+     <rdf:li>sunset</rdf:li>" in result.stdout
    assert f"--- /dev/null\n+++ {library / '2023' / 'IMG_0002.jpg.xmp'}\n" in result.stdout
    assert "would change 2 sidecar(s)" in result.output
    assert snapshot(library) == before
    assert "nothing to undo" in run("undo", str(library)).output


def test_bad_entries_are_reported_and_the_rest_applied(library, tmp_path):
    (library / "2024" / "broken.jpg").write_bytes(make_jpeg(tmp_path / "x.jpg").read_bytes())
    (library / "2024" / "broken.xmp").write_bytes(b"<x:xmpmeta><oops></x:xmpmeta>")
    outside = make_jpeg(tmp_path / "elsewhere" / "out.jpg")
    records = [
        suggest_record(library, "2023/IMG_0002.jpg", ["ok"]),
        suggest_record(library, "2023/missing.jpg", ["ok"]),
        suggest_record(library, "2024/broken.jpg", ["ok"]),
        {**suggest_record(library, "2024/lake.jpg", ["ok"]), "path": str(outside), "abs_path": str(outside)},
    ]
    reviewed = write_jsonl(tmp_path / "s.jsonl", records, extra_lines=("{not json",))
    result = run("apply", str(reviewed), "--library", str(library), "--verbose", code=3)
    assert read_fields((library / "2023" / "IMG_0002.jpg.xmp").read_bytes()) == {DC_SUBJECT: ["ok"]}
    assert (library / "2024" / "broken.xmp").read_bytes() == b"<x:xmpmeta><oops></x:xmpmeta>"
    assert not (tmp_path / "elsewhere" / "out.jpg.xmp").exists()
    text = " ".join(result.output.split())
    assert "missing.jpg: photo not found" in text
    assert "broken.xmp: sidecar left untouched: cannot parse XML" in text
    assert f"out.jpg: not in the library {library}" in text
    assert "line 5: not a JSON object" in text


def test_sidecar_style_for_new_sidecars(library, tmp_path):
    reviewed = write_jsonl(tmp_path / "s.jsonl", [suggest_record(library, "2023/IMG_0002.jpg", ["x"])])
    # 2023 has one darktable-style sidecar: the folder's convention wins over the option
    run("apply", str(reviewed), "-l", str(library), "--sidecar-style", "lightroom")
    assert (library / "2023" / "IMG_0002.jpg.xmp").exists()
    empty = make_jpeg(library / "2025" / "new.jpg")
    reviewed = write_jsonl(tmp_path / "t.jsonl", [suggest_record(library, "2025/new.jpg", ["x"])])
    run("apply", str(reviewed), "-l", str(library), "--sidecar-style", "lightroom")
    assert (empty.parent / "new.xmp").exists()
    assert (
        "darktable or lightroom"
        in run("apply", str(reviewed), "-l", str(library), "--sidecar-style", "capture1", code=2).output
    )


def _make_read_only(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    # root ignores permission bits; the immutable attribute stops it too
    proc = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot make a folder read-only as root here (chattr: {proc.stderr.strip()})")


def _make_writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_read_only_folder_is_reported_and_the_rest_written(library, tmp_path):
    locked = library / "2023"
    before = snapshot(locked)
    reviewed = write_jsonl(
        tmp_path / "s.jsonl",
        [
            suggest_record(library, "2023/IMG_0001.jpg", ["sunset"]),
            suggest_record(library, "2023/IMG_0002.jpg", ["sunset"]),
            suggest_record(library, "2024/lake.jpg", ["sunset"]),
        ],
    )
    _make_read_only(locked)
    try:
        result = run("apply", str(reviewed), "-l", str(library), "-v", code=3)
        assert snapshot(locked) == before
    finally:
        _make_writable(locked)
    assert read_fields((library / "2024" / "lake.xmp").read_bytes())[DC_SUBJECT] == ["lake", "sunset"]
    text = " ".join(result.output.split())
    assert text.count("cannot write sidecar: folder is read-only") == 2
    assert "changed 1 sidecar(s)" in text


def test_odd_file_names_round_trip_through_abs_path(tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    latin1 = os.fsdecode(b"caf\xe9.jpg")  # not valid UTF-8: kept as surrogate escapes
    photo = library / latin1
    photo.write_bytes(make_jpeg(tmp_path / "src.jpg").read_bytes())
    record = {"path": "caf\\xe9.jpg", "abs_path": str(photo), "suggestions": [{"tag": "café"}]}
    reviewed = tmp_path / "s.jsonl"
    reviewed.write_text(json.dumps(record) + "\n", encoding="utf-8")  # ensure_ascii: \udce9 survives
    run("apply", str(reviewed), "--library", str(library))
    sidecar = library / os.fsdecode(b"caf\xe9.jpg.xmp")
    assert read_fields(sidecar.read_bytes()) == {DC_SUBJECT: ["café"]}


def test_linked_folders_are_refused_unless_follow_links_and_dotdot_escapes_always(tmp_path):
    outside = tmp_path / "elsewhere"
    make_jpeg(outside / "linked.jpg")
    library = tmp_path / "lib"
    make_jpeg(library / "a.jpg")
    (library / "link").symlink_to(outside, target_is_directory=True)
    records = [
        {"path": "link/linked.jpg", "abs_path": str(library / "link" / "linked.jpg"), "suggestions": [{"tag": "in"}]},
        {"path": "../elsewhere/linked.jpg", "suggestions": [{"tag": "escape"}]},
    ]
    reviewed = tmp_path / "s.jsonl"
    reviewed.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    # By default nothing is written outside the library, not even through a link inside it.
    result = run("apply", str(reviewed), "--library", str(library), "-v", code=3)
    assert sorted(p.name for p in outside.iterdir()) == ["linked.jpg"]
    text = " ".join(result.output.split())
    assert f"outside the library: its folder is {outside} (links are not followed)" in text
    assert "not in the library" in text  # the '..' record
    # --follow-links writes in the linked folder; a '..' escape is still refused.
    result = run("apply", str(reviewed), "--library", str(library), "--follow-links", "-v", code=3)
    assert read_fields((outside / "linked.jpg.xmp").read_bytes()) == {DC_SUBJECT: ["in"]}
    assert "not in the library" in result.output
    assert read_fields((outside / "linked.jpg.xmp").read_bytes()) == {DC_SUBJECT: ["in"]}  # no 'escape'


def test_apply_needs_the_library_and_a_crafted_file_cannot_write_elsewhere(tmp_path):
    """0.x: without --library the root came from abs_path, so a crafted record wrote beside any image."""
    victim = make_jpeg(tmp_path / "elsewhere" / "victim.jpg")
    library = tmp_path / "lib"
    make_jpeg(library / "a.jpg")
    crafted = tmp_path / "crafted.jsonl"
    crafted.write_text(
        json.dumps({"path": "victim.jpg", "abs_path": str(victim), "suggestions": [{"tag": "pwned"}]})
        + "\n"
        + json.dumps(
            {"path": "x", "path_b64": base64.b64encode(os.fsencode(victim)).decode(), "suggestions": ["pwned"]}
        )
        + "\n",
        encoding="utf-8",
    )
    missing = run("apply", str(crafted), code=2)
    assert "Missing option '--library'" in missing.output
    for options in ((), ("--follow-links",)):
        result = run("apply", str(crafted), "--library", str(library), *options, "-v", code=3)
        assert "not in the library" in result.output
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.jpg"]


def test_a_symlinked_sidecar_is_skipped_or_replaced_on_request(library, tmp_path):
    target = tmp_path / "elsewhere" / "target.xmp"
    target.parent.mkdir()
    write_sidecar(target, subjects=["kept"])
    before = target.read_bytes()
    sidecar = library / "2023" / "IMG_0002.jpg.xmp"
    sidecar.symlink_to(target)
    reviewed = write_jsonl(tmp_path / "s.jsonl", [suggest_record(library, "2023/IMG_0002.jpg", ["sunset"])])
    result = run("apply", str(reviewed), "--library", str(library), "-v", code=3)
    assert "sidecar is a symbolic link" in " ".join(result.output.split())
    assert sidecar.is_symlink() and target.read_bytes() == before
    run("apply", str(reviewed), "--library", str(library), "--replace-links")
    assert not sidecar.is_symlink() and target.read_bytes() == before
    assert read_fields(sidecar.read_bytes())[DC_SUBJECT] == ["kept", "sunset"]
    run("undo", str(library))
    assert read_fields(sidecar.read_bytes())[DC_SUBJECT] == ["kept"] and target.read_bytes() == before


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_json_lines_split_on_newline_only_and_a_dropped_record_means_exit_3(library, tmp_path, separator):
    # A tag and a name holding a Unicode line separator (json.dumps(ensure_ascii=False) keeps it raw).
    odd_name = f"odd{separator}name.jpg"
    make_jpeg(library / "2023" / odd_name)
    records = [
        suggest_record(library, f"2023/{odd_name}", [f"north{separator}south"]),
        suggest_record(library, "2023/IMG_0002.jpg", [f"a{separator}b"]),
    ]
    reviewed = tmp_path / "s.jsonl"
    reviewed.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    result = run("apply", str(reviewed), "--library", str(library))
    assert "2 photo(s): changed 2 sidecar(s) (2 new)" in " ".join(result.output.split())
    assert (library / "2023" / f"{odd_name}.xmp").is_file()
    assert (library / "2023" / "IMG_0002.jpg.xmp").is_file()

    # One unparseable record among good ones: the good one is written, the bad one named by its line, exit 3.
    good = json.dumps(suggest_record(library, "2024/lake.jpg", ["pier"]))
    reviewed.write_text(good + "\n{broken\n", encoding="utf-8")
    result = run("apply", str(reviewed), "--library", str(library), "--verbose", code=3)
    assert "pier" in read_fields((library / "2024" / "lake.xmp").read_bytes())[DC_SUBJECT]
    assert "s.jsonl line 2: not a JSON object" in " ".join(result.output.split())


def test_csv_fields_with_line_separators_stay_one_row(library, tmp_path):
    reviewed = tmp_path / "s.csv"
    with reviewed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "tag", "score", "source"])
        writer.writerow(["2023/IMG_0002.jpg", "one\u2028two", "0.9", "personal"])
        writer.writerow(["2024/lake.jpg", "pier", "0.9", "personal"])
    run("apply", str(reviewed), "--library", str(library))
    assert read_fields((library / "2023" / "IMG_0002.jpg.xmp").read_bytes())[DC_SUBJECT]
    assert "pier" in read_fields((library / "2024" / "lake.xmp").read_bytes())[DC_SUBJECT]


def test_a_fifo_named_like_a_photo_is_not_called_missing(library, tmp_path):
    os.mkfifo(library / "2023" / "pipe.jpg")
    reviewed = write_jsonl(tmp_path / "s.jsonl", [suggest_record(library, "2023/pipe.jpg", ["x"])])
    result = run("apply", str(reviewed), "--library", str(library), "--verbose", code=3)
    text = " ".join(result.output.split())
    assert "pipe.jpg: not a regular file: a FIFO (named pipe); not written" in text
    assert "photo not found" not in text
    assert not (library / "2023" / "pipe.jpg.xmp").exists()
