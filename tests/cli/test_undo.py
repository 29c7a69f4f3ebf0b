"""`phototag undo DIR`: batches undone newest first, byte for byte; files edited since are kept."""

from __future__ import annotations

import json
from pathlib import Path

from photos import make_jpeg
from sidecar_samples import CAMERA_RAW, DARKTABLE
from typer.testing import CliRunner

from phototag.cli import app

runner = CliRunner()


def apply(library: Path, tmp_path: Path, name: str, tags: dict[str, list[str]]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps({"path": rel, "abs_path": str(library / rel), "suggestions": [{"tag": t} for t in ts]}) + "\n"
            for rel, ts in tags.items()
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["apply", str(path), "--library", str(library)])
    assert result.exit_code == 0, result.output


def test_undo_batches_in_order_dry_run_and_edited_files(tmp_path):
    library = tmp_path / "lib"
    make_jpeg(library / "one.jpg")
    make_jpeg(library / "two.jpg")
    make_jpeg(library / "three.jpg")
    (library / "one.jpg.xmp").write_text(DARKTABLE, encoding="utf-8")
    (library / "two.xmp").write_text(CAMERA_RAW, encoding="utf-8")
    original = {p.name: p.read_bytes() for p in library.glob("*.xmp")}

    apply(library, tmp_path, "first", {"one.jpg": ["Animals|Fox"], "two.jpg": ["fox"], "three.jpg": ["fox"]})
    after_first = {p.name: p.read_bytes() for p in library.glob("*.xmp")}
    apply(library, tmp_path, "second", {"one.jpg": ["snow"], "three.jpg": ["snow"]})

    preview = runner.invoke(app, ["undo", str(library), "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "-     <rdf:li>snow</rdf:li>" in preview.stdout
    assert "would restore 2 sidecar(s)" in preview.output
    assert (library / "three.jpg.xmp").read_bytes() != after_first["three.jpg.xmp"]  # dry run changed nothing

    second = runner.invoke(app, ["undo", str(library)])
    assert second.exit_code == 0, second.output
    assert {p.name: p.read_bytes() for p in library.glob("*.xmp")} == after_first

    # the person edits a sidecar phototag created: undo keeps it and says so
    created = library / "three.jpg.xmp"
    created.write_bytes(created.read_bytes().replace(b"fox", b"vixen"))
    first = runner.invoke(app, ["undo", str(library), "-v"])
    assert first.exit_code == 3, first.output
    assert "kept three.jpg.xmp" not in first.output  # full path is shown
    assert f"kept {created}: changed since phototag wrote it" in " ".join(first.output.split())
    assert created.exists() and b"vixen" in created.read_bytes()
    assert {p.name: p.read_bytes() for p in library.glob("*.xmp") if p != created} == original

    nothing = runner.invoke(app, ["undo", str(library)])
    assert nothing.exit_code == 0 and "nothing to undo" in nothing.output


def test_the_journal_keeps_the_last_batches_and_a_byte_budget(tmp_path):
    from phototag.library.index import Index
    from phototag.library.journal import undoable_batches
    from phototag.library.sidecar import SidecarWriter, undo_last_batch

    library = tmp_path / "lib"
    photo = make_jpeg(library / "one.jpg")
    sidecar = library / "one.jpg.xmp"
    states = []
    with Index.for_library(library) as index:
        for n in range(5):
            with SidecarWriter(index, "apply", journal_limits=(3, 10**9)) as writer:
                writer.add_tags(photo, [f"tag{n}"])
            states.append(sidecar.read_bytes())
        assert [b.id for b in undoable_batches(index)] == [5, 4, 3]  # the two oldest were pruned
        assert index.connection.execute("SELECT COUNT(*) FROM write_journal").fetchone()[0] == 3
        for _ in range(3):
            undo_last_batch(index)
        assert sidecar.read_bytes() == states[1]  # back to the oldest batch kept; older ones cannot be undone
        assert undo_last_batch(index).batch_id is None

        # A byte budget smaller than one batch: only the newest batch stays (it is always kept).
        for n in range(2):
            with SidecarWriter(index, "apply", journal_limits=(100, 1)) as writer:
                writer.add_tags(photo, [f"big{n}"])
        assert [b.id for b in undoable_batches(index)] == [7]
        assert index.connection.execute("SELECT COUNT(*) FROM write_batches").fetchone()[0] == 1


def test_undo_list_shows_what_can_still_be_undone(tmp_path):
    library = tmp_path / "lib"
    make_jpeg(library / "one.jpg")
    make_jpeg(library / "two.jpg")
    empty = runner.invoke(app, ["undo", str(library), "--list"])
    assert empty.exit_code == 0 and "nothing to undo" in empty.output
    apply(library, tmp_path, "first", {"one.jpg": ["fox"], "two.jpg": ["fox"]})
    apply(library, tmp_path, "second", {"one.jpg": ["snow"]})
    listed = runner.invoke(app, ["undo", str(library), "--list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("batch 2 ") and "apply" in lines[0] and " 1 sidecar(s)" in lines[0]
    assert lines[1].startswith("batch 1 ") and " 2 sidecar(s)" in lines[1] and "MB journaled" in lines[1]
    assert (library / "one.jpg.xmp").exists()  # --list undoes nothing
    assert runner.invoke(app, ["undo", str(library)]).exit_code == 0
    assert runner.invoke(app, ["undo", str(library), "--list"]).stdout.splitlines()[0].startswith("batch 1 ")


def test_pruning_leaves_a_batch_another_run_is_still_writing(tmp_path):
    from phototag.library.index import Index
    from phototag.library.journal import undoable_batches
    from phototag.library.sidecar import SidecarWriter

    library = tmp_path / "lib"
    photos = [make_jpeg(library / f"p{n}.jpg") for n in range(4)]
    with Index.for_library(library) as index, SidecarWriter(index, "review") as review:
        review.add_tags(photos[0], ["first"])  # a long review session: batch 1, not finished
        for n in range(3):
            with SidecarWriter(index, "apply", journal_limits=(2, 10**9)) as writer:
                writer.add_tags(photos[1], [f"tag{n}"])
        assert [b.id for b in undoable_batches(index)] == [4, 3, 1]
        with index.write() as db:  # and if it was pruned all the same (idle for a day), its next write goes on
            db.execute("DELETE FROM write_journal WHERE batch_id = 1")
            db.execute("DELETE FROM write_batches WHERE id = 1")
        assert review.add_tags(photos[2], ["later"]).changed
    assert "later" in (library / "p2.jpg.xmp").read_text(encoding="utf-8")
