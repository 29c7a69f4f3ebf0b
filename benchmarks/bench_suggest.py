"""Suggest throughput against pure decoding, on one set of 12-MP JPEGs.

    .venv/bin/python benchmarks/bench_suggest.py [--count 128] [--device auto onnx-int8 ...] [--backbone lite0]

The photos are real: the JPEG/PNG photos of examples/library, upscaled to
4000 x 3000 (12 MP) with bicubic filtering, each with a different faint noise
pattern so every file has its own content fingerprint, saved as quality-90
JPEGs. Upscaled photos compress like camera JPEGs of soft scenes; the decode
cost with Pillow's draft mode depends on the pixel count and the DCT scale
chosen, which is the same as for camera files of that size.

Figures, all from one run over the same files, for each --device given (each
with its own index, so none reads another's cached features):
  decode      photos/s of the decode pipeline alone (same worker processes, Pillow draft;
              on CUDA, suggest decodes JPEGs on the GPU unless --no-gpu-decode)
  suggest     photos/s of a first `suggest` (decode + backbone + heads, features stored)
  ratio       suggest / decode (goal >= 0.8: the model keeps up with decoding)
  cached      photos/s of a second `suggest` over the same photos (features from the index)
Results go to benchmarks/results/bench_suggest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SIZE = (4000, 3000)


def make_photos(folder: Path, count: int) -> list[Path]:
    sources = sorted(
        p for p in (REPO / "examples" / "library").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    if not sources:
        raise SystemExit("examples/library has no photos to upscale")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as image:
            big = image.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
        # A faint per-file noise tile makes every file (and its fingerprint) distinct.
        noise = rng.integers(-3, 4, size=(64, 64, 3), dtype=np.int16)
        array = np.asarray(big, dtype=np.int16)
        array[:64, :64] = np.clip(array[:64, :64] + noise, 0, 255)
        path = folder / f"IMG_{i:05d}.jpg"
        Image.fromarray(array.astype(np.uint8)).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def measure(library: Path, paths: list[Path], device: str, args) -> dict:
    """Decode-only, first suggest and cached suggest throughput for one device, all in this call."""
    from phototag.app.suggest import SuggestOptions, SuggestSession
    from phototag.errors import optional_torch
    from phototag.imaging.pipeline import batches
    from phototag.library.index import Index
    from phototag.reporting import CollectingReporter

    torch = optional_torch()  # suggest's CPU path runs without it (issue 22)

    options = SuggestOptions(
        only_untagged=False,
        device=device,
        backbone=args.backbone,
        workers=args.workers,
        gpu_decode=not args.no_gpu_decode,
    )
    index = Index.for_library(library, library.parent / f"index-{device}.db")
    session = SuggestSession(index, options, CollectingReporter())  # scans the library
    session.load()
    extractor = session.extractor
    workers = args.workers or extractor.workers
    size = extractor.spec.input_size

    # Warm-up outside the timings: start-up of worker processes and of the backbone.
    for _ in batches(paths[:4], size, 4, workers):
        pass
    extractor.extract(np.zeros((2, 3, size, size), dtype=np.uint8))

    started = time.perf_counter()
    decoded = sum(len(batch.indices) for batch in batches(paths, size, extractor.batch_size, workers))
    decode_s = time.perf_counter() - started

    def suggest_run() -> float:
        t0 = time.perf_counter()
        suggested = sum(len(results) for results in session.results())
        assert suggested == len(paths)
        return time.perf_counter() - t0

    first_s = suggest_run()
    cached_s = suggest_run()
    index.close()
    return {
        "photos": len(paths),
        "image_size": list(SIZE),
        "images": "examples/library photos upscaled bicubic to 12 MP, faint per-file noise, JPEG q90",
        "device": extractor.device,
        "gpu_decode": extractor.gpu_decoder.backend if extractor.gpu_decoder is not None else None,
        "backbone": args.backbone,
        "workers": workers,
        "batch_size": extractor.batch_size,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch else None,
        "gpu": torch.cuda.get_device_name(0) if torch and torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "torch": torch.__version__ if torch else None,
        "decoded": decoded,
        "decode_photos_per_s": round(decoded / decode_s, 2),
        "suggest_photos_per_s": round(len(paths) / first_s, 2),
        "suggest_to_decode_ratio": round((len(paths) / first_s) / (decoded / decode_s), 3),
        "cached_photos_per_s": round(len(paths) / cached_s, 2),
        "cached_speedup": round(first_s / cached_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=128, help="number of 12-MP JPEGs (default 128)")
    parser.add_argument(
        "--device", nargs="+", default=["auto", "onnx-int8"], choices=["auto", "cpu", "cuda", "onnx", "onnx-int8"]
    )
    parser.add_argument("--backbone", default="lite0", choices=["lite0", "lite2"])
    parser.add_argument("--workers", type=int, default=0, help="decode workers (0: what suggest would use)")
    parser.add_argument("--no-gpu-decode", action="store_true", help="on CUDA, decode JPEGs with the CPU workers too")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "bench_suggest.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_suggest-"))
    os.environ.setdefault("PHOTOTAG_DATA_DIR", str(work / "data"))
    os.environ.setdefault("PHOTOTAG_LOG_DIR", str(work / "logs"))
    try:
        library = work / "library"
        library.mkdir()
        started = time.perf_counter()
        paths = make_photos(library, args.count)
        print(
            f"made {len(paths)} JPEGs of {SIZE[0]}x{SIZE[1]} in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )

        runs = []
        for device in args.device:
            runs.append(measure(library, paths, device, args))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
        for figures in runs:
            print(
                f"device {figures['device']} ({figures['gpu'] or 'CPU'}), {figures['workers']} decode "
                f"workers, {len(paths)} photos of 12 MP"
            )
            print(f"  decode only       {figures['decode_photos_per_s']:10.1f} photos/s")
            print(f"  suggest (first)   {figures['suggest_photos_per_s']:10.1f} photos/s")
            print(f"  ratio             {figures['suggest_to_decode_ratio']:10.3f}   (goal >= 0.8)")
            print(
                f"  suggest (cached)  {figures['cached_photos_per_s']:10.1f} photos/s   "
                f"({figures['cached_speedup']}x the first run)"
            )
        print(f"wrote {args.output}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
