"""New and existing sidecars as other tools see them (issue 12): a new sidecar names phototag as its
toolkit and starts from the photo's own keywords; checked with exiftool and with phototag's rescan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from photos import make_jpeg
from sidecar_samples import CAMERA_RAW, DARKTABLE

from phototag import __version__
from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter
from phototag.reporting import CollectingReporter


def exiftool_tags(exiftool: str, path: Path, *tags: str) -> dict:
    out = subprocess.run([exiftool, "-j", *(f"-{t}" for t in tags), str(path)], capture_output=True, text=True, check=True)
    record = json.loads(out.stdout)[0]
    record.pop("SourceFile")
    return record


def write(library: Path, db: Path, photo: Path, tags: list[str], **options):
    reporter = CollectingReporter()
    with Index(db, library) as index, SidecarWriter(index, "test", reporter=reporter, **options) as writer:
        result = writer.add_tags(photo, tags)
    return result, reporter


def test_new_sidecar_names_phototag_as_toolkit_and_existing_ones_keep_theirs(tmp_path, exiftool):
    library = tmp_path / "lib"
    fresh = make_jpeg(library / "fresh.jpg")
    darktable = make_jpeg(library / "dt.jpg")
    (library / "dt.jpg.xmp").write_text(DARKTABLE, encoding="utf-8")
    lightroom = make_jpeg(library / "lr.jpg")
    (library / "lr.xmp").write_text(CAMERA_RAW, encoding="utf-8")
    before = {p: exiftool_tags(exiftool, p, "XMPToolkit") for p in (library / "dt.jpg.xmp", library / "lr.xmp")}
    for photo in (fresh, darktable, lightroom):
        result, _ = write(library, tmp_path / "i.sqlite", photo, ["Phototag test|Toolkit"])
        assert result.changed
    assert exiftool_tags(exiftool, library / "fresh.jpg.xmp", "XMPToolkit") == {"XMPToolkit": f"phototag {__version__}"}
    for sidecar, toolkit in before.items():
        assert exiftool_tags(exiftool, sidecar, "XMPToolkit") == toolkit
    assert before[library / "dt.jpg.xmp"] == {"XMPToolkit": "XMP Core 4.4.0-Exiv2"}  # darktable's, kept
