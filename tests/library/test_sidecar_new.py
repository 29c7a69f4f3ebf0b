"""New and existing sidecars as other tools see them (issue 12): a new sidecar names phototag as its
toolkit and starts from the photo's own keywords; checked with exiftool and with phototag's rescan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from photos import make_jpeg, with_embedded_xmp
from sidecar_samples import CAMERA_RAW, DARKTABLE

from phototag import __version__
from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter
from phototag.reporting import CollectingReporter


def exiftool_tags(exiftool: str, path: Path, *tags: str) -> dict:
    out = subprocess.run(
        [exiftool, "-j", *(f"-{t}" for t in tags), str(path)], capture_output=True, text=True, check=True
    )
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


def rescanned_tags(library: Path, db: Path) -> dict[str, set[str]]:
    from phototag.library.history import photo_tags_of
    from phototag.library.scan import scan_library

    with Index(db, library) as index:
        scan_library(index, CollectingReporter())
        return {p.display_path: set(photo_tags_of(p.keywords).spellings) for p in index.photos()}


def test_new_sidecar_starts_from_the_photos_embedded_keywords(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    xmp = make_jpeg(library / "xmp.jpg")
    subprocess.run(
        [
            exiftool,
            "-q",
            "-overwrite_original",
            "-XMP-dc:Subject=Alice",
            "-XMP-dc:Subject=Birthday",
            "-XMP-lr:HierarchicalSubject=People|Alice",
            "-IPTC:Keywords=ignored (XMP wins)",
            str(xmp),
        ],
        check=True,
    )
    iptc = make_jpeg(library / "iptc.jpg")
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", "-IPTC:Keywords=Bob", "-IPTC:Keywords=Zoo", str(iptc)], check=True
    )
    windows = make_jpeg(library / "windows.jpg")
    subprocess.run([exiftool, "-q", "-overwrite_original", "-XPKeywords=Carol;Snow", str(windows)], check=True)
    before = rescanned_tags(library, db)
    assert before == {"iptc.jpg": {"Bob", "Zoo"}, "windows.jpg": {"Carol", "Snow"}, "xmp.jpg": {"Alice", "Birthday"}}

    for photo in (xmp, iptc, windows):
        result, reporter = write(library, db, photo, ["Animals|Cat", "alice"])
        assert result.created and not reporter.skipped

    sidecar = exiftool_tags(exiftool, library / "xmp.jpg.xmp", "XMP-dc:Subject", "XMP-lr:HierarchicalSubject")
    assert sidecar["Subject"] == ["Alice", "Birthday", "Cat"]  # "alice" is there already
    assert set(sidecar["HierarchicalSubject"]) == {"People|Alice", "Birthday", "Animals|Cat"}
    assert exiftool_tags(exiftool, library / "iptc.jpg.xmp", "XMP-dc:Subject")["Subject"] == [
        "Bob",
        "Zoo",
        "Cat",
        "alice",
    ]
    assert exiftool_tags(exiftool, library / "windows.jpg.xmp", "XMP-dc:Subject")["Subject"] == [
        "Carol",
        "Snow",
        "Cat",
        "alice",
    ]
    after = rescanned_tags(library, db)
    assert after == {
        "iptc.jpg": {"Bob", "Zoo", "Cat", "alice"},
        "windows.jpg": {"Carol", "Snow", "Cat", "alice"},
        "xmp.jpg": {"Alice", "Birthday", "Cat"},
    }


def test_no_sidecar_when_the_tags_are_already_embedded(tmp_path, exiftool):
    library = tmp_path / "lib"
    photo = make_jpeg(library / "a.jpg")
    subprocess.run([exiftool, "-q", "-overwrite_original", "-XMP-dc:Subject=Cat", str(photo)], check=True)
    result, _ = write(library, tmp_path / "i.sqlite", photo, ["cat"])
    assert not result.changed and not (library / "a.jpg.xmp").exists()


def test_no_sidecar_when_embedded_keywords_cannot_be_read(tmp_path):
    library = tmp_path / "lib"
    packet = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    )
    photo = with_embedded_xmp(make_jpeg(library / "a.jpg"), packet)
    result, reporter = write(library, tmp_path / "i.sqlite", photo, ["Cat"])
    assert not result.changed and not (library / "a.jpg.xmp").exists()
    assert "could not all be read" in reporter.skipped[str(library / "a.jpg.xmp")]
