#!/usr/bin/env python3
"""Scan speed: first scan of a synthetic library, and an unchanged re-scan as a ratio of it.

Builds N real small JPEGs (Pillow) in folders of 100, each with a Lightroom-style
XMP sidecar holding 3-6 keywords (a third hierarchical), in a temp dir; then
times `scan_library` on a fresh index (first scan) and again with nothing
changed (re-scan), and once more after touching 1 % of the sidecars.

    python benchmarks/bench_scan.py            # 10,000 files (target: re-scan <= 0.02 x first scan)
    python benchmarks/bench_scan.py --count 2000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from photos import xmp_sidecar  # noqa: E402
from PIL import Image  # noqa: E402

from phototag.app.scan import scan  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402

WORDS = "beach sea sun family cat dog mountain snow city night food party garden flower bird car train bridge".split()


def build_library(root: Path, count: int, seed: int = 0, tagged_every: int = 1) -> None:
    """`count` JPEGs in folders of 100; every `tagged_every`-th one gets a sidecar with keywords."""
    rng = random.Random(seed)
    templates = []
    for i in range(16):  # a few distinct real JPEGs, written under many names
        image = Image.effect_noise((160, 120), 40 + i * 5).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        templates.append(buffer.getvalue())
    for i in range(count):
        folder = root / f"{2000 + i // 1000}" / f"event-{i // 100:04}"
        folder.mkdir(parents=True, exist_ok=True)
        photo = folder / f"IMG_{i:05}.jpg"
        # unique content per file: the template plus a unique trailer (keeps fingerprints distinct)
        photo.write_bytes(templates[i % len(templates)] + i.to_bytes(4, "little"))
        if i % tagged_every:
            continue
        tags = rng.sample(WORDS, rng.randint(3, 6))
        hierarchical = [f"Topics|{t}" for t in tags[:2]] if i % 3 == 0 else []
        (folder / f"IMG_{i:05}.xmp").write_text(xmp_sidecar(subjects=tags, hierarchical=hierarchical), encoding="utf-8")


def timed_scan(root: Path, db: Path):
    with Index(db, root) as index:
        started = time.perf_counter()
        summary = scan(index, CollectingReporter())
        seconds = time.perf_counter() - started
    return seconds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_scan.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="phototag-bench-scan-") as tmp:
        root, db = Path(tmp) / "library", Path(tmp) / "index.sqlite"
        os.environ.setdefault("PHOTOTAG_LOG_DIR", str(Path(tmp) / "logs"))
        t0 = time.perf_counter()
        build_library(root, args.count)
        build_seconds = time.perf_counter() - t0

        first, summary = timed_scan(root, db)
        assert summary.read == args.count and not summary.skipped, summary.as_dict()
        rescan, summary2 = timed_scan(root, db)
        assert summary2.read == 0 and summary2.unchanged == args.count
        touched = sorted(root.rglob("*.xmp"))[::100]
        for sidecar in touched:
            sidecar.write_text(
                sidecar.read_text(encoding="utf-8").replace("</rdf:Bag>", "<rdf:li>new</rdf:li></rdf:Bag>", 1),
                encoding="utf-8",
            )
        partial, summary3 = timed_scan(root, db)
        assert summary3.read == len(touched)

    results = {
        "benchmark": "scan",
        "files": args.count,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "first_scan_files_per_s": round(args.count / first, 1),
        "rescan_unchanged_ratio": round(rescan / first, 4),
        "rescan_1pct_changed_ratio": round(partial / first, 4),
        "target_rescan_ratio": 0.02,
        "seconds": {
            "build": round(build_seconds, 2),
            "first": round(first, 3),
            "rescan": round(rescan, 3),
            "rescan_1pct": round(partial, 3),
        },
        "tagged": summary.tagged,
        "distinct_keywords": summary.keywords,
    }
    print(f"first scan      : {results['first_scan_files_per_s']:,.0f} files/s ({args.count:,} photos + sidecars)")
    print(f"unchanged rescan: {results['rescan_unchanged_ratio']:.4f} x first scan (target <= 0.02)")
    print(f"1% changed      : {results['rescan_1pct_changed_ratio']:.4f} x first scan")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
