"""The sidecar writer and undo against odd files on disk (issue 12): FIFOs and other non-regular
files named like sidecars, very long names, stale temp files of killed writers, oversized and
binary sidecars. Real files; a hang fails the test after a few seconds instead of blocking it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from photos import make_jpeg, write_sidecar, xmp_sidecar

from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter, undo_last_batch
from phototag.reporting import CollectingReporter


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging: a blocking open() is interrupted by the alarm."""

    def expired(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write(library: Path, db: Path, photo: Path, tags: list[str], **options):
    reporter = CollectingReporter()
    with (
        deadline(60),
        Index(db, library) as index,
        SidecarWriter(index, "test", reporter=reporter, **options) as writer,
    ):
        result = writer.add_tags(photo, tags)
    return result, reporter


def test_fifo_named_like_a_sidecar_is_skipped_without_blocking(tmp_path):
    library = tmp_path / "lib"
    photo = make_jpeg(library / "a.jpg")
    fifo = library / "a.jpg.xmp"
    os.mkfifo(fifo)
    result, reporter = write(library, tmp_path / "i.sqlite", photo, ["Cat"])
    assert not result.changed
    assert reporter.skipped == {str(fifo): "sidecar left untouched: it is a FIFO (named pipe), not a regular file"}
    assert fifo.is_fifo()


def test_refusal_reasons_say_what_the_file_is(tmp_path):
    from PIL import Image

    library = tmp_path / "lib"
    cases = {
        "png": "sidecar left untouched: not a text file (binary data)",
        "latin1": "sidecar left untouched: not UTF-8 text (invalid byte at offset 14)",
        "utf16": "sidecar left untouched: not UTF-8: UTF-16 text (only UTF-8 sidecars are edited)",
    }
    for name in cases:
        make_jpeg(library / f"{name}.jpg")
    Image.new("RGB", (8, 8)).save(library / "png.jpg.xmp", "PNG")  # a picture saved under a sidecar's name
    (library / "latin1.jpg.xmp").write_bytes("<x:xmpmeta>caf\xe9</x:xmpmeta>".encode("latin-1"))
    write_sidecar(library / "utf16.jpg.xmp", subjects=["old"])
    (library / "utf16.jpg.xmp").write_bytes((library / "utf16.jpg.xmp").read_text().encode("utf-16"))
    for name, reason in cases.items():
        result, reporter = write(library, tmp_path / "i.sqlite", library / f"{name}.jpg", ["Cat"])
        assert reporter.skipped == {str(library / f"{name}.jpg.xmp"): reason}


def padded_sidecar(path: Path, size: int) -> Path:
    """A valid sidecar of exactly `size` bytes: a few keywords and a long comment (cheap to parse)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = xmp_sidecar(subjects=["old"]).encode()
    end = data.index(b"</x:xmpmeta>")
    padding = b"<!--" + b"p" * (size - len(data) - 7) + b"-->"
    path.write_bytes(data[:end] + padding + data[end:])
    assert path.stat().st_size == size
    return path


def test_size_limit_is_one_limit_with_one_true_reason_for_reader_and_writer(tmp_path):
    from phototag.library.metadata import read_sidecar
    from phototag.library.xmp_read import MAX_SIDECAR_BYTES

    library = tmp_path / "lib"
    # Just under the limit: read, but adding a tag would take it past the limit: refused, saying so.
    near = padded_sidecar(library / "near.jpg.xmp", MAX_SIDECAR_BYTES - 50)
    make_jpeg(library / "near.jpg")
    assert [k.text for k in read_sidecar(near).keywords] == ["old"]
    result, reporter = write(library, tmp_path / "i.sqlite", library / "near.jpg", ["Animals|Cat"])
    reason = reporter.skipped[str(near)]
    assert "internal error" not in reason
    assert reason.startswith("sidecar left untouched: with the new tags it would be 33,554,")
    assert reason.endswith("bytes, more than the 32 MiB a sidecar may have")
    # Over the limit: neither read nor edited, with the same words.
    over = padded_sidecar(library / "over.jpg.xmp", MAX_SIDECAR_BYTES + 1)
    make_jpeg(library / "over.jpg")
    expected = "33,554,433 bytes, more than the 32 MiB a sidecar may have"
    assert read_sidecar(over).warnings == [f"{over}: sidecar not read: {expected}"]
    result, reporter = write(library, tmp_path / "i.sqlite", library / "over.jpg", ["Cat"])
    assert reporter.skipped == {str(over): f"sidecar left untouched: {expected}"}


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temp_files_of_a_killed_writer_are_removed_by_the_next_write_and_by_undo(tmp_path):
    library = tmp_path / "lib"
    first, second = make_jpeg(library / "one" / "a.jpg"), make_jpeg(library / "two" / "b.jpg")
    pid = dead_pid()
    stale = [
        library / "one" / f".pt-{pid}-0.tmp",
        library / "one" / f".a.jpg.xmp.phototag-{pid}-7.tmp",  # the name phototag 0.x used
        library / "two" / f".pt-{pid}-3.tmp",
    ]
    alive = library / "one" / f".pt-{os.getpid()}-99.tmp"  # a running writer's: left alone
    for path in stale + [alive]:
        path.write_bytes(b"half a sidecar")
    db = tmp_path / "i.sqlite"
    write(library, db, second, ["Cat"])  # folder two gets written, folder one not yet
    assert not stale[2].exists() and stale[0].exists() and stale[1].exists()
    write(library, db, first, ["Cat"])
    assert not stale[0].exists() and not stale[1].exists() and alive.exists()
    leftover = library / "one" / f".pt-{pid}-5.tmp"  # killed again, after the last write
    leftover.write_bytes(b"half a sidecar")
    with Index(db, library) as index:
        undone = undo_last_batch(index)
    assert undone.deleted == [library / "one" / "a.jpg.xmp"]
    assert not leftover.exists() and alive.exists()


def test_a_sidecar_whose_name_is_250_bytes_is_written_and_undone(tmp_path):
    library = tmp_path / "lib"
    photo = make_jpeg(library / ("é" * 60 + "x" * 122 + ".jpg"))  # 246 bytes: the sidecar's name is 250
    edited = make_jpeg(library / ("y" * 242 + ".JPG"))
    write_sidecar(library / (edited.name + ".xmp"), subjects=["old"])
    sidecar = library / (photo.name + ".xmp")
    assert len(os.fsencode(sidecar.name)) == 250
    db = tmp_path / "i.sqlite"
    for target in (photo, edited):
        result, reporter = write(library, db, target, ["Cat"])
        assert result.changed and not reporter.warnings
    assert b"<rdf:li>Cat</rdf:li>" in sidecar.read_bytes()
    assert b"<rdf:li>Cat</rdf:li>" in (library / (edited.name + ".xmp")).read_bytes()
    assert not [name for name in os.listdir(library) if name.startswith(".")]
    with Index(db, library) as index:
        assert undo_last_batch(index).restored == [library / (edited.name + ".xmp")]
        assert undo_last_batch(index).deleted == [sidecar]
