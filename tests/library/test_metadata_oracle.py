"""The keyword reader against exiftool's own test images (../shared/corpora/exiftool-keywords).

expected.json holds what exiftool reads from each file; our reader must find exactly the
same flat keywords (dc:subject + IPTC Keywords + XPKeywords, all blocks) and the same
hierarchical ones, as case-sensitive sets. Negatives must give nothing and not raise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from exiftool_corpus import keywords_exiftool_missed

from phototag.library.keywords import FLAT_FIELDS, HIERARCHICAL_FIELDS
from phototag.library.metadata import read_photo_metadata

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpora" / "exiftool-keywords"


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


@pytest.mark.parametrize("name", _entries() or ["(corpus absent)"])
def test_reader_agrees_with_exiftool(expected, name):
    entry = expected[name]
    # .xmp files are read as standalone sidecars; read_photo_metadata does that for a .xmp path
    meta = read_photo_metadata(CORPUS / name)
    flat = {k.text for k in meta.keywords if k.field in FLAT_FIELDS}
    hierarchical = {k.text for k in meta.keywords if k.field in HIERARCHICAL_FIELDS}
    wanted = set(entry["keywords"])
    wanted |= keywords_exiftool_missed(CORPUS / name)  # JXL2.jxl's Brotli box, when brotli is installed
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
