"""Links in a library (issue 12): nothing is created or changed outside the library root unless
asked, a symlinked sidecar is never written through, and a file reached under several names is
one photo. Real symbolic and hard links, real scans and writes."""

from __future__ import annotations

import os
from pathlib import Path

from photos import make_jpeg, write_sidecar

from phototag.library.index import Index
from phototag.library.scan import scan_library
from phototag.library.sidecar import SidecarWriter, undo_last_batch
from phototag.library.walk import LibraryWalker
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT
from phototag.reporting import CollectingReporter


def write(library: Path, db: Path, photos: list[Path], tags: list[str], **options):
    reporter = CollectingReporter()
    with Index(db, library) as index, SidecarWriter(index, "test", reporter=reporter, **options) as writer:
        results = [writer.add_tags(photo, tags) for photo in photos]
    return results, reporter


def scan(library: Path, db: Path, **options):
    reporter = CollectingReporter()
    with Index(db, library) as index:
        summary = scan_library(index, reporter, **options)
        photos = sorted(p.display_path for p in index.photos())
    return summary, photos, reporter


def symlinked_sidecars(tmp_path: Path) -> tuple[Path, Path, dict[str, Path]]:
    """A library whose three photos have sidecars that are links: relative, absolute and dangling."""
    library, outside = tmp_path / "lib", tmp_path / "outside"
    outside.mkdir()
    relative_target = write_sidecar(outside / "relative.xmp", subjects=["old"])
    absolute_target = write_sidecar(outside / "absolute.xmp", subjects=["old"])
    targets = {"relative": relative_target, "absolute": absolute_target, "dangling": outside / "missing.xmp"}
    for name in targets:
        make_jpeg(library / f"{name}.jpg")
    (library / "relative.jpg.xmp").symlink_to(Path("..", "outside", "relative.xmp"))
    (library / "absolute.jpg.xmp").symlink_to(absolute_target)
    (library / "dangling.jpg.xmp").symlink_to(targets["dangling"])
    return library, outside, targets


def test_a_symlinked_sidecar_is_never_written_through(tmp_path):
    library, outside, targets = symlinked_sidecars(tmp_path)
    before = {name: path.read_bytes() for name, path in targets.items() if path.exists()}
    results, reporter = write(library, tmp_path / "i.sqlite", [library / f"{n}.jpg" for n in targets], ["Cat"])
    assert not any(result.changed for result in results)
    for name, target in targets.items():
        sidecar = library / f"{name}.jpg.xmp"
        assert sidecar.is_symlink()
        assert (
            reporter.skipped[str(sidecar)]
            == f"sidecar is a symbolic link to {os.readlink(sidecar)}; not written through it"
        )
    assert {name: path.read_bytes() for name, path in targets.items() if path.exists()} == before
    assert not targets["dangling"].exists()
    assert sorted(os.listdir(outside)) == ["absolute.xmp", "relative.xmp"]


def test_replace_links_replaces_the_link_itself_and_undo_restores_the_content(tmp_path):
    library, outside, targets = symlinked_sidecars(tmp_path)
    before = {name: path.read_bytes() for name, path in targets.items() if path.exists()}
    db = tmp_path / "i.sqlite"
    results, reporter = write(library, db, [library / f"{n}.jpg" for n in targets], ["Cat"], replace_links=True)
    assert all(result.changed for result in results) and not reporter.skipped
    for name in targets:
        sidecar = library / f"{name}.jpg.xmp"
        assert not sidecar.is_symlink() and sidecar.is_file()
        expected = ["Cat"] if name == "dangling" else ["old", "Cat"]
        assert read_fields(sidecar.read_bytes())[DC_SUBJECT] == expected
    assert {name: path.read_bytes() for name, path in targets.items() if path.exists()} == before
    assert not targets["dangling"].exists()
    with Index(db, library) as index:
        undo_last_batch(index)
    assert (library / "absolute.jpg.xmp").read_bytes() == before["absolute"]
    assert not (library / "dangling.jpg.xmp").exists()


