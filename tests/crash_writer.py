"""Test helper run as a subprocess: add tags to every photo of a folder in one write batch.

    python tests/crash_writer.py LIBRARY INDEX TAG [TAG ...]

Prints "ready" once the writer is set up, so a test can SIGKILL it mid-batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter


def main() -> None:
    root, index_path, tags = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    photos = sorted(p for p in root.iterdir() if p.suffix.lower() == ".jpg")
    with Index.for_library(root, index_path) as index, SidecarWriter(index, "crash-test") as writer:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        for photo in photos:
            writer.add_tags(photo, tags, model="crash-test")
    sys.stdout.write(f"done {writer.stats.sidecars_written}\n")


if __name__ == "__main__":
    main()
