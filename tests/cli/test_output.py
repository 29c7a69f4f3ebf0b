"""What phototag prints, as a person (or a script) sees it: exit codes, warning lines, errors and tables.

Every test runs phototag in a real process on real files (Pillow JPEGs, hand-written sidecars),
with stdout and stderr a pipe or a terminal (a pty) as stated, and COLUMNS set or not as stated.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from photos import make_jpeg

REPO = Path(__file__).resolve().parents[2]
# An XMP packet with a DTD declaring an external entity: refused, never expanded (XXE).
XXE_SIDECAR = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&e;</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def run(*args: str, columns: Optional[int] = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """phototag in a real process; stdout and stderr pipes (not terminals); COLUMNS only when given."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "phototag", *args], cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=600
    )


def stderr_of(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.decode("utf-8")


def log_file(stderr: str) -> Path:
    return Path(stderr.split("details in ")[-1].strip())


# --- item 10: exit status when only warnings were given -------------------------------------------------


def test_a_refused_sidecar_exits_3_and_the_closing_line_says_so(tmp_path):
    root = tmp_path / "lib"
    make_jpeg(root / "a.jpg")
    (root / "a.xmp").write_text(XXE_SIDECAR)
    make_jpeg(root / "b.jpg")
    proc = run("scan", str(root), columns=250)
    err = stderr_of(proc)
    assert proc.returncode == 3, err  # was 0: the photo's keywords were not read, and nothing said so in the code
    last = err.strip().splitlines()[-1]
    assert last.startswith("1 warning(s), 0 file(s) skipped, 1 file(s) whose keywords were not all read; details in ")
    text = log_file(err).read_text()
    assert "a.xmp: sidecar not read: XMP refused" in text and "a.jpg: not all of its keywords were read" in text


def test_warnings_alone_exit_0_and_are_counted_in_the_closing_line(tmp_path):
    root = tmp_path / "lib"
    # an EXIF block whose first directory lies outside it: the EXIF is not read, nothing else is lost
    make_jpeg(root / "b.jpg", exif=b"Exif\x00\x00II*\x00" + struct.pack("<I", 4000) + b"\x00" * 8)
    proc = run("scan", str(root), columns=250)
    err = stderr_of(proc)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1].startswith("1 warning(s), 0 file(s) skipped; details in ")
    assert "EXIF/TIFF directory offset 4000 lies outside the data" in log_file(err).read_text()
