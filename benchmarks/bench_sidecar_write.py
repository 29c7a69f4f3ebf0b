#!/usr/bin/env python
"""Sidecar write throughput: what safety (minimal edit + verify, journal, fsync, rename) costs.

    python benchmarks/bench_sidecar_write.py [--count 300] [--dir DIR]

On --dir (default: a temp folder; use a folder on the disk your photos live on) it makes
COUNT photos with realistic darktable sidecars and measures, in one run:
  baseline     path.write_bytes(new content): no parsing, no journal, no fsync, not atomic
  edit only    edit_xmp(): parse, splice, re-parse and verify (CPU only, nothing written)
  writer edit  SidecarWriter.add_tags on the existing sidecars (edit + journal + atomic write)
  writer new   SidecarWriter.add_tags creating new sidecars
  undo         undo_last_batch restoring the COUNT edited sidecars
Figures are sidecars/s and the ratio to the baseline, printed and written to
benchmarks/results/bench_sidecar_write.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sidecar_samples import DARKTABLE  # noqa: E402

from phototag.app.write import open_writer, undo_last_write  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.library.xmp_edit import edit_xmp  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402

TAGS = ["Animals|Heron", "wetland", "Places|Europe|Camargue"]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-sidecar-", dir=args.dir))
    try:
        edited_dir, new_dir, plain_dir = base / "edited", base / "new", base / "plain"
        for folder in (edited_dir, new_dir, plain_dir):
            folder.mkdir()
        old = DARKTABLE.encode()
        new, _ = edit_xmp(old, TAGS)
        photo_bytes = b"\xff\xd8\xff\xd9"  # never read by the writer; only its permission bits are
        for i in range(args.count):
            for folder in (edited_dir, new_dir):
                (folder / f"IMG_{i:05d}.jpg").write_bytes(photo_bytes)
            (edited_dir / f"IMG_{i:05d}.jpg.xmp").write_bytes(old)
            (plain_dir / f"IMG_{i:05d}.jpg.xmp").write_bytes(old)

        n = args.count
        baseline = timed(lambda: [(plain_dir / f"IMG_{i:05d}.jpg.xmp").write_bytes(new) for i in range(n)])
        edit_only = timed(lambda: [edit_xmp(old, TAGS) for _ in range(n)])
        with Index.for_library(base, base / "index.sqlite") as index:

            def write(folder: Path) -> None:
                with open_writer(index, "bench", CollectingReporter()) as writer:
                    for i in range(n):
                        writer.add_tags(folder / f"IMG_{i:05d}.jpg", TAGS, model="bench")

            writer_new = timed(lambda: write(new_dir))
            undo_last_write(index, CollectingReporter())  # the "new" batch: deletes them again
            writer_edit = timed(lambda: write(edited_dir))
            undo = timed(lambda: undo_last_write(index, CollectingReporter()))
        assert all((edited_dir / f"IMG_{i:05d}.jpg.xmp").read_bytes() == old for i in range(n))

        def rate(seconds: float) -> float:
            return n / seconds if seconds > 0 else float("inf")

        results = {
            "count": n,
            "sidecar_bytes": len(old),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "dir": str(args.dir or tempfile.gettempdir()),
            "per_second": {
                "baseline_write_bytes": rate(baseline),
                "edit_only": rate(edit_only),
                "writer_edit": rate(writer_edit),
                "writer_new": rate(writer_new),
                "undo": rate(undo),
            },
        }
        results["ratio_to_baseline"] = {
            k: v / results["per_second"]["baseline_write_bytes"] for k, v in results["per_second"].items()
        }
        for key, value in results["per_second"].items():
            print(f"{key:>22}: {value:10,.0f} sidecars/s   ({results['ratio_to_baseline'][key]:.3f} x baseline)")
        out = ROOT / "benchmarks" / "results" / "bench_sidecar_write.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
