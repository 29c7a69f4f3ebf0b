"""Writers at once, in one process (fast; the process-level rounds are tests/cli/test_concurrent_writers.py):
the folder lock serialises read, change check, journal and rename, and an editor's change is merged."""

from __future__ import annotations

import threading
from pathlib import Path

from photos import make_jpeg, write_sidecar

from phototag.fsio import LockTimeout, locked_folder
from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter, undo_last_batch
from phototag.library.xmp_edit import edit_xmp, read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT
from phototag.reporting import CollectingReporter


def library(root: Path, count: int = 40) -> list[Path]:
    photos = []
    for i in range(count):
        photos.append(make_jpeg(root / f"IMG_{i:04d}.jpg"))
        if i % 2:
            write_sidecar(root / f"IMG_{i:04d}.jpg.xmp", subjects=["own"])
    return photos


def subjects(photo: Path) -> list[str]:
    return read_fields(photo.with_name(photo.name + ".xmp").read_bytes())[DC_SUBJECT]


def test_two_writer_threads_lose_no_tag_and_undo_is_exact(tmp_path):
    root = tmp_path / "lib"
    photos = library(root)
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    reporters = [CollectingReporter(), CollectingReporter()]

    def write(tag: str, order: list[Path], reporter: CollectingReporter) -> None:
        with Index.for_library(root) as index, SidecarWriter(index, "apply", reporter=reporter) as writer:
            for photo in order:
                writer.add_tags(photo, [tag])

    for round_ in range(3):
        threads = [
            threading.Thread(target=write, args=(f"A{round_}", photos, reporters[0])),
            threading.Thread(target=write, args=(f"B{round_}", photos[::-1], reporters[1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not reporters[0].skipped and not reporters[1].skipped
    lost = sum(t not in subjects(p) for p in photos for r in range(3) for t in (f"A{r}", f"B{r}"))
    assert lost == 0
    with Index.for_library(root) as index:
        for _ in range(6):
            undo_last_batch(index)
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before


def test_a_sidecar_an_editor_changed_after_the_read_is_not_overwritten(tmp_path):
    root = tmp_path / "lib"
    photo = make_jpeg(root / "a.jpg")
    sidecar = write_sidecar(root / "a.jpg.xmp", subjects=["own"])
    stale = sidecar.read_bytes()
    edited, _ = edit_xmp(stale, ["editor"])
    sidecar.write_bytes(edited)  # the editor saved after phototag read `stale`
    new, added = edit_xmp(stale, ["phototag"])
    with Index.for_library(root) as index, SidecarWriter(index, "apply") as writer:
        assert writer._commit(photo, sidecar, stale, new, added, None) is False
        assert sidecar.read_bytes() == edited
        assert index.connection.execute("SELECT COUNT(*) FROM write_journal").fetchone()[0] == 0
        result = writer.add_tags(photo, ["phototag"])  # read again: both
    assert result.changed and subjects(photo) == ["own", "editor", "phototag"]


def test_the_lock_is_per_folder_released_by_a_killed_holder_and_waits_bounded(tmp_path):
    import subprocess
    import sys
    import time

    folder = tmp_path / "f"
    folder.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from phototag.fsio import locked_folder\n"
            "with locked_folder(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout.readline() == b"held\n"
    started = time.monotonic()
    try:
        with locked_folder(folder, timeout_s=0.5):
            raise AssertionError("took a lock another process holds")
    except LockTimeout:
        assert time.monotonic() - started < 5
    with locked_folder(tmp_path):  # another folder: not blocked
        pass
    holder.kill()  # kill -9: the kernel releases its lock, nothing stale is left
    holder.wait()
    with locked_folder(folder, timeout_s=5):
        pass
    assert sorted(p.name for p in folder.iterdir()) == []  # no lock file
