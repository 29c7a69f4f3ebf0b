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
    assert (
        reason.startswith("sidecar left untouched: ") and f"more than the {MAX_EDITED_TAGS:,} phototag edits" in reason
    )
    assert sidecar.read_bytes() == before


def test_truncated_jpeg_with_an_intact_header_keeps_its_keywords(tmp_path, exiftool):
    import subprocess

    import pytest

    from phototag.imaging.decode import load_rgb
    from phototag.imaging.pixels import DecodeError

    library = tmp_path / "lib"
    whole = make_jpeg(tmp_path / "whole.jpg", size=(640, 480))
    subprocess.run(
        [
            exiftool,
            "-q",
            "-overwrite_original",
            "-XMP-dc:Subject=Beach",
            "-XMP-lr:HierarchicalSubject=Places|Beach",
            "-IPTC:Keywords=Beach",
            str(whole),
        ],
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


def _app1(payload: bytes) -> bytes:
    import struct

    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _extended_xmp_jpeg(
    path: Path, packets: int, chunks: list[tuple[int, bytes]], guid: bytes = b"0123456789ABCDEF" * 2
):
    """A Pillow JPEG with `packets` main XMP packets (dc:subject `kept`, naming `guid` as their ExtendedXMP)
    and ExtendedXMP chunks (full length, chunk bytes at consecutive offsets) put in by hand."""
    import io
    import struct

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        b' xmpNote:HasExtendedXMP="' + guid + b'"><dc:subject><rdf:Bag><rdf:li>kept</rdf:li></rdf:Bag></dc:subject>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    segments = [_app1(b"http://ns.adobe.com/xap/1.0/\0" + xmp)] * packets
    offset = 0
    for full, chunk in chunks:
        segments.append(
            _app1(b"http://ns.adobe.com/xmp/extension/\0" + guid + struct.pack(">II", full, offset) + chunk)
        )
        offset += len(chunk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg[:2] + b"".join(segments) + jpeg[2:])
    return path


def test_a_crafted_extended_xmp_costs_neither_time_nor_memory(tmp_path):
    """Issue 18 item 8: 3,000 main packets naming one ExtendedXMP GUID, one chunk claiming 64 MiB. Each GUID
    is read once, only what arrived is held: the scan is quick, small, and says once what it left out."""
    import signal
    import time
    import tracemalloc

    library = tmp_path / "lib"
    photo = _extended_xmp_jpeg(library / "crafted.jpg", 3000, [(64 << 20, b"<x" * 100)])
    assert photo.stat().st_size > 800_000

    def expired(signum, frame):
        raise TimeoutError("the crafted ExtendedXMP took more than 60 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        summary, photos, reporter = scan(library, tmp_path / "i.sqlite")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert elapsed < 5  # about 0.3 s unloaded (under tracemalloc); it took minutes before
    assert peak < 32 << 20  # 64 MiB per packet before
    assert {k.text for k in photos["crafted.jpg"].keywords} == {"kept"}
    assert [w for w in reporter.warnings if "ExtendedXMP" in w] == [f"{photo}: ExtendedXMP is incomplete; not read"]


def test_extended_xmp_past_the_cap_is_left_out_with_one_warning(tmp_path):
    from phototag.library.containers.jpeg import MAX_EXTENDED_XMP
    from phototag.library.metadata import read_photo_metadata

    size = 65_000
    count = MAX_EXTENDED_XMP // size + 2
    full = size * count
    photo = _extended_xmp_jpeg(tmp_path / "big.jpg", 2, [(full, b" " * size)] * count)
    meta = read_photo_metadata(photo)
    assert meta.flat() == {"kept"}
    assert meta.warnings == [
        f"{photo}: ExtendedXMP holds more than {MAX_EXTENDED_XMP >> 20} MiB; the rest is not read",
        f"{photo}: ExtendedXMP is incomplete; not read",
    ]


def test_extended_xmp_chunks_out_of_order_are_assembled_by_offset(tmp_path):
    import struct

    from phototag.library.metadata import read_photo_metadata

    guid = b"FEDCBA9876543210" * 2
    extension = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>'
        + b"".join(b"<rdf:li>ext%d</rdf:li>" % i for i in range(50))
        + b"</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    photo = _extended_xmp_jpeg(tmp_path / "shuffled.jpg", 1, [], guid=guid)
    data = photo.read_bytes()
    pieces = [(offset, extension[offset : offset + 300]) for offset in range(0, len(extension), 300)]
    chunks = b"".join(
        _app1(b"http://ns.adobe.com/xmp/extension/\0" + guid + struct.pack(">II", len(extension), offset) + piece)
        for offset, piece in reversed(pieces)
    )
    photo.write_bytes(data[:2] + chunks + data[2:])
    meta = read_photo_metadata(photo)
    assert meta.flat() == {"kept"} | {f"ext{i}" for i in range(50)} and meta.warnings == []
