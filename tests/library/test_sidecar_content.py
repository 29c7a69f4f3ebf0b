"""What a sidecar starts from (issue 18 items 1 and 4): a sidecar with no keyword yet gets the photo's
embedded keywords before its first tag, as a new one does, and embedded keywords with tabs, line breaks or
control characters are kept (made writable), not dropped. Checked with exiftool and phototag's rescan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from photos import make_jpeg, with_embedded_xmp, write_sidecar

from phototag.library.history import photo_tags_of
from phototag.library.index import Index
from phototag.library.scan import scan_library
from phototag.library.sidecar import SidecarWriter, undo_last_batch
from phototag.reporting import CollectingReporter

RATING_ONLY = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""\n'
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
    '   xmp:Rating="3"/>\n'
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
)
EMPTY_BAG = RATING_ONLY.replace(
    '   xmp:Rating="3"/>\n',
    '   xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="3">\n'
    "   <dc:subject><rdf:Bag/></dc:subject>\n  </rdf:Description>\n",
)
PACKET = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:lr="http://ns.adobe.com/lightroom/1.0/">{}</rdf:Description></rdf:RDF></x:xmpmeta>'
)


def exiftool_read(exiftool: str, path: Path, *tags: str) -> dict:
    out = subprocess.run(
        [exiftool, "-j", "-G1", *(f"-{t}" for t in tags), str(path)], capture_output=True, text=True, check=True
    )
    record = json.loads(out.stdout)[0]
    record.pop("SourceFile")
    return {key: value if isinstance(value, list) else [value] for key, value in record.items()}


def embed(exiftool: str, photo: Path, source: str) -> Path:
    """Beach and Sunset in one of the places a photo keeps keywords."""
    if source == "xmp-hierarchical":  # lr:hierarchicalSubject only, no dc:subject
        items = "<rdf:li>Places|Beach</rdf:li><rdf:li>Sky|Sunset</rdf:li>"
        return with_embedded_xmp(
            photo,
            PACKET.format(f"<lr:hierarchicalSubject><rdf:Bag>{items}</rdf:Bag></lr:hierarchicalSubject>").encode(),
        )
    args = {
        "iptc": ["-IPTC:Keywords=Beach", "-IPTC:Keywords=Sunset"],
        "xmp": ["-XMP-dc:Subject=Beach", "-XMP-dc:Subject=Sunset"],
        "xpkeywords": ["-XPKeywords=Beach;Sunset"],
    }[source]
    subprocess.run([exiftool, "-q", "-overwrite_original", *args, str(photo)], check=True)
    return photo


def keywords_in_iptc(exiftool: str, photo: Path, *words: str) -> Path:
    subprocess.run(
        [exiftool, "-q", "-overwrite_original", *(f"-IPTC:Keywords={w}" for w in words), str(photo)], check=True
    )
    return photo


def add(library: Path, db: Path, photo: Path, tags: list[str]):
    reporter = CollectingReporter()
    with Index(db, library) as index, SidecarWriter(index, "test", reporter=reporter) as writer:
        result = writer.add_tags(photo, tags)
    return result, reporter


def rescanned(library: Path, db: Path) -> dict[str, set[str]]:
    with Index(db, library) as index:
        scan_library(index, CollectingReporter())
        return {p.display_path: set(photo_tags_of(p.keywords).spellings) for p in index.photos()}


# ------------------------------------------------------------------ item 1


@pytest.mark.parametrize("source", ["iptc", "xmp", "xpkeywords", "xmp-hierarchical"])
@pytest.mark.parametrize("sidecar_text", [RATING_ONLY, EMPTY_BAG], ids=["rating-only", "empty-bag"])
def test_a_sidecar_without_keywords_gets_the_photos_own_before_its_first_tag(tmp_path, exiftool, source, sidecar_text):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = embed(exiftool, make_jpeg(library / "a.jpg"), source)
    sidecar = library / "a.xmp"
    sidecar.write_text(sidecar_text, encoding="utf-8")
    before = sidecar.read_bytes()
    assert rescanned(library, db) == {"a.jpg": {"Beach", "Sunset"}}

    result, reporter = add(library, db, photo, ["New"])
    assert result.sidecars == [sidecar] and result.added == ["New"] and not reporter.skipped
    seen = exiftool_read(exiftool, sidecar, "XMP-dc:Subject", "XMP-xmp:Rating", "XMP-lr:HierarchicalSubject")
    assert seen["XMP-dc:Subject"] == ["Beach", "Sunset", "New"] and seen["XMP-xmp:Rating"] == [3]
    if source == "xmp-hierarchical":
        assert seen["XMP-lr:HierarchicalSubject"] == ["Places|Beach", "Sky|Sunset", "New"]
    assert rescanned(library, db) == {"a.jpg": {"Beach", "Sunset", "New"}}

    with Index(db, library) as index:
        undo_last_batch(index)
    assert sidecar.read_bytes() == before


def test_a_sidecar_with_keywords_is_what_counts_and_gets_no_embedded_ones(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = embed(exiftool, make_jpeg(library / "a.jpg"), "iptc")
    write_sidecar(library / "a.xmp", subjects=["Mine"])
    add(library, db, photo, ["New"])
    assert exiftool_read(exiftool, library / "a.xmp", "XMP-dc:Subject") == {"XMP-dc:Subject": ["Mine", "New"]}


def test_nothing_to_merge_and_tags_already_embedded(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    bare = make_jpeg(library / "bare.jpg")
    (library / "bare.xmp").write_text(RATING_ONLY, encoding="utf-8")
    assert add(library, db, bare, ["New"])[0].added == ["New"]
    assert exiftool_read(exiftool, library / "bare.xmp", "XMP-dc:Subject") == {"XMP-dc:Subject": ["New"]}
    # the tag is among the photo's own: the keyword-less sidecar stays as it is, nothing is hidden
    photo = embed(exiftool, make_jpeg(library / "a.jpg"), "iptc")
    (library / "a.xmp").write_text(RATING_ONLY, encoding="utf-8")
    result, _ = add(library, db, photo, ["beach"])
    assert not result.changed and (library / "a.xmp").read_text(encoding="utf-8") == RATING_ONLY


def test_a_sidecar_without_keywords_is_left_alone_when_the_photos_cannot_all_be_read(tmp_path):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    packet = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + PACKET.format("").encode()
    photo = with_embedded_xmp(make_jpeg(library / "a.jpg"), packet)
    (library / "a.xmp").write_text(RATING_ONLY, encoding="utf-8")
    result, reporter = add(library, db, photo, ["New"])
    assert not result.changed and (library / "a.xmp").read_text(encoding="utf-8") == RATING_ONLY
    assert "could not all be read" in reporter.skipped[str(library / "a.xmp")]


def test_a_new_dc_subject_starts_with_the_leaves_of_the_sidecars_hierarchy(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = make_jpeg(library / "a.jpg")
    write_sidecar(library / "a.jpg.xmp", hierarchical=["People|Alice", "Places|Beach"])
    result, _ = add(library, db, photo, ["New", "Alice"])
    assert result.added == ["New"]
    seen = exiftool_read(exiftool, library / "a.jpg.xmp", "XMP-dc:Subject", "XMP-lr:HierarchicalSubject")
    assert seen == {
        "XMP-dc:Subject": ["Alice", "Beach", "New"],
        "XMP-lr:HierarchicalSubject": ["People|Alice", "Places|Beach", "New"],
    }


# ------------------------------------------------------------------ item 4


@pytest.mark.parametrize(
    "keyword, written",
    [
        ("Golden\tGate", "Golden Gate"),
        ("Line\nBreak", "Line Break"),
        ("Windows\r\nBreak", "Windows Break"),
        ("Tab \t then  spaces", "Tab then spaces"),
        ("Bell\x07Ring", "BellRing"),
        ("Escape\x1b", "Escape"),
        ("Unit\x1fSeparator", "Unit Separator"),
    ],
    ids=["tab", "newline", "crlf", "runs", "bell", "escape", "unit-separator"],
)
def test_embedded_keywords_with_control_characters_are_kept_made_writable(tmp_path, exiftool, keyword, written):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = keywords_in_iptc(exiftool, make_jpeg(library / "a.jpg"), keyword, "Plain")
    result, reporter = add(library, db, photo, ["New"])
    assert result.created == [library / "a.jpg.xmp"] and not reporter.skipped
    seen = exiftool_read(exiftool, library / "a.jpg.xmp", "XMP-dc:Subject")
    assert seen == {"XMP-dc:Subject": [written, "Plain", "New"]}
    assert rescanned(library, db) == {"a.jpg": {written, "Plain", "New"}}


def test_embedded_xmp_paths_with_tabs_and_line_breaks_are_kept(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    body = (
        "<dc:subject><rdf:Bag><rdf:li>New&#9;York</rdf:li><rdf:li>Two&#10;Lines</rdf:li></rdf:Bag></dc:subject>"
        "<lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|New&#9;York</rdf:li></rdf:Bag></lr:hierarchicalSubject>"
    )
    photo = with_embedded_xmp(make_jpeg(library / "a.jpg"), PACKET.format(body).encode())
    add(library, db, photo, ["New"])
    seen = exiftool_read(exiftool, library / "a.jpg.xmp", "XMP-dc:Subject", "XMP-lr:HierarchicalSubject")
    assert seen == {
        "XMP-dc:Subject": ["New York", "Two Lines", "New"],
        "XMP-lr:HierarchicalSubject": ["Places|New York", "Two Lines", "New"],
    }


def test_a_flat_embedded_keyword_with_a_bar_stays_one_flat_keyword(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = keywords_in_iptc(exiftool, make_jpeg(library / "a.jpg"), "AC|DC", "Plain")
    assert rescanned(library, db) == {"a.jpg": {"AC|DC", "Plain"}}
    add(library, db, photo, ["Animals|Cat"])
    fields = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject")
    assert exiftool_read(exiftool, library / "a.jpg.xmp", *fields) == {
        "XMP-dc:Subject": ["AC|DC", "Plain", "Cat"],
        "XMP-lr:HierarchicalSubject": ["Plain", "Animals|Cat"],  # 'AC|DC' there would be 'DC' under 'AC'
    }
    assert rescanned(library, db) == {"a.jpg": {"AC|DC", "Plain", "Cat"}}


# ------------------------------------------------------------------ smaller items


def test_a_slash_in_a_name_stays_out_of_digikam_tagslist(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    fresh = make_jpeg(library / "fresh.jpg")
    assert add(library, db, fresh, ["Music|AC/DC", "AC/DC live", "Animals|Cat"])[0].created
    fields = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList")
    assert exiftool_read(exiftool, library / "fresh.jpg.xmp", *fields) == {
        "XMP-dc:Subject": ["AC/DC", "AC/DC live", "Cat"],
        "XMP-lr:HierarchicalSubject": ["Music|AC/DC", "AC/DC live", "Animals|Cat"],
        "XMP-digiKam:TagsList": ["Animals/Cat"],  # 'AC/DC' here would be a tag 'DC' under 'AC' for digiKam
    }
    digikam = make_jpeg(library / "dk.jpg")
    write_sidecar(library / "dk.jpg.xmp", subjects=["Alice"], digikam=["People/Alice"])
    assert add(library, db, digikam, ["AC/DC"])[0].added == ["AC/DC"]
    assert add(library, db, digikam, ["ac/dc"])[0].added == []
    assert exiftool_read(exiftool, library / "dk.jpg.xmp", *fields) == {
        "XMP-dc:Subject": ["Alice", "AC/DC"],
        "XMP-digiKam:TagsList": ["People/Alice"],
    }
    # a new TagsList starts from the sidecar's other keywords, those with a '/' left out
    lightroom = make_jpeg(library / "lr.jpg")
    write_sidecar(library / "lr.jpg.xmp", subjects=["AC/DC", "Sea"], hierarchical=["Bands|AC/DC", "Sea"])
    add(library, db, lightroom, ["Animals|Cat"])
    assert exiftool_read(exiftool, library / "lr.jpg.xmp", "XMP-digiKam:TagsList") == {
        "XMP-digiKam:TagsList": ["Sea", "Animals/Cat"]
    }
    assert rescanned(library, db)["fresh.jpg"] == {"AC/DC", "AC/DC live", "Cat"}


TWO_DESCRIPTIONS = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
    "   <dc:subject><rdf:Bag><rdf:li>first1</rdf:li><rdf:li>first2</rdf:li></rdf:Bag></dc:subject>\n"
    "  </rdf:Description>\n"
    '  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
    "   <dc:subject><rdf:Bag><rdf:li>second</rdf:li></rdf:Bag></dc:subject>\n"
    "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
)
ONE_DESCRIPTION = TWO_DESCRIPTIONS.replace(
    '  </rdf:Description>\n  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">\n', ""
)


@pytest.mark.parametrize("text", [TWO_DESCRIPTIONS, ONE_DESCRIPTION], ids=["two-descriptions", "one-description"])
def test_with_duplicate_dc_subject_blocks_the_tags_go_where_exiftool_reads(tmp_path, exiftool, text):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = make_jpeg(library / "a.jpg")
    sidecar = library / "a.jpg.xmp"
    sidecar.write_text(text, encoding="utf-8")
    assert exiftool_read(exiftool, sidecar, "XMP-dc:Subject") == {"XMP-dc:Subject": ["second"]}
    result, reporter = add(library, db, photo, ["New", "first1", "second"])
    assert result.added == ["New", "first1"] and not reporter.skipped
    assert exiftool_read(exiftool, sidecar, "XMP-dc:Subject") == {"XMP-dc:Subject": ["second", "New", "first1"]}
    assert text.split("second")[0] in sidecar.read_text(encoding="utf-8")  # the first block is as it was
    assert rescanned(library, db) == {"a.jpg": {"first1", "first2", "second", "New"}}
