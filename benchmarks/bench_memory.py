#!/usr/bin/env python3
"""Peak memory of `phototag scan` and `phototag suggest` as the library grows.

Builds libraries of N small real JPEGs with bench_scan's builder (Pillow, 160 x 120,
distinct bytes per file, folders of 100; one photo in five has an XMP sidecar with keywords, so
suggest has an owner vocabulary and four in five photos to suggest for), then
runs the real CLI in a child process and samples the resident memory of that
process and of its decode workers every 50 ms. Small images keep decoding cheap
so the run is about the per-photo bookkeeping, which is what could grow with
the library; the backbone still runs at its full input size.

    python benchmarks/bench_memory.py                          # scan at 1k/10k/100k, suggest at 1k/10k
    python benchmarks/bench_memory.py --scan 1000 100000 --suggest 1000 100000
    python benchmarks/bench_memory.py --scan 25 --suggest 25 --device onnx   # what one suggest run loads

Before measuring, suggest runs once on a 5-photo library (not measured), so the work a
machine does once (exporting the ONNX graph, timing PyTorch against onnxruntime for
--device auto) is done, as it is for a person after their first run; `--cold` skips that
and measures the first run. Each measured library is new, so its vocabulary is embedded
(MiniLM) when some tags match no general tag by spelling or WordNet, as on a first run.

Figures: peak RSS (MiB) of the main process, and of main + workers together,
per command and size; the ratio of the largest to the smallest library.
"Bounded" means the ratio stays far below the ratio of library sizes.
Results go to benchmarks/results/bench_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_scan import build_library  # noqa: E402  (the scan benchmark's library, one photo in five tagged)

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    kids = [int(k) for k in handle.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except OSError:
        return 0


def run_measured(args: list[str], env: dict) -> dict:
    """Run the CLI; peak RSS of its main process and of main + descendants, sampled every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "phototag", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak_main = peak_tree = 0
    while process.poll() is None:
        main = _rss(process.pid)
        tree = main + sum(_rss(child) for child in _children(process.pid))
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        time.sleep(0.05)
    stderr = process.stderr.read().decode(errors="replace")
    if process.returncode not in (0, 3):
        raise SystemExit(f"phototag {' '.join(args)} failed ({process.returncode}):\n{stderr[-2000:]}")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_main_mib": round(peak_main / 2**20, 1),
        "peak_rss_with_workers_mib": round(peak_tree / 2**20, 1),
        "exit": process.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scan", type=int, nargs="+", default=[1000, 10000, 100000], help="library sizes for scan")
    parser.add_argument("--suggest", type=int, nargs="+", default=[1000, 10000], help="library sizes for suggest")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "onnx", "onnx-int8", "cuda"])
    parser.add_argument("--cold", action="store_true", help="measure the first run on this machine (no warm-up run)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "bench_memory.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_memory-"))
    env = dict(
        os.environ, PYTHONPATH=str(REPO), PHOTOTAG_DATA_DIR=str(work / "data"), PHOTOTAG_LOG_DIR=str(work / "logs")
    )
    env.setdefault("PHOTOTAG_CACHE_DIR", str(work / "cache"))
    rows = []
    if args.suggest and not args.cold:
        build_library(work / "warm-up", 5, tagged_every=5)
        run_measured(["suggest", str(work / "warm-up"), "--quiet", "--json", "--device", args.device], env)
    for size in sorted(set(args.scan) | set(args.suggest)):
        library = work / f"library-{size}"
        started = time.perf_counter()
        build_library(library, size, tagged_every=5)
        print(f"built {size} photos in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        if size in args.scan:
            figures = run_measured(["scan", str(library), "--quiet"], env)
            rows.append({"command": "scan", "photos": size, **figures})
            print(f"scan     {size:>7} photos: {figures}", flush=True)
        if size in args.suggest:
            # The scan above (or suggest's own) fills the index; suggest then decodes and runs the model.
            figures = run_measured(["suggest", str(library), "--quiet", "--json", "--device", args.device], env)
            rows.append({"command": "suggest", "photos": size, **figures})
            print(f"suggest  {size:>7} photos: {figures}", flush=True)
        subprocess.run(["rm", "-rf", str(library)], check=False)

    growth = {}
    for command in ("scan", "suggest"):
        measured = sorted((r for r in rows if r["command"] == command), key=lambda r: r["photos"])
        if len(measured) >= 2:
            small, large = measured[0], measured[-1]
            growth[command] = {
                "photos_ratio": large["photos"] / small["photos"],
                "peak_rss_ratio": round(large["peak_rss_with_workers_mib"] / small["peak_rss_with_workers_mib"], 2),
                "kib_per_extra_photo": round(
                    (large["peak_rss_with_workers_mib"] - small["peak_rss_with_workers_mib"])
                    * 1024
                    / (large["photos"] - small["photos"]),
                    2,
                ),
            }
    result = {
        "rows": rows,
        "growth": growth,
        "device": args.device,
        "warm_up": not args.cold,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for command, g in growth.items():
        print(
            f"{command}: {g['photos_ratio']:.0f}x the photos -> {g['peak_rss_ratio']}x the peak RSS "
            f"({g['kib_per_extra_photo']} KiB per extra photo)"
        )
    print(f"wrote {args.output}")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
