"""scan_library as a library call: worker pools that cannot start must not stop a scan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar

from phototag.library.scan import PARALLEL_THRESHOLD

# Run from standard input with torch loaded: scan then uses 'spawn' workers, which cannot
# re-import a script that has no file, so the pool breaks; the scan must finish in-process.
SCRIPT = """
import sys, torch
from phototag.reporting import CollectingReporter
from phototag.library.index import Index
from phototag.library.scan import scan_library
with Index(sys.argv[2], sys.argv[1]) as index:
    summary = scan_library(index, CollectingReporter())
print(summary.read, summary.tagged)
"""


@pytest.mark.slow
def test_scan_finishes_when_worker_processes_cannot_start(tmp_path):
    library = tmp_path / "lib"
    count = PARALLEL_THRESHOLD + 20
    for i in range(count):
        photo = make_jpeg(library / f"IMG_{i:04}.jpg", size=(16, 16), color=(i % 255, 0, 0))
        write_sidecar(photo.with_suffix(".xmp"), subjects=["t"])
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-", str(library), str(tmp_path / "i.sqlite")],
        input=SCRIPT,
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(count), str(count)]
