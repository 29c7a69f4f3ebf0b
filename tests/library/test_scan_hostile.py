"""Scanning hostile or damaged libraries (issue 12): huge keyword lists, truncated JPEGs,
non-regular files named like sidecars, oversized sidecars. Real files, real scans."""

from __future__ import annotations

from pathlib import Path

from photos import make_jpeg, write_sidecar

from phototag.library.collector import MAX_KEYWORDS
from phototag.library.history import photo_tags_of
from phototag.library.index import Index
from phototag.library.scan import scan_library
from phototag.reporting import CollectingReporter


def scan(root: Path, db: Path, **options):
    reporter = CollectingReporter()
    with Index(db, root) as index:
        summary = scan_library(index, reporter, **options)
        photos = {p.display_path: p for p in index.photos()}
    return summary, photos, reporter


def test_keywords_per_photo_are_capped_with_one_warning(tmp_path):
    library = tmp_path / "lib"
    make_jpeg(library / "a.jpg")
    count = MAX_KEYWORDS + 1_000
    write_sidecar(library / "a.jpg.xmp", subjects=[f"kw{i}" for i in range(count)])
    summary, photos, reporter = scan(library, tmp_path / "i.sqlite")
    keywords = photos["a.jpg"].keywords
    assert len(keywords) == MAX_KEYWORDS
    assert [k.text for k in keywords[:3]] == ["kw0", "kw1", "kw2"]  # the first ones, in file order
    capped = [w for w in reporter.warnings if "keywords" in w and f"{MAX_KEYWORDS:,}" in w]
    assert len(capped) == 1 and "a.jpg.xmp" in capped[0]
    assert len(photo_tags_of(keywords).keys) == MAX_KEYWORDS


def test_fifo_named_like_a_sidecar_does_not_block_the_scan(tmp_path):
    import os
    import signal

    library = tmp_path / "lib"
    make_jpeg(library / "a.jpg")
    write_sidecar(library / "a.xmp", subjects=["kept"])
    os.mkfifo(library / "a.jpg.xmp")
    os.mkfifo(library / "orphan.xmp")

    def expired(signum, frame):
        raise TimeoutError("scan blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    try:
        summary, photos, reporter = scan(library, tmp_path / "i.sqlite")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert {k.text for k in photos["a.jpg"].keywords} == {"kept"}


def test_a_sidecar_with_a_huge_keyword_list_is_refused_by_the_writer_at_once(tmp_path):
    from phototag.library.sidecar import SidecarWriter
    from phototag.library.xmp_edit import MAX_EDITED_TAGS

    library = tmp_path / "lib"
    photo = make_jpeg(library / "a.jpg")
    sidecar = write_sidecar(library / "a.jpg.xmp", subjects=[f"kw{i}" for i in range(MAX_EDITED_TAGS)])
    before = sidecar.read_bytes()
    summary, photos, reporter = scan(library, tmp_path / "i.sqlite")
    assert len(photos["a.jpg"].keywords) == MAX_KEYWORDS
    reporter = CollectingReporter()
    with Index(tmp_path / "i.sqlite", library) as index, SidecarWriter(index, "test", reporter=reporter) as writer:
        assert not writer.add_tags(photo, ["Animals|Cat"]).changed
    reason = reporter.skipped[str(sidecar)]
    assert reason.startswith("sidecar left untouched: ") and f"more than the {MAX_EDITED_TAGS:,} phototag edits" in reason
    assert sidecar.read_bytes() == before


def test_truncated_jpeg_with_an_intact_header_keeps_its_keywords(tmp_path, exiftool):
    import subprocess

    import pytest

    from phototag.imaging.decode import load_rgb
    from phototag.imaging.pixels import DecodeError

    library = tmp_path / "lib"
    whole = make_jpeg(tmp_path / "whole.jpg", size=(640, 480))
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", "-XMP-dc:Subject=Beach", "-XMP-lr:HierarchicalSubject=Places|Beach",
         "-IPTC:Keywords=Beach", str(whole)],
        check=True,
    )
    data = whole.read_bytes()
    start_of_scan = data.index(b"\xff\xda")
    library.mkdir()
    cut = library / "cut.jpg"
    cut.write_bytes(data[: (start_of_scan + len(data)) // 2])  # half of the image data is gone
    header_cut = library / "header_cut.jpg"
    header_cut.write_bytes(data[: start_of_scan // 2])
    summary, photos, reporter = scan(library, tmp_path / "i.sqlite")
    assert set(photos) == {"cut.jpg"}
    assert photo_tags_of(photos["cut.jpg"].keywords).paths == {"beach": ("Places", "Beach")}
    assert [w for w in reporter.warnings if "/cut.jpg" in w] == [
        f"{cut}: truncated JPEG (no end-of-image marker): keywords read; its pixels may not decode"
    ]
    assert summary.skipped == {str(header_cut): "truncated JPEG (cut off before its image data)"}
    with pytest.raises(DecodeError, match="truncated"):
        load_rgb(cut)
