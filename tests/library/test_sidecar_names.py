"""A Lightroom-style name never captures another photo's metadata (issue 18 item 3): when another photo of
the folder shares the stem, a new sidecar is IMG.ext.xmp, and a shared IMG.xmp is left alone with a warning.
Checked with phototag's rescan (each photo reads its own keywords) and exiftool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from PIL import Image

from phototag.library.history import photo_tags_of
from phototag.library.index import Index
from phototag.library.scan import scan_library
from phototag.library.sidecar import SidecarWriter
from phototag.library.sidecar_names import choose_sidecars, shared_sidecar
from phototag.reporting import CollectingReporter


def keywords(exiftool: str, photo: Path, *words: str) -> Path:
    args = [f"-IPTC:Keywords={w}" for w in words]
    subprocess.run([exiftool, "-q", "-overwrite_original", *args, str(photo)], check=True)
    return photo


def other_photo(exiftool: str, folder: Path, name: str) -> Path:
    """A TIFF with its own keyword, under a TIFF or a TIFF-based RAW name (read by its bytes, not its name)."""
    tif = folder / "made.tif"
    Image.new("RGB", (32, 24), (10, 120, 200)).save(tif)
    keywords(exiftool, tif, "OtherOwn")
    return tif.rename(folder / name)


def add(library: Path, db: Path, photo: Path, tags: list[str]):
    reporter = CollectingReporter()
    with Index(db, library) as index, SidecarWriter(index, "test", reporter=reporter) as writer:
        result = writer.add_tags(photo, tags)
    return result, reporter


def rescanned(library: Path, db: Path) -> dict[str, set[str]]:
    with Index(db, library) as index:
        scan_library(index, CollectingReporter())
        return {p.display_path: set(photo_tags_of(p.keywords).spellings) for p in index.photos()}


def subjects(exiftool: str, sidecar: Path) -> list[str]:
    out = subprocess.run([exiftool, "-j", "-XMP-dc:Subject", str(sidecar)], capture_output=True, text=True, check=True)
    value = json.loads(out.stdout)[0].get("Subject", [])
    return value if isinstance(value, list) else [value]


def lightroom_folder(library: Path) -> None:
    for name in ("a", "b", "c"):
        make_jpeg(library / f"{name}.jpg")
        write_sidecar(library / f"{name}.xmp", subjects=[name])


@pytest.mark.parametrize("other", ["img000.tif", "img000.CR2", "img000.DNG"])
def test_a_new_sidecar_does_not_take_another_photos_name(tmp_path, exiftool, other):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    lightroom_folder(library)
    jpg = keywords(exiftool, make_jpeg(library / "img000.jpg"), "JpgOwn")
    second = other_photo(exiftool, library, other)
    assert rescanned(library, db)[other] == {"OtherOwn"}

    first, reporter = add(library, db, jpg, ["New"])
    assert first.created == [library / "img000.jpg.xmp"] and not reporter.warnings
    assert not (library / "img000.xmp").exists()
    assert subjects(exiftool, library / "img000.jpg.xmp") == ["JpgOwn", "New"]
    after = rescanned(library, db)
    assert after["img000.jpg"] == {"JpgOwn", "New"} and after[other] == {"OtherOwn"}

    result, _ = add(library, db, second, ["Other"])
    assert result.created == [library / f"{other}.xmp"]
    after = rescanned(library, db)
    assert after["img000.jpg"] == {"JpgOwn", "New"} and after[other] == {"OtherOwn", "Other"}
    assert after["a.jpg"] == {"a"}  # the folder's own convention still holds for a photo alone with its stem
    assert add(library, db, make_jpeg(library / "d.jpg"), ["d"])[0].created == [library / "d.xmp"]


def test_an_existing_shared_lightroom_sidecar_is_left_alone_with_a_warning(tmp_path, exiftool):
    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    jpg = keywords(exiftool, make_jpeg(library / "img000.jpg"), "JpgOwn")
    other_photo(exiftool, library, "img000.tif")
    shared = write_sidecar(library / "img000.xmp", subjects=["Shared"])
    before = shared.read_bytes()
    assert rescanned(library, db) == {"img000.jpg": {"Shared"}, "img000.tif": {"Shared"}}

    result, reporter = add(library, db, jpg, ["New"])
    assert result.created == [library / "img000.jpg.xmp"] and shared.read_bytes() == before
    assert reporter.warnings == [
        f"{shared} is also the sidecar of img000.tif (same name stem): left as it is; the tags of img000.jpg go to"
        " img000.jpg.xmp, its own"
    ]
    after = rescanned(library, db)
    assert after["img000.tif"] == {"Shared"}  # the jpg's new tag is not the tif's
    assert after["img000.jpg"] == {"Shared", "JpgOwn", "New"}


def test_naming_rule_with_photos_sharing_a_stem(tmp_path):
    photo = tmp_path / "IMG_1.JPG"
    photos = ["IMG_1.JPG", "img_1.cr2", "IMG_10.JPG"]
    assert choose_sidecars(photo, ["A.xmp"], "lightroom", photos) == ([], tmp_path / "IMG_1.JPG.xmp")
    assert choose_sidecars(photo, ["IMG_1.xmp"], "lightroom", photos) == ([], tmp_path / "IMG_1.JPG.xmp")
    assert choose_sidecars(photo, ["IMG_1.xmp", "IMG_1.jpg.xmp"], "lightroom", photos) == (
        [tmp_path / "IMG_1.jpg.xmp"],
        None,
    )
    assert shared_sidecar(photo, ["IMG_1.XMP"], photos) == (tmp_path / "IMG_1.XMP", ["img_1.cr2"])
    # alone with its stem: as before
    assert choose_sidecars(photo, ["IMG_1.xmp"], "darktable", ["IMG_1.JPG", "IMG_10.JPG"]) == (
        [tmp_path / "IMG_1.xmp"],
        None,
    )
    assert shared_sidecar(photo, ["IMG_1.xmp"], ["IMG_1.JPG", "IMG_10.JPG"]) is None