def linked_folder(tmp_path: Path) -> tuple[Path, Path]:
    library, outside = tmp_path / "lib", tmp_path / "outside"
    make_jpeg(library / "home.jpg")
    make_jpeg(outside / "away.jpg")
    (library / "linked").symlink_to(outside, target_is_directory=True)
    return library, outside


def test_a_linked_folder_is_neither_walked_nor_written_unless_links_are_followed(tmp_path):
    library, outside = linked_folder(tmp_path)
    away = library / "linked" / "away.jpg"
    summary, photos, reporter = scan(library, tmp_path / "i.sqlite")
    assert photos == ["home.jpg"]
    assert summary.skipped == {
        str(library / "linked"): "symbolic link to a folder; not followed (links are followed only on request)"
    }
    results, reporter = write(library, tmp_path / "i.sqlite", [away, library / "home.jpg"], ["Cat"])
    assert not results[0].changed and results[1].changed
    assert reporter.skipped == {
        str(away): f"outside the library: its folder is {outside} (links are not followed); not written"
    }
    assert sorted(os.listdir(outside)) == ["away.jpg"]

    summary, photos, reporter = scan(library, tmp_path / "i.sqlite", follow_links=True)
    assert photos == ["home.jpg", "linked/away.jpg"] and summary.skipped == {}
    results, reporter = write(library, tmp_path / "i.sqlite", [away], ["Cat"], follow_links=True)
    assert results[0].changed and (outside / "away.jpg.xmp").is_file()
    # once not followed again, what was indexed through the link is forgotten
    summary, photos, _ = scan(library, tmp_path / "i.sqlite")
    assert photos == ["home.jpg"] and summary.removed == 1


def test_dotdot_and_absolute_paths_outside_the_library_are_refused(tmp_path):
    library, outside = linked_folder(tmp_path)
    results, reporter = write(library, tmp_path / "i.sqlite", [library / ".." / "outside" / "away.jpg"], ["Cat"])
    assert not results[0].changed and "outside the library" in next(iter(reporter.skipped.values()))
    assert sorted(os.listdir(outside)) == ["away.jpg"]


def test_a_file_reached_under_several_names_is_one_photo(tmp_path):
    library = tmp_path / "lib"
    photo = make_jpeg(library / "b.jpg")
    write_sidecar(library / "b.jpg.xmp", subjects=["mine"])
    (library / "sub").mkdir()
    os.link(photo, library / "sub" / "hard.jpg")
    (library / "a-alias.jpg").symlink_to("b.jpg")  # sorts first, but is a link
    (library / "zz").mkdir()
    (library / "zz" / "link.jpg").symlink_to(Path("..", "b.jpg"))
    (library / "again").symlink_to(library / "sub", target_is_directory=True)
    make_jpeg(library / "other.jpg")
    for follow in (False, True):
        summary, photos, reporter = scan(library, tmp_path / f"{follow}.sqlite", follow_links=follow)
        assert photos == ["b.jpg", "other.jpg"]
        assert summary.seen == 2 and summary.photos == 2
        others = ["a-alias.jpg", "sub/hard.jpg", "zz/link.jpg"]  # "again" is "sub": a folder is walked once
        assert summary.same_files == {str(library / name): str(photo) for name in others}
        for name in others:
            assert f"{library / name} is the same file as {photo}; counted once, as {photo}" in reporter.notes


def test_a_folder_is_walked_under_its_own_name_before_the_links_to_it(tmp_path):
    photo = make_jpeg(tmp_path / "real" / "x.jpg")
    (tmp_path / "a-link").symlink_to(tmp_path / "real", target_is_directory=True)  # sorts first
    walker = LibraryWalker(tmp_path, on_skip=lambda p, r: None, follow_links=True)
    assert [p.path for p in walker] == [photo]
    assert walker.folders == 2 and walker.links_not_followed == []
    walker = LibraryWalker(tmp_path, on_skip=lambda p, r: None)
    assert [p.path for p in walker] == [photo]
    assert walker.links_not_followed == [tmp_path / "a-link"]
