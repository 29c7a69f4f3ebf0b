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

import pytest
from photos import make_jpeg, write_sidecar

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
    with deadline(20), Index(db, library) as index, SidecarWriter(index, "test", reporter=reporter, **options) as writer:
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
