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
