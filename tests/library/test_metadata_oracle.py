"""The keyword reader against exiftool's own test images (../shared/corpora/exiftool-keywords).

expected.json holds what exiftool reads from each file; our reader must find exactly the
same flat keywords (dc:subject + IPTC Keywords + XPKeywords, all blocks) and the same
hierarchical ones, as case-sensitive sets. Negatives must give nothing and not raise.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from phototag.library.keywords import FLAT_FIELDS, HIERARCHICAL_FIELDS
from phototag.library.metadata import read_photo_metadata

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpora" / "exiftool-keywords"


def brotli_installed() -> bool:
    return importlib.util.find_spec("brotli") is not None


def _entries() -> list[str]:
    expected = CORPUS / "expected.json"
    if not expected.is_file():
        return []
    return sorted(json.loads(expected.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def expected() -> dict:
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"exiftool keyword corpus {CORPUS} is absent (it lives in ../shared beside the repository)")
    return json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_corpus_is_present_and_complete(expected):
    files = {p.name for p in CORPUS.iterdir() if p.name not in ("README.md", "expected.json")}
    assert files == set(expected)
    assert sum(1 for entry in expected.values() if entry["keywords"]) == 13


def _brotli_box_keywords(path: Path) -> set[str]:
    """dc:subject items inside the Brotli-compressed ('brob') XMP box of a JPEG XL file, found
    without the reader: walk the top-level boxes, decompress with the brotli library, pick the
    rdf:li items of dc:subject with a regular expression."""
    brotli = pytest.importorskip("brotli")
    data = path.read_bytes()
    pos, found = 0, set()
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        if kind == b"brob" and data[pos + 8 : pos + 12] == b"xml ":
            xmp = brotli.decompress(data[pos + 12 : pos + size]).decode("utf-8")
            subject = re.search(r"<dc:subject>(.*?)</dc:subject>", xmp, re.S)
            found |= set(re.findall(r"<rdf:li>([^<]*)</rdf:li>", subject.group(1))) if subject else set()
        pos += size
    return found


# exiftool here (Debian 12.57) has no IO::Uncompress::Brotli, so it could not see the XMP in
# JXL2.jxl's Brotli-compressed box and expected.json lists no keyword for it. Our reader does
# read that box when the brotli package is installed; the test proves the extra keyword is
# really in the file, independently of the reader.
_UNREAD_BY_THIS_EXIFTOOL = {"JXL2.jxl"}


@pytest.mark.parametrize("name", _entries() or ["(corpus absent)"])
def test_reader_agrees_with_exiftool(expected, name):
    entry = expected[name]
    # .xmp files are read as standalone sidecars; read_photo_metadata does that for a .xmp path
    meta = read_photo_metadata(CORPUS / name)
    flat = {k.text for k in meta.keywords if k.field in FLAT_FIELDS}
    hierarchical = {k.text for k in meta.keywords if k.field in HIERARCHICAL_FIELDS}
    wanted = set(entry["keywords"])
    if name in _UNREAD_BY_THIS_EXIFTOOL and brotli_installed():
        extra = _brotli_box_keywords(CORPUS / name)
        assert extra == {"ExifTool test"}  # the file is what we think it is
        wanted |= extra
    assert flat == wanted
    assert hierarchical == set(entry["hierarchical"])
    assert all(k.file == CORPUS / name for k in meta.keywords)
    if not wanted:
        assert meta.keywords == []


def test_sources_are_labelled_as_exiftool_groups_say(expected):
    """Where exiftool saw IPTC (any block) we report source iptc; XMP-dc is xmp (or xmp-sidecar for .xmp)."""
    for name, entry in expected.items():
        if not entry["keywords"]:
            continue
        sources = {k.source for k in read_photo_metadata(CORPUS / name).keywords}
        wanted = set()
        for group in entry["sources"]:
            if group.startswith("IPTC"):
                wanted.add("iptc")
            elif group == "XMP-dc":
                wanted.add("xmp-sidecar" if name.endswith(".xmp") else "xmp")
            elif group == "IFD0":
                wanted.add("exif")
        assert sources == wanted, name


def test_known_traps(expected):
    assert {k.text for k in read_photo_metadata(CORPUS / "XMP.xmp").keywords} == {"test1", "&-&amp;-&"}
    afcp = read_photo_metadata(CORPUS / "AFCP.jpg")
    assert [(k.text, k.source, k.field) for k in afcp.keywords] == [("keyword", "iptc", "IPTC:Keywords")]
    # UTF-16 XMP (XMP.jpg) and the Photoshop/IPTC disagreement (MWG.jpg) read without warnings
    for name in ("XMP.jpg", "MWG.jpg", "ExifTool.jpg", "XMP2.xmp", "XMP6.xmp"):
        assert read_photo_metadata(CORPUS / name).warnings == [], name
