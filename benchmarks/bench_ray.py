"""`phototag suggest` on one process against `suggest --ray` on a local Ray cluster of 1 and 2 workers.

    .venv/bin/python benchmarks/bench_ray.py [--count 64] [--device onnx]

Root only: the whole benchmark re-runs itself inside a private network namespace (`unshare -n`, only
`lo` up), so the Ray cluster listens on 127.0.0.1 alone. The photos are bench_suggest's: the example
photos upscaled to 12 MP, each with its own noise tile (its own fingerprint), quality-90 JPEGs.

Every run is a real `phototag suggest DIR --json` process with its own fresh index (no feature is
cached between runs), timed from start to exit, the fastest of --repeats kept:
  single        one process, the machine's cores (decode workers + backbone, as suggest picks them)
  single-1core  the same, pinned to one core (taskset): the baseline for one Ray worker
  ray-1, ray-2  --ray auto on a cluster started with --num-cpus 1 / 2 (one backbone actor per CPU,
                each decoding its own batches)
  fixed         a second run on single's index (every feature cached): scan, model load, ranking
Figures: feature photos/s, one process: count / (wall - fixed); with Ray: the steady state after the
first batch came back (the driver's own timing line: actors started, models loaded); the ratios
against `single` and `single-1core` from the same run; Ray's fixed cost (ray-1's wall less `fixed`
and its steady-state time: connecting, the node check, actors starting); Ray's cost per photo (ray-1
steady against single-1core); the peak RSS of each backbone actor process (ray::MapWorker) and of the
one-process run's tree. Results: benchmarks/results/bench_ray.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
PORT = 6379
INSIDE = "PHOTOTAG_BENCH_RAY_INSIDE"


def run_suggest(library: Path, data: Path, device: str, ray: bool = False, pin: bool = False) -> tuple[float, int, str]:
    """Wall seconds of one `phototag suggest --json` process, the peak RSS (KiB) of its backbone actors (with
    --ray) or of its own process tree, and its stderr."""
    command = [
        sys.executable,
        "-m",
        "phototag",
        "suggest",
        str(library),
        "--json",
        "--device",
        device,
        "--min-score",
        "0",
    ]
    if ray:
        command += ["--ray", "auto"]
    if pin:
        command = ["taskset", "-c", "0", *command]
    env = {**os.environ, "PHOTOTAG_DATA_DIR": str(data)}
    peak = {"rss": 0}
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = threading.Thread(target=_sample_rss, args=(proc, ray, peak), daemon=True)
    sampler.start()
    _, err = proc.communicate(timeout=1800)
    elapsed = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"suggest failed ({proc.returncode}):\n{err}")
    return elapsed, peak["rss"], err


def _sample_rss(proc: subprocess.Popen, actors: bool, peak: dict) -> None:
    """Every 0.1 s: the largest RSS among the backbone actors (ray::MapWorker), or the driver's own plus its
    decode workers (its children), until `proc` ends."""
    while proc.poll() is None:
        rss = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            if actors and cmdline.startswith(b"ray::MapWorker"):
                rss = max(rss, kib)
            elif not actors and (int(pid) == proc.pid or f"PPid:\t{proc.pid}\n" in status):
                rss += kib
        peak["rss"] = max(peak["rss"], rss)
        time.sleep(0.1)


def ray_cluster(cpus: int, temp_dir: str):
    subprocess.run(
        [
            "ray",
            "start",
            "--head",
            "--port",
            str(PORT),
            "--num-cpus",
            str(cpus),
            "--num-gpus",
            "0",
            "--include-dashboard",
            "false",
            "--object-store-memory",
            "200000000",
            "--temp-dir",
            temp_dir,
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
    )


def ray_stop() -> None:
    subprocess.run(["ray", "stop", "--force"], capture_output=True)


def measure(args, work: Path) -> dict:
    """Each run `args.repeats` times (each with a fresh index); the fastest of each is kept."""
    from bench_suggest import make_photos

    library = work / "photos"
    library.mkdir()
    made = time.perf_counter()
    make_photos(library, args.count)
    print(f"{args.count} photos of 12 MP made in {time.perf_counter() - made:.0f} s", flush=True)
    one = work / "one"
    one.mkdir()
    shutil.copy(next(library.iterdir()), one / "IMG.jpg")
    run_suggest(one, work / "d-warm", args.device)  # exports the backbone graph to the cache once, untimed
    runs: dict[str, dict] = {}
    fresh = iter(range(10_000))

    def record(name: str, seconds: float, rss: int, err: str) -> None:
        run = {"seconds": round(seconds, 3), "peak_rss_mib": round(rss / 1024, 1)}
        found = re.search(r"computed on the Ray cluster \(.*\) in ([\d.]+) s, the first batch after ([\d.]+) s", err)
        if found:
            run["ray_seconds"], run["ray_first_batch_seconds"] = float(found[1]), float(found[2])
        print(f"{name:>13}: {seconds:7.2f} s, peak RSS {rss / 1024:7.1f} MiB {found[0] if found else ''}", flush=True)
        if name not in runs or run["seconds"] < runs[name]["seconds"]:
            runs[name] = run

    temp_dir = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # short: Ray's unix socket paths stay < 108 bytes
    try:
        for _ in range(args.repeats):
            index = work / f"d-{next(fresh)}"
            record("single", *run_suggest(library, index, args.device))
            record("fixed", *run_suggest(library, index, args.device))  # every feature cached now
            record("single-1core", *run_suggest(library, work / f"d-{next(fresh)}", args.device, pin=True))
            for cpus in (1, 2):
                ray_cluster(cpus, temp_dir)
                try:
                    record(f"ray-{cpus}", *run_suggest(library, work / f"d-{next(fresh)}", args.device, ray=True))
                finally:
                    ray_stop()
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return runs


def figures(runs: dict, count: int, batch: int = 16) -> dict:
    """Features photos/s: one process from its wall time less the cached run's; Ray in its steady state
    (after the first batch came back: actors started, models loaded), from the driver's own timing."""
    fixed = runs["fixed"]["seconds"]
    rate = {name: count / max(1e-9, runs[name]["seconds"] - fixed) for name in ("single", "single-1core")}
    for name in ("ray-1", "ray-2"):
        run = runs[name]
        rate[name] = (count - batch) / max(1e-9, run["ray_seconds"] - run["ray_first_batch_seconds"])
    ray_fixed = runs["ray-1"]["seconds"] - fixed - (count - batch) / rate["ray-1"]
    return {
        "feature_photos_per_s": {k: round(v, 2) for k, v in rate.items()},
        "end_to_end_photos_per_s": {k: round(count / runs[k]["seconds"], 2) for k in rate},
        "ratio_vs_single": {k: round(v / rate["single"], 3) for k, v in rate.items()},
        "ratio_vs_single_1core": {k: round(v / rate["single-1core"], 3) for k, v in rate.items()},
        "ray_fixed_cost_s": round(ray_fixed, 2),
        "ray_first_batch_s": {k: runs[k]["ray_first_batch_seconds"] for k in ("ray-1", "ray-2")},
        "ray_overhead_ms_per_photo": round(1000 * (1 / rate["ray-1"] - 1 / rate["single-1core"]), 2),
        "peak_rss_mib_per_actor": {k: runs[k]["peak_rss_mib"] for k in ("ray-1", "ray-2")},
        "peak_rss_mib_single_process_tree": runs["single"]["peak_rss_mib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--device", default="onnx")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_ray.json")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":  # into a private network namespace: the cluster sees only loopback
        script = 'ip link set lo up && exec "$0" "$@"'
        env = {
            **os.environ,
            INSIDE: "1",
            "PYTHONPATH": str(REPO),
            "RAY_ADDRESS": f"127.0.0.1:{PORT}",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        raise SystemExit(
            subprocess.run(["unshare", "-n", "sh", "-c", script, sys.executable, *sys.argv], env=env).returncode
        )
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        os.environ.update({"PHOTOTAG_LOG_DIR": str(work / "logs"), "PHOTOTAG_CACHE_DIR": str(work / "cache")})
        runs = measure(args, work)
    result = {
        "count": args.count,
        "repeats": args.repeats,
        "device": args.device,
        "photo_size": "4000x3000 JPEG q90",
        "runs": runs,
        "figures": figures(runs, args.count),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }
    try:
        import ray

        result["machine"]["ray"] = ray.__version__
    except ImportError:
        pass
    print(json.dumps(result["figures"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
