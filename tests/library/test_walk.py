"""Walking a library: photo types, sidecar pairing, junk, loops, odd names."""

from __future__ import annotations

import os
from pathlib import Path

from photos import make_jpeg

from phototag.library.walk import LibraryWalker, match_sidecars


def walk(root: Path):
    skipped: list[tuple[Path, str]] = []
    walker = LibraryWalker(root, on_skip=lambda p, r: skipped.append((p, r)))
    photos = {os.path.relpath(p.path, root): sorted(os.path.relpath(s, root) for s in p.sidecars) for p in walker}
    return photos, walker, skipped


def test_extensions_are_case_insensitive_and_non_photos_ignored(tmp_path):
    for name in ["a.JPG", "b.jpeg", "c.Png", "d.TIFF", "e.webp", "f.HEIC", "g.cr2", "h.NEF", "i.dng", "j.ARW"]:
        (tmp_path / name).write_bytes(b"x")
    for name in ["notes.txt", "movie.mp4", "Thumbs.db", "README"]:
        (tmp_path / name).write_bytes(b"x")
    photos, _, _ = walk(tmp_path)
    assert sorted(photos) == [
        "a.JPG",
        "b.jpeg",
        "c.Png",
        "d.TIFF",
        "e.webp",
        "f.HEIC",
        "g.cr2",
        "h.NEF",
        "i.dng",
        "j.ARW",
    ]


def test_sidecar_conventions_raw_jpeg_pair_and_darktable_duplicates(tmp_path):
    for name in ["IMG_0001.CR2", "IMG_0001.JPG", "IMG_0002.nef", "IMG_0003.jpg", "IMG_0004.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    for name in [
        "IMG_0001.xmp",  # Lightroom style, shared by the RAW+JPEG pair
        "IMG_0002.NEF.XMP",  # darktable style, other case
        "IMG_0002_01.nef.xmp",  # darktable duplicate of the same photo
        "img_0003.JPG.xmp",  # case differs from the photo
        "IMG_0009.xmp",  # orphan
    ]:
        (tmp_path / name).write_bytes(b"<x/>")
    photos, walker, _ = walk(tmp_path)
    assert photos["IMG_0001.CR2"] == ["IMG_0001.xmp"]
    assert photos["IMG_0001.JPG"] == ["IMG_0001.xmp"]
    assert photos["IMG_0002.nef"] == ["IMG_0002.NEF.XMP", "IMG_0002_01.nef.xmp"]
    assert photos["IMG_0003.jpg"] == ["img_0003.JPG.xmp"]
    assert photos["IMG_0004.jpg"] == []
    assert [p.name for p in walker.orphan_sidecars] == ["IMG_0009.xmp"]


def test_duplicate_rule_does_not_steal_other_photos_sidecars():
    pairing, orphans = match_sidecars(["IMG_1.jpg", "IMG_1_2.jpg"], ["IMG_1_2.jpg.xmp", "IMG_1.jpg.xmp"])
    assert pairing["IMG_1.jpg"] == ["IMG_1.jpg.xmp"]
    assert pairing["IMG_1_2.jpg"] == ["IMG_1_2.jpg.xmp"]
    assert orphans == []


def test_hidden_and_junk_folders_are_skipped(tmp_path):
    make_jpeg(tmp_path / "keep" / "a.jpg")
    for junk in [
        ".thumbnails",
        "@eaDir",
        ".picasaoriginals",
        "#recycle",
        "$RECYCLE.BIN",
        "Catalog Previews.lrdata",
        ".git",
    ]:
        make_jpeg(tmp_path / junk / "b.jpg")
    make_jpeg(tmp_path / "keep" / ".hidden.jpg")
    photos, _, skipped = walk(tmp_path)
    assert list(photos) == [os.path.join("keep", "a.jpg")]
    assert skipped == []


def test_symlink_loops_terminate_and_count_each_folder_once(tmp_path):
    make_jpeg(tmp_path / "a" / "x.jpg")
    os.symlink(tmp_path, tmp_path / "a" / "back-to-root")
    os.symlink(tmp_path / "a", tmp_path / "a-again")
    photos, walker, _ = walk(tmp_path)
    assert list(photos) == [os.path.join("a", "x.jpg")]
    assert walker.folders == 2


def test_non_utf8_and_odd_file_names(tmp_path):
    odd = os.fsencode(tmp_path) + b"/caf\xe9 \xff.jpg"  # Latin-1 bytes: not valid UTF-8
    make_jpeg(Path(os.fsdecode(odd)))
    make_jpeg(tmp_path / "new\nline ünïcödé 😀.jpg")
    make_jpeg(tmp_path / "-starts-with-dash.jpg")
    photos, _, skipped = walk(tmp_path)
    assert len(photos) == 3 and skipped == []
    assert os.fsencode(tmp_path / next(p for p in photos if "caf" in p)) == odd


def test_dangling_symlink_is_reported_not_fatal(tmp_path):
    make_jpeg(tmp_path / "ok.jpg")
    os.symlink(tmp_path / "missing-folder", tmp_path / "gone")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "gone.jpg")
    photos, _, skipped = walk(tmp_path)
    assert list(photos) == ["ok.jpg"]
    assert [(p.name, reason) for p, reason in skipped] == [("gone.jpg", "broken symbolic link")]


def test_a_fifo_named_like_a_photo_is_skipped_as_not_a_regular_file(tmp_path):
    make_jpeg(tmp_path / "ok.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    os.symlink("/dev/null", tmp_path / "null.jpg")  # a character device behind a link
    photos, _, skipped = walk(tmp_path)
    assert list(photos) == ["ok.jpg"]
    assert sorted((p.name, reason) for p, reason in skipped) == [
        ("null.jpg", "not a regular file: a character device"),
        ("pipe.jpg", "not a regular file: a FIFO (named pipe)"),
    ]
