"""Sidecar writer: minimal edits of real darktable / Camera Raw sidecars, naming rule, safety, journal, undo."""

from __future__ import annotations

import difflib
import io
import json
import os
import re
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from photos import make_jpeg, write_sidecar, xmp_sidecar
from sidecar_samples import CAMERA_RAW, DARKTABLE

from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter, undo_last_batch
from phototag.library.sidecar_names import choose_sidecars
from phototag.library.xmp_edit import NEW_SIDECAR, SidecarError, edit_xmp, read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT, DIGIKAM_TAGS, LR_HIERARCHICAL
from phototag.reporting import CollectingReporter

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def only_insertions(old: bytes, new: bytes) -> bool:
    """True when `new` is `old` with bytes inserted and nothing removed or replaced."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in matcher.get_opcodes())


def element_bytes(data: bytes, name: bytes) -> bytes:
    match = re.search(rb"<" + name + rb"[ >].*?</" + name + rb">", data, re.S)
    assert match, name
    return match.group(0)


def description_attributes(data: bytes) -> dict:
    root = ET.fromstring(data)
    description = root.find(f"{RDF}RDF/{RDF}Description")
    return dict(description.attrib)


def non_keyword_children(data: bytes) -> list[bytes]:
    root = ET.fromstring(data)
    description = root.find(f"{RDF}RDF/{RDF}Description")
    keyword_tags = {
        "{http://purl.org/dc/elements/1.1/}subject",
        "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject",
        "{http://www.digikam.org/ns/1.0/}TagsList",
    }
    children = [child for child in description if child.tag not in keyword_tags]
    for child in children:
        child.tail = None  # the whitespace after an element is not part of it
    return [ET.tostring(child) for child in children]


@pytest.fixture
def index(tmp_path) -> Index:
    root = tmp_path / "lib"
    root.mkdir()
    with Index.for_library(root, tmp_path / "index.sqlite") as idx:
        yield idx


def journal_rows(index: Index) -> list[tuple]:
    return index.connection.execute("SELECT sidecar, tags, model FROM write_journal ORDER BY id").fetchall()


# ------------------------------------------------------------------ editing


def test_darktable_sidecar_gets_tags_and_keeps_every_other_byte():
    old = DARKTABLE.encode()
    new, added = edit_xmp(old, ["Animals|Cat", "sunset", "Places|Europe|Paris", "GARDEN"])

    assert added == ["sunset", "Places|Europe|Paris"]  # cat and garden are there already (any case)
    assert only_insertions(old, new)
    assert element_bytes(new, b"darktable:history") == element_bytes(old, b"darktable:history")
    assert element_bytes(new, b"darktable:masks_history") == element_bytes(old, b"darktable:masks_history")
    assert new.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk=')
    before_attrs = description_attributes(old)
    after_attrs = description_attributes(new)
    assert after_attrs == before_attrs  # xmp:Rating, darktable:xmp_version, history hashes, ...
    assert after_attrs["{http://ns.adobe.com/xap/1.0/}Rating"] == "3"
    assert non_keyword_children(new) == non_keyword_children(old)

    fields = read_fields(new)
    assert fields[DC_SUBJECT] == ["cat", "garden", "sunset", "Paris"]
    # darktable reads lr:hierarchicalSubject first, so the flat tag goes there too
    assert fields[LR_HIERARCHICAL] == ["Animals|cat", "Places|garden", "sunset", "Places|Europe|Paris"]
    # a new digiKam:TagsList starts with the keywords already there, or digiKam would hide them
    assert fields[DIGIKAM_TAGS] == ["Animals/cat", "Places/garden", "sunset", "Places/Europe/Paris"]


def test_camera_raw_sidecar_keeps_settings_wrapper_and_unknown_namespace():
    old = CAMERA_RAW.encode()
    new, added = edit_xmp(old, ["Animals|Cat", "beach"])

    assert added == ["Animals|Cat", "beach"]
    assert only_insertions(old, new)
    assert new.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'.encode())
    assert new.endswith(b'<?xpacket end="w"?>')
    assert new.count(b" " * 99 + b"\n") == 20  # packet padding untouched
    for name in (b"crs:ToneCurvePV2012", b"crs:Look", b"xmpMM:History"):
        assert element_bytes(new, name) == element_bytes(old, name)
    crs_attrs = re.compile(rb'\s(?:crs|xmp|acme):\w+="[^"]*"')
    assert crs_attrs.findall(new) == crs_attrs.findall(old)
    attrs = description_attributes(new)
    assert attrs == description_attributes(old)
    assert attrs["{http://ns.adobe.com/xap/1.0/}Label"] == "Red"
    assert attrs["{http://example.com/acme/1.0/}Flag"] == "keep & carry"
    assert non_keyword_children(new) == non_keyword_children(old)
    fields = read_fields(new)
    assert fields == {
        DC_SUBJECT: ["Cat", "beach"],
        LR_HIERARCHICAL: ["Animals|Cat", "beach"],
        DIGIKAM_TAGS: ["Animals/Cat", "beach"],
    }
    # the namespaces it lacked were declared once, on the Description
    for uri in (b"http://purl.org/dc/elements/1.1/", b"http://ns.adobe.com/lightroom/1.0/"):
        assert new.count(uri) == 1


def test_seq_stays_seq_and_flat_tag_only_goes_to_dc_subject():
    old = xmp_sidecar(subjects=["beach"], seq=True).encode()
    new, added = edit_xmp(old, ["sea", "Beach"])
    assert added == ["sea"]
    root = ET.fromstring(new)
    subject = root.find(f"{RDF}RDF/{RDF}Description/{{http://purl.org/dc/elements/1.1/}}subject")
    assert [child.tag for child in subject] == [f"{RDF}Seq"]
    assert [li.text for li in subject[0]] == ["beach", "sea"]
    assert read_fields(new) == {DC_SUBJECT: ["beach", "sea"]}  # no hierarchical field for flat tags
    assert only_insertions(old, new)


def test_hierarchical_field_created_in_a_flat_sidecar_keeps_old_keywords_visible():
    old = xmp_sidecar(subjects=["beach", "Cat"]).encode()
    new, added = edit_xmp(old, ["Animals|Cat", "sun"])
    assert added == ["Animals|Cat", "sun"]
    fields = read_fields(new)
    assert fields[DC_SUBJECT] == ["beach", "Cat", "sun"]
    assert fields[LR_HIERARCHICAL] == ["beach", "Cat", "Animals|Cat", "sun"]
    assert fields[DIGIKAM_TAGS] == ["beach", "Cat", "Animals/Cat", "sun"]


@pytest.mark.parametrize("sample", [DARKTABLE, CAMERA_RAW])
def test_windows_line_endings_and_byte_order_mark_are_kept(sample):
    crlf = sample.replace("\n", "\r\n").encode()
    new, _ = edit_xmp(crlf, ["Animals|Fox", "dusk"])
    assert only_insertions(crlf, new)
    assert b"\n" not in new.replace(b"\r\n", b"")  # no bare LF mixed in
    bom = b"\xef\xbb\xbf" + sample.encode()
    new, _ = edit_xmp(bom, ["Animals|Fox", "dusk"])
    assert new.startswith(b"\xef\xbb\xbf") and only_insertions(bom, new)
    assert read_fields(new)[LR_HIERARCHICAL][-2:] == ["Animals|Fox", "dusk"]


def test_tags_with_control_characters_are_left_out():
    new, added = edit_xmp(NEW_SIDECAR, ["line\nbreak", "car\rriage", "tab\there", "nul\x00", "fine"])
    assert added == ["fine"] and read_fields(new) == {DC_SUBJECT: ["fine"]}


def test_present_in_any_case_or_spacing_is_not_added_again():
    old = DARKTABLE.encode()
    new, added = edit_xmp(old, ["CAT", "animals | CAT", "Places|Garden"])
    assert (new, added) == (old, [])


def test_self_closing_description_and_empty_bag():
    old = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="2" />'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
    new, _ = edit_xmp(old, ["Animals|Dog"])
    assert read_fields(new) == {DC_SUBJECT: ["Dog"], LR_HIERARCHICAL: ["Animals|Dog"], DIGIKAM_TAGS: ["Animals/Dog"]}
    assert description_attributes(new) == description_attributes(old)

    empty_bag = (
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>\n <rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\n"
        "  <rdf:Description xmlns:dc='http://purl.org/dc/elements/1.1/'>\n   <dc:subject>\n    <rdf:Bag/>\n"
        "   </dc:subject>\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
    ).encode()
    new, _ = edit_xmp(empty_bag, ["one", "two"])
    assert read_fields(new) == {DC_SUBJECT: ["one", "two"]}
    assert b"    <rdf:Bag>\n     <rdf:li>one</rdf:li>\n     <rdf:li>two</rdf:li>\n    </rdf:Bag>\n" in new


def test_other_prefixes_and_a_prefix_clash_are_handled():
    # rdf bound to 'r', dc bound to 'purl', and 'lr' already taken by an unrelated namespace
    old = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<r:Description xmlns:purl="http://purl.org/dc/elements/1.1/" xmlns:lr="http://example.com/other/">'
        "<purl:subject><r:Bag><r:li>x</r:li></r:Bag></purl:subject><lr:thing>keep</lr:thing>"
        "</r:Description></r:RDF></x:xmpmeta>"
    ).encode()
    new, _ = edit_xmp(old, ["A|B"])
    assert read_fields(new) == {DC_SUBJECT: ["x", "B"], LR_HIERARCHICAL: ["x", "A|B"], DIGIKAM_TAGS: ["x", "A/B"]}
    assert b"<r:li>B</r:li>" in new and b'xmlns:lr1="http://ns.adobe.com/lightroom/1.0/"' in new
    assert b"<lr:thing>keep</lr:thing>" in new


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4))
def test_any_text_round_trips(tags):
    """Whatever the text, an edit either writes it so that it reads back, or leaves the tag out."""
    new, added = edit_xmp(NEW_SIDECAR, tags)
    fields = read_fields(new) if added else {}
    for tag in added:
        leaf = [p.strip() for p in tag.split("|") if p.strip()][-1]
        assert leaf.casefold() in {v.casefold() for v in fields[DC_SUBJECT]}
    again, more = edit_xmp(new, tags)
    assert (again, more) == (new, [])  # idempotent


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"this is not xml", "cannot parse"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><broken></x:xmpmeta>", "cannot parse"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>&b;</x:xmpmeta>",
            "cannot parse",
        ),
        (xmp_sidecar(subjects=["a"]).encode("utf-16"), "UTF-8"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", "no rdf:RDF"),
        (
            b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description"
            b" xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:subject>flat "
            b"text</dc:subject></rdf:Description></rdf:RDF>",
            "not an rdf:Bag",
        ),
    ],
)
def test_sidecars_that_are_not_edited(content, reason):
    with pytest.raises(SidecarError, match=reason):
        edit_xmp(content, ["tag"])


# ------------------------------------------------------------------ naming


def test_naming_rule(tmp_path):
    photo = tmp_path / "IMG_1.CR2"
    # reuse, either convention, any case
    assert choose_sidecars(photo, ["IMG_1.XMP"], "darktable") == ([tmp_path / "IMG_1.XMP"], None)
    assert choose_sidecars(photo, ["img_1.cr2.xmp"], "lightroom") == ([tmp_path / "img_1.cr2.xmp"], None)
    both = choose_sidecars(photo, ["IMG_1.xmp", "IMG_1.CR2.xmp"], "darktable")
    assert both == ([tmp_path / "IMG_1.CR2.xmp", tmp_path / "IMG_1.xmp"], None)
    # a darktable duplicate is another version, not this photo's sidecar
    assert choose_sidecars(photo, ["IMG_1_01.CR2.xmp"], "lightroom") == ([], tmp_path / "IMG_1.CR2.xmp")
    # new: the folder's majority convention
    assert choose_sidecars(photo, ["A.xmp", "B.xmp", "C.NEF.xmp"], "darktable") == ([], tmp_path / "IMG_1.xmp")
    assert choose_sidecars(photo, ["A.JPG.xmp", "B.xmp", "C.NEF.xmp"], "lightroom") == ([], tmp_path / "IMG_1.CR2.xmp")
    # no convention (or a tie): the style option
    assert choose_sidecars(photo, [], "darktable") == ([], tmp_path / "IMG_1.CR2.xmp")
    assert choose_sidecars(photo, [], "lightroom") == ([], tmp_path / "IMG_1.xmp")
    assert choose_sidecars(photo, ["A.xmp", "B.JPG.xmp"], "lightroom") == ([], tmp_path / "IMG_1.xmp")


def test_writer_follows_folder_convention_but_a_raw_jpeg_pair_never_shares_a_lightroom_name(index, tmp_path):
    folder = index.root / "trip"
    make_jpeg(folder / "OLD.jpg")
    write_sidecar(folder / "OLD.xmp", subjects=["old"])
    single = make_jpeg(folder / "IMG_1.JPG")
    jpg = make_jpeg(folder / "IMG_2.JPG")
    raw = folder / "IMG_2.CR2"
    raw.write_bytes(jpg.read_bytes())
    with SidecarWriter(index, "test") as writer:
        alone = writer.add_tags(single, ["sea"])
        first = writer.add_tags(jpg, ["sea"])
        second = writer.add_tags(raw, ["sky", "sea"])
    assert alone.created == [folder / "IMG_1.xmp"]  # the folder's convention
    assert first.created == [folder / "IMG_2.JPG.xmp"] and second.created == [folder / "IMG_2.CR2.xmp"]
    assert read_fields((folder / "IMG_2.JPG.xmp").read_bytes()) == {DC_SUBJECT: ["sea"]}
    assert read_fields((folder / "IMG_2.CR2.xmp").read_bytes()) == {DC_SUBJECT: ["sky", "sea"]}
    assert not (folder / "IMG_2.xmp").exists()


# ------------------------------------------------------------------ writer safety


def test_writer_creates_edits_journals_and_is_idempotent(index):
    folder = index.root
    photo = make_jpeg(folder / "IMG_3.jpg")
    photo_bytes, photo_mtime = photo.read_bytes(), photo.stat().st_mtime_ns
    other = make_jpeg(folder / "IMG_4.jpg")
    sidecar = folder / "IMG_4.jpg.xmp"
    sidecar.write_text(DARKTABLE, encoding="utf-8")
    sidecar.chmod(0o640)
    photo.chmod(0o604)

    with SidecarWriter(index, "test") as writer:
        created = writer.add_tags(photo, ["Animals|Cat"], model="m1")
        edited = writer.add_tags(other, ["sunset"], model="m1")
    assert created.created == [folder / "IMG_3.jpg.xmp"] and created.added == ["Animals|Cat"]
    assert edited.sidecars == [sidecar] and edited.added == ["sunset"]
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640  # the original's permission bits
    assert stat.S_IMODE((folder / "IMG_3.jpg.xmp").stat().st_mode) == 0o604  # the photo's, no exec bits
    assert photo.read_bytes() == photo_bytes and photo.stat().st_mtime_ns == photo_mtime
    rows = journal_rows(index)
    assert [(os.fsdecode(bytes(r[0])), json.loads(r[1]), r[2]) for r in rows] == [
        (str(folder / "IMG_3.jpg.xmp"), ["Animals|Cat"], "m1"),
        (str(sidecar), ["sunset"], "m1"),
    ]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left

    content, mtime = sidecar.read_bytes(), sidecar.stat().st_mtime_ns
    with SidecarWriter(index, "again") as writer:
        result = writer.add_tags(other, ["Sunset", "cat"][:1])
    assert not result.changed and writer.stats.unchanged == 1
    assert sidecar.read_bytes() == content and sidecar.stat().st_mtime_ns == mtime
    assert len(journal_rows(index)) == 2
    assert index.connection.execute("SELECT COUNT(*) FROM write_batches").fetchone()[0] == 1


def test_bad_sidecar_is_left_untouched_and_the_batch_continues(index):
    folder = index.root
    bad_photo = make_jpeg(folder / "BAD.jpg")
    bad = folder / "BAD.xmp"
    bad.write_bytes(b"<x:xmpmeta><unclosed></x:xmpmeta>")
    good_photo = make_jpeg(folder / "GOOD.jpg")
    reporter = CollectingReporter()
    with SidecarWriter(index, "test", reporter=reporter) as writer:
        skipped = writer.add_tags(bad_photo, ["a"])
        written = writer.add_tags(good_photo, ["a"])
    assert bad.read_bytes() == b"<x:xmpmeta><unclosed></x:xmpmeta>"
    assert skipped.skipped and not skipped.changed and written.changed
    assert list(reporter.skipped) == [str(bad)] and "cannot parse" in reporter.skipped[str(bad)]


def test_read_only_sidecar_file_is_respected(index):
    photo = make_jpeg(index.root / "RO.jpg")
    sidecar = write_sidecar(index.root / "RO.jpg.xmp", subjects=["x"])
    sidecar.chmod(0o444)
    before = sidecar.read_bytes()
    reporter = CollectingReporter()
    with SidecarWriter(index, "test", reporter=reporter) as writer:
        result = writer.add_tags(photo, ["y"])
    assert not result.changed and sidecar.read_bytes() == before
    assert "read-only" in reporter.skipped[str(sidecar)]
    assert journal_rows(index) == []  # the failed write left no journal row


def test_dry_run_prints_diff_and_changes_nothing(index):
    photo = make_jpeg(index.root / "D.jpg")
    sidecar = index.root / "D.jpg.xmp"
    sidecar.write_text(DARKTABLE, encoding="utf-8")
    new_photo = make_jpeg(index.root / "E.jpg")
    out = io.StringIO()
    with SidecarWriter(index, "test", dry_run=True, diff_out=out) as writer:
        writer.add_tags(photo, ["sunset"])
        writer.add_tags(new_photo, ["sea"])
    diff = out.getvalue()
    assert f"--- {sidecar}\n+++ {sidecar}\n" in diff
    assert "+     <rdf:li>sunset</rdf:li>\n" in diff
    assert f"--- /dev/null\n+++ {index.root / 'E.jpg.xmp'}\n" in diff
    assert sidecar.read_text(encoding="utf-8") == DARKTABLE
    assert not (index.root / "E.jpg.xmp").exists()
    assert journal_rows(index) == []
    assert writer.stats.sidecars_written == 2


def test_temp_files_of_dead_writers_are_cleaned_live_ones_kept(index):
    photo = make_jpeg(index.root / "T.jpg")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = index.root / f".pt-{dead.pid}-123.tmp"
    legacy = index.root / f".T.jpg.xmp.phototag-{dead.pid}-124.tmp"  # phototag 0.x names
    live = index.root / f".pt-{os.getpid()}-456.tmp"
    other = index.root / ".T.jpg.xmp.someone-else.tmp"
    for path in (stale, legacy, live, other):
        path.write_bytes(b"partial")
    with SidecarWriter(index, "test") as writer:
        writer.add_tags(photo, ["x"])
    assert not stale.exists() and not legacy.exists() and live.exists() and other.exists()


def test_symlinked_sidecar_is_not_written_through(index, tmp_path):
    # Issue 12 made this a refusal (it used to edit the target): more cases in test_links.py.
    photo = make_jpeg(index.root / "L.jpg")
    target = write_sidecar(tmp_path / "elsewhere.xmp", subjects=["x"])
    (index.root / "L.jpg.xmp").symlink_to(target)
    with SidecarWriter(index, "test") as writer:
        assert not writer.add_tags(photo, ["y"]).changed
    assert (index.root / "L.jpg.xmp").is_symlink()
    assert read_fields(target.read_bytes()) == {DC_SUBJECT: ["x"]}


# ------------------------------------------------------------------ undo


def test_undo_restores_bytes_deletes_created_and_keeps_edited_since(index):
    folder = index.root
    photos = [make_jpeg(folder / f"U{i}.jpg") for i in range(4)]
    (folder / "U0.jpg.xmp").write_text(DARKTABLE, encoding="utf-8")
    (folder / "U1.xmp").write_text(CAMERA_RAW, encoding="utf-8")
    originals = {p: p.read_bytes() for p in folder.glob("*.xmp")}

    with SidecarWriter(index, "first") as writer:
        for photo in photos:
            writer.add_tags(photo, ["Animals|Owl"])
    first_state = {p: p.read_bytes() for p in folder.glob("*.xmp")}
    with SidecarWriter(index, "second") as writer:
        writer.add_tags(photos[0], ["night"])
        writer.add_tags(photos[0], ["moon"])  # the same sidecar twice in one batch
        writer.add_tags(photos[2], ["night"])
    # the person edits one file after phototag wrote it
    edited = folder / "U2.jpg.xmp"
    edited.write_bytes(edited.read_bytes().replace(b"night", b"NIGHT!"))

    reporter = CollectingReporter()
    second = undo_last_batch(index, reporter=reporter)
    assert second.command == "second"
    assert second.restored == [folder / "U0.jpg.xmp", folder / "U0.jpg.xmp"]
    assert second.kept == [(edited, "changed since phototag wrote it; kept as it is")]
    assert (folder / "U0.jpg.xmp").read_bytes() == first_state[folder / "U0.jpg.xmp"]
    assert b"NIGHT!" in edited.read_bytes()

    edited.write_bytes(first_state[edited])  # the person reverts their edit
    first = undo_last_batch(index, reporter=reporter)
    assert first.command == "first"
    assert sorted(first.deleted) == [folder / "U2.jpg.xmp", folder / "U3.jpg.xmp"]
    assert {p: p.read_bytes() for p in folder.glob("*.xmp")} == originals
    assert undo_last_batch(index).batch_id is None  # nothing left


def test_rescan_reads_written_tags_back(index):
    scan = pytest.importorskip("phototag.library.scan")
    folder = index.root
    photo = make_jpeg(folder / "S.jpg")
    write_sidecar(folder / "S.xmp", subjects=["beach"])
    reporter = CollectingReporter()
    scan.scan_library(index, reporter)
    with SidecarWriter(index, "test") as writer:
        writer.add_tags(photo, ["Animals|Crab"])
    scan.scan_library(index, reporter)
    (row,) = index.photos()
    texts = {(k.field, k.text) for k in row.keywords}
    assert {("dc:subject", "beach"), ("dc:subject", "Crab"), ("lr:hierarchicalSubject", "Animals|Crab")} <= texts


# ------------------------------------------------------------------ interoperability


def exiftool_keywords(exiftool: str, path: Path) -> dict:
    out = subprocess.run(
        [exiftool, "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (record,) = json.loads(out)

    def as_list(value):
        return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]

    return {key: as_list(record.get(key)) for key in ("Subject", "HierarchicalSubject", "TagsList")}


def exiftool_group(exiftool: str, path: Path, group: str) -> dict:
    out = subprocess.run(
        [exiftool, "-j", f"-{group}:all", str(path)], capture_output=True, text=True, check=True
    ).stdout
    (record,) = json.loads(out)
    record.pop("SourceFile")
    return record


def test_exiftool_sees_old_plus_accepted_keywords_and_same_settings(index, exiftool):
    folder = index.root
    dt_photo, cr_photo, new_photo = (make_jpeg(folder / n) for n in ("DT.jpg", "CR.jpg", "NEW.jpg"))
    dt = folder / "DT.jpg.xmp"
    dt.write_text(DARKTABLE, encoding="utf-8")
    cr = folder / "CR.xmp"
    cr.write_text(CAMERA_RAW, encoding="utf-8")
    before = {p: exiftool_keywords(exiftool, p) for p in (dt, cr)}
    crs_before = exiftool_group(exiftool, cr, "XMP-crs")
    darktable_before = exiftool_group(exiftool, dt, "XMP-darktable")
    accepted = ["Animals|Fox", "dusk"]

    with SidecarWriter(index, "test") as writer:
        for photo in (dt_photo, cr_photo, new_photo):
            writer.add_tags(photo, accepted)

    assert exiftool_keywords(exiftool, dt) == {
        "Subject": before[dt]["Subject"] + ["Fox", "dusk"],
        "HierarchicalSubject": before[dt]["HierarchicalSubject"] + ["Animals|Fox", "dusk"],
        # created: starts with the keywords the file had, so digiKam (reads it first) loses none
        "TagsList": ["Animals/cat", "Places/garden", "Animals/Fox", "dusk"],
    }
    assert before[cr] == {"Subject": [], "HierarchicalSubject": [], "TagsList": []}
    assert exiftool_keywords(exiftool, cr) == {
        "Subject": ["Fox", "dusk"],
        "HierarchicalSubject": ["Animals|Fox", "dusk"],
        "TagsList": ["Animals/Fox", "dusk"],
    }
    assert exiftool_keywords(exiftool, folder / "NEW.jpg.xmp") == exiftool_keywords(exiftool, cr)
    assert exiftool_group(exiftool, cr, "XMP-crs") == crs_before and len(crs_before) > 10
    assert exiftool_group(exiftool, dt, "XMP-darktable") == darktable_before
    # exiftool reports no warning for the files phototag wrote
    for path in (dt, cr, folder / "NEW.jpg.xmp"):
        out = subprocess.run([exiftool, "-j", "-Warning", "-Error", str(path)], capture_output=True, text=True).stdout
        assert set(json.loads(out)[0]) == {"SourceFile"}, out
