"""suggest with and without PyTorch installed, timed in one run over the same photos (issue 22 item 4).

    .venv/bin/python benchmarks/bench_without_torch.py [--count 48] [--repeats 2] [--baseline DIR]

Makes `--count` 12-MP JPEGs as bench_suggest.py does (examples/library upscaled, faint per-file noise), tags a third
of them (so suggest ranks in an owner's words: kNN, neighbours, the blend fitted on the tagged photos), and times
`phototag suggest DIR --all --json` as a fresh process, from start to exit, each run with a fresh index and
cache (so every run decodes every photo and runs the backbone):
  with torch      this checkout, PyTorch installed (the `torch` extra)
  without torch   this checkout, importing torch/torchvision/timm blocked as if not installed (pip install phototag)
  baseline        (with --baseline DIR) another checkout, e.g. the commit before PyTorch was made optional
The runs alternate, `--repeats` times each; the median counts. It also checks that every run gives the same
suggestions (tags and order, scores within 1e-4). Results go to benchmarks/results/bench_without_torch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_suggest import make_photos  # noqa: E402

BLOCK = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "timm"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
"""
RUN = "import sys; from phototag.cli import main; sys.argv = ['phototag', *sys.argv[1:]]; main()"


def tag_some(paths: list[Path]) -> None:
    """Every third photo gets a sidecar with one of three tags (by source photo), the rest stay untagged."""
    for i, path in enumerate(paths):
        if i % 3 == 0:
            tag = ("garden", "holiday", "home")[i // 3 % 3]
            path.with_suffix(".xmp").write_text(
                '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>'
                f"<rdf:li>{tag}</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>",
                encoding="utf-8",
            )


def run(code: Path, script: str, library: Path, scratch: Path) -> tuple[float, list]:
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code), "PHOTOTAG_WEIGHTS_DIR": str(code / "weights")}
    env |= {"PHOTOTAG_CACHE_DIR": str(scratch / "cache"), "PHOTOTAG_DATA_DIR": str(scratch / "data")}
    command = [sys.executable, "-c", script, "suggest", str(library), "--all", "--json", "-q"]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{code}: suggest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, [json.loads(line) for line in proc.stdout.splitlines()]


def same(a: list, b: list) -> bool:
    def pairs(rows):
        return [[(s["tag"], s["score"]) for s in row["suggestions"]] for row in rows]

    for x, y in zip(pairs(a), pairs(b)):
        if [t for t, _ in x] != [t for t, _ in y] or any(abs(p - q) > 1e-4 for (_, p), (_, q) in zip(x, y)):
            return False
    return len(a) == len(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout to time the same way (PyTorch installed)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "bench_without_torch.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_without_torch-"))
    try:
        library = work / "library"
        library.mkdir()
        paths = make_photos(library, args.count)
        tag_some(paths)
        setups = {"with torch": (REPO, RUN), "without torch": (REPO, BLOCK + RUN)}
        if args.baseline:
            setups["baseline"] = (args.baseline.resolve(), RUN)
        seconds: dict[str, list[float]] = {name: [] for name in setups}
        outputs: dict[str, list] = {}
        for _ in range(args.repeats):
            for name, (code, script) in setups.items():
                taken, rows = run(code, script, library, work / "scratch")
                seconds[name].append(taken)
                outputs.setdefault(name, rows)
                print(f"{name:14s} {taken:6.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "photos": args.count,
        "tagged": len(range(0, args.count, 3)),
        "images": "examples/library photos upscaled bicubic to 12 MP, faint per-file noise, JPEG q90",
        "command": "phototag suggest DIR --all --json -q (fresh process, fresh index and cache)",
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "seconds": seconds,
        "median_s": {name: round(value, 2) for name, value in median.items()},
        "photos_per_s": {name: round(args.count / value, 2) for name, value in median.items()},
        "without_over_with_torch_speed": round(median["with torch"] / median["without torch"], 3),
        "same_suggestions": {name: same(outputs["with torch"], rows) for name, rows in outputs.items()},
    }
    if "baseline" in median:
        result["without_torch_over_baseline_speed"] = round(median["baseline"] / median["without torch"], 3)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
