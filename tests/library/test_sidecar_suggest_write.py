"""Done-when check of issue 5: after `phototag suggest --write`, exiftool reads exactly the old keywords
plus the accepted ones, darktable history and Camera Raw settings are unchanged, and undo restores the bytes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from sidecar_samples import CAMERA_RAW, DARKTABLE
from typer.testing import CliRunner

from phototag.cli import app

runner = CliRunner()


def exiftool_json(exiftool: str, path: Path, *args: str) -> dict:
    out = subprocess.run([exiftool, "-j", *args, str(path)], capture_output=True, text=True, check=True).stdout
    record = json.loads(out)[0]
    record.pop("SourceFile")
    return record


def keywords(exiftool: str, path: Path) -> dict[str, list[str]]:
    record = exiftool_json(exiftool, path, "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList")

    def as_list(value):
        return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]

    return {key: as_list(record.get(key)) for key in ("Subject", "HierarchicalSubject", "TagsList")}


def folded(values) -> list[str]:
    return [v.casefold() for v in values]


@pytest.mark.slow
def test_suggest_write_interop_and_undo(tmp_path, exiftool):
    library = tmp_path / "lib"
    dt_photo = make_jpeg(library / "IMG_1234.jpg", color=(60, 140, 60))
    dt = library / "IMG_1234.jpg.xmp"
    dt.write_text(DARKTABLE, encoding="utf-8")
    make_jpeg(library / "IMG_2000.jpg", color=(200, 180, 120))
    cr = library / "IMG_2000.xmp"
    cr.write_text(CAMERA_RAW, encoding="utf-8")
    for i, tags in enumerate((["Animals|Dog", "Places|Beach"], ["Animals|Dog", "sea"], ["Places|Beach", "sea"])):
        make_jpeg(library / f"other{i}.jpg", color=(40 * i, 90, 160))
        write_sidecar(library / f"other{i}.jpg.xmp", subjects=[t.split("|")[-1] for t in tags], hierarchical=tags)
    before_bytes = {p: p.read_bytes() for p in library.glob("*.xmp")}
    before = {p: keywords(exiftool, p) for p in (dt, cr)}
    crs_before = exiftool_json(exiftool, cr, "-XMP-crs:all")
    history_before = re.search(rb"<darktable:history>.*</darktable:history>", dt.read_bytes(), re.S).group(0)

    result = runner.invoke(
        app, ["suggest", str(library), "--all", "--write", "--json", "--min-score", "0", "--top-k", "4"]
    )
    assert result.exit_code == 0, result.output
    accepted = {
        library / r["path"]: [s["tag"] for s in r["suggestions"]] for r in map(json.loads, result.stdout.splitlines())
    }
    assert accepted[dt_photo]

    for sidecar, photo in ((dt, dt_photo), (cr, library / "IMG_2000.jpg")):
        after = keywords(exiftool, sidecar)
        old = before[sidecar]
        tags = accepted[photo]
        # old keywords first, exactly as they were; then only accepted ones, no duplicates
        assert after["Subject"][: len(old["Subject"])] == old["Subject"]
        leaves = [t.split("|")[-1] for t in tags]
        assert set(folded(after["Subject"])) == set(folded(old["Subject"] + leaves))
        assert len(set(folded(after["Subject"]))) == len(after["Subject"])
        assert after["HierarchicalSubject"][: len(old["HierarchicalSubject"])] == old["HierarchicalSubject"]
        old_paths = set(folded(old["HierarchicalSubject"]))
        new_paths = [p for p in after["HierarchicalSubject"][len(old["HierarchicalSubject"]) :]]
        assert set(folded(new_paths)) <= set(folded(tags)) | set(folded(old["Subject"]))
        for tag in tags:
            if "|" in tag:
                assert tag.casefold() in set(folded(after["HierarchicalSubject"])) | old_paths
                assert tag.replace("|", "/").casefold() in set(folded(after["TagsList"]))

    assert cr.read_bytes() != before_bytes[cr]  # it had no keywords: the suggestions went in
    assert exiftool_json(exiftool, cr, "-XMP-crs:all") == crs_before
    assert re.search(rb"<darktable:history>.*</darktable:history>", dt.read_bytes(), re.S).group(0) == history_before

    undone = runner.invoke(app, ["undo", str(library)])
    assert undone.exit_code == 0, undone.output
    assert {p: p.read_bytes() for p in library.glob("*.xmp")} == before_bytes
