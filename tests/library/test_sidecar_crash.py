"""SIGKILL in the middle of a large write batch: every sidecar is fully old or fully new, and undo restores all."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from photos import make_jpeg
from sidecar_samples import CAMERA_RAW, DARKTABLE

from phototag.fsio import is_temp_name
from phototag.library.index import Index
from phototag.library.sidecar import undo_last_batch
from phototag.library.walk import LibraryWalker
from phototag.library.xmp_edit import NEW_SIDECAR, edit_xmp

REPO = Path(__file__).resolve().parents[2]
HELPER = REPO / "tests" / "crash_writer.py"
PHOTOS = 300
TAGS = ["Animals|Heron", "wetland", "Places|Europe|Camargue"]


def build_library(root: Path) -> dict[Path, tuple[bytes | None, bytes]]:
    """300 photos: a third with a darktable sidecar, a third with a Camera Raw one, a third with none.

    Returns sidecar path -> (bytes before or None, bytes expected after).
    """
    template = make_jpeg(root / "template.jpg").read_bytes()
    (root / "template.jpg").unlink()
    expected = {}
    for i in range(PHOTOS):
        photo = root / f"IMG_{i:04d}.jpg"
        photo.write_bytes(template)
        kind = i % 3
        if kind == 0:
            sidecar, old = root / f"IMG_{i:04d}.jpg.xmp", DARKTABLE.replace("IMG_1234", f"IMG_{i:04d}").encode()
        elif kind == 1:
            sidecar, old = root / f"IMG_{i:04d}.xmp", CAMERA_RAW.replace("1b0f5b4a", f"{i:08x}").encode()
        else:
            sidecar, old = root / f"IMG_{i:04d}.jpg.xmp", None  # tie between conventions: darktable default
        if old is not None:
            sidecar.write_bytes(old)
        expected[sidecar] = (old, edit_xmp(old if old is not None else NEW_SIDECAR, TAGS)[0])
    return expected


def start_writer(root: Path, index_path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), str(root), str(index_path), *TAGS],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout.readline() == "ready\n"
    return proc


def states(expected) -> dict[str, int]:
    """Count sidecars old / new; fail on anything else (a torn or foreign file)."""
    count = {"old": 0, "new": 0}
    for sidecar, (old, new) in expected.items():
        current = sidecar.read_bytes() if sidecar.exists() else None
        if current == old:
            count["old"] += 1
        elif current == new:
            count["new"] += 1
        else:
            pytest.fail(f"{sidecar.name} is neither the old nor the new content ({len(current or b'')} bytes)")
    return count


def undo_all(root: Path, index_path: Path, expected) -> None:
    with Index.for_library(root, index_path) as index:
        result = undo_last_batch(index)
    assert not result.kept
    assert states(expected) == {"old": PHOTOS, "new": 0}


@pytest.fixture
def work_dir(tmp_path):
    """tmpfs when there is one: fsync costs nothing there, and a SIGKILL (unlike a power cut)
    does not depend on fsync, only on the rename being atomic."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="phototag-crash-", dir=shm))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_sigkill_mid_batch_leaves_old_or_new_and_undo_restores(work_dir):
    root = work_dir / "lib"
    root.mkdir()
    index_path = work_dir / "index.sqlite"
    expected = build_library(root)

    # A full run first: how long a batch takes here, and that it writes everything.
    started = time.monotonic()
    proc = start_writer(root, index_path)
    assert proc.wait(timeout=120) == 0
    duration = time.monotonic() - started
    assert states(expected) == {"old": 0, "new": PHOTOS}
    undo_all(root, index_path, expected)

    rng = random.Random(20240605)
    interrupted = 0
    for _ in range(10):
        proc = start_writer(root, index_path)
        time.sleep(rng.uniform(0, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        count = states(expected)
        if 0 < count["new"] < PHOTOS:
            interrupted += 1
        # leftovers of a killed write are hidden temp files, never seen as photos or sidecars
        visible = {p.name for p in root.iterdir() if not p.name.startswith(".")}
        assert visible <= {p.name for p in expected} | {f"IMG_{i:04d}.jpg" for i in range(PHOTOS)}
        leftovers = [p.name for p in root.iterdir() if p.name.startswith(".")]
        assert all(is_temp_name(name) for name in leftovers), leftovers
        walked = list(LibraryWalker(root, on_skip=lambda p, r: pytest.fail(f"{p}: {r}")))
        assert len(walked) == PHOTOS
        undo_all(root, index_path, expected)
    assert interrupted >= 3, f"only {interrupted} of 10 kills landed mid-batch (batch takes {duration:.2f}s)"

    # The next run cleans the temp files of killed writers and writes everything.
    proc = start_writer(root, index_path)
    assert proc.wait(timeout=120) == 0
    proc.stdout.close()
    assert states(expected) == {"old": 0, "new": PHOTOS}
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
