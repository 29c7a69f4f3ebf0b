#!/usr/bin/env python
"""Decode throughput on a set of 12-MP JPEGs: full decode vs draft (DCT-scaled) decode, on all cores.

    python benchmarks/bench_decode.py [--count 48] [--dir DIR] [--source PHOTO.jpg] [--workers N]

The image set (made once, reused from --dir): 4032x3024 JPEGs at quality 90, one in four
with EXIF orientation 6 (a phone held upright). Their content is a photo-like texture with a
natural-image power spectrum (amplitude ~ 1/f, correlated colour channels) made at 1/4 size,
upscaled with bicubic filtering, plus per-pixel sensor grain, which gives ~3.3-3.6 MB per
file: the entropy of a real 12-MP phone JPEG, so the entropy decoder does realistic work.
With --source, a real photo is used instead (each copy cropped/shifted differently, upscaled
to 12 MP, grain added). `make_jpeg_set` is shared with bench_suggest.py (same set).

Both modes produce what the model needs, a 224x224 RGB array, in worker processes:
  full:  Image.open -> load (full 12-MP decode) -> exif_transpose (in place) -> centre square -> one resize
  draft: phototag.imaging.decode.load_rgb(path, 224, square=True) (DCT scaling, one resize)
On a CUDA machine it also measures torchvision nvJPEG batched decode, the GpuDecoder
(nvJPEG or nvImageCodec + GPU orientation + batched resize), and the combined limit with the
GPU decoder and the CPU draft path running at the same time on disjoint parts of the set.

Figures are printed and written to benchmarks/results/bench_decode.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phototag.imaging.decode import fit_square, load_rgb  # noqa: E402

WIDTH, HEIGHT, QUALITY, TARGET = 4032, 3024, 90, 224
SET_VERSION = 1


# ---- the image set -----------------------------------------------------------------------------


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Photo-like colour texture: amplitude spectrum ~ 1/f, channels sharing one luminance field."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0

    def field() -> np.ndarray:
        spectrum = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) / f
        values = np.fft.irfft2(spectrum, s=(height, width))
        return (values - values.mean()) / values.std()

    luminance = field()
    rgb = np.stack([luminance + 0.35 * field() for _ in range(3)], axis=-1)
    return np.clip(128 + 45 * rgb, 0, 255).astype(np.uint8)


def _make_one(args: tuple[Path, int, str | None]) -> int:
    path, seed, source = args
    rng = np.random.default_rng(seed)
    if source:
        with Image.open(source) as photo:
            photo = ImageOps.exif_transpose(photo.convert("RGB"))
            # a different 90% crop of the photo per image, so files are not identical
            w, h = photo.size
            left, top = int(rng.integers(0, w // 10 + 1)), int(rng.integers(0, h // 10 + 1))
            small = np.asarray(photo.crop((left, top, left + int(w * 0.9), top + int(h * 0.9))))
    else:
        small = _texture(rng, WIDTH // 4, HEIGHT // 4)
    big = np.asarray(Image.fromarray(small).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float32)
    big += rng.standard_normal(big.shape, dtype=np.float32) * 3.0  # sensor grain
    image = Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    if seed % 4 == 3:  # a portrait shot: pixels stored landscape, EXIF says rotate 90 degrees clockwise
        exif[0x0112] = 6
    image.save(path, "JPEG", quality=QUALITY, exif=exif.tobytes())
    return path.stat().st_size


def make_jpeg_set(folder: Path, count: int, *, source: Path | None = None, workers: int | None = None) -> list[Path]:
    """`count` 12-MP JPEGs in `folder` (made once; reused when the folder already holds this set)."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = {
        "version": SET_VERSION,
        "width": WIDTH,
        "height": HEIGHT,
        "quality": QUALITY,
        "source": str(source) if source else "synthetic",
    }
    marker = folder / "set.json"
    paths = [folder / f"photo_{index:04d}.jpg" for index in range(count)]
    known = json.loads(marker.read_text()) if marker.exists() else {}
    if known.get("recipe") != recipe:
        known = {"recipe": recipe, "count": 0}
    missing = [
        (path, index, str(source) if source else None)
        for index, path in enumerate(paths)
        if index >= known["count"] or not path.exists()
    ]
    if missing:
        print(f"making {len(missing)} 12-MP JPEGs in {folder} ...", flush=True)
        with ProcessPoolExecutor(workers or os.cpu_count()) as pool:
            list(pool.map(_make_one, missing, chunksize=1))
        marker.write_text(json.dumps({"recipe": recipe, "count": max(count, known["count"])}))
    return paths


# ---- CPU decoding ------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def decode_full(path: Path) -> tuple[np.ndarray, float]:
    with Image.open(path) as image:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # no copies beyond what the baseline needs
        return np.asarray(fit_square(image, TARGET)), _peak_rss_mb()


def decode_draft(path: Path) -> tuple[np.ndarray, float]:
    return np.asarray(load_rgb(path, TARGET, square=True)), _peak_rss_mb()


def _warm(_: object = None) -> float:
    time.sleep(0.2)  # long enough that every worker process gets started (and imports) before timing
    return _peak_rss_mb()


def measure_cpu(functions: dict, paths: list[Path], workers: int, repeat: int) -> dict[str, dict]:
    """Timed passes of every mode over the whole set, modes alternating (so a change in the load of
    a shared machine hits them alike); the best pass of each mode is kept."""
    best = {name: float("inf") for name in functions}
    peak = {name: 0.0 for name in functions}
    for name, function in functions.items():  # peak RSS: an untimed pass per mode in fresh workers
        with ProcessPoolExecutor(workers) as pool:
            peak[name] = max(rss for _, rss in pool.map(function, paths[: 4 * workers], chunksize=1))
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_warm, range(workers)))
        for _ in range(repeat):
            for name, function in functions.items():
                start = time.perf_counter()
                for array, _ in pool.map(function, paths, chunksize=2):
                    assert array.shape == (TARGET, TARGET, 3)
                best[name] = min(best[name], time.perf_counter() - start)
    return {
        name: {
            "seconds": round(best[name], 3),
            "img_per_s": round(len(paths) / best[name], 2),
            "worker_peak_rss_mb": round(peak[name], 1),
        }
        for name in functions
    }


# ---- GPU decoding (CUDA machines only) ---------------------------------------------------------


def measure_gpu(paths: list[Path], workers: int, batch: int, cpu_draft_rate: float) -> dict:
    import torch

    from phototag.imaging.gpu import GpuDecoder, nvimgcodec_available

    result: dict = {"device_name": torch.cuda.get_device_name(0), "batch": batch}
    datas = [path.read_bytes() for path in paths]

    from torchvision.io import ImageReadMode, decode_jpeg

    tensors = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in datas]
    decode_jpeg(tensors[:batch], mode=ImageReadMode.RGB, device="cuda")  # warm-up (nvJPEG handles)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for first in range(0, len(tensors), batch):
        decode_jpeg(tensors[first : first + batch], mode=ImageReadMode.RGB, device="cuda")
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result["nvjpeg_decode_only_img_per_s"] = round(len(paths) / seconds, 1)

    backends = ["torchvision"] + (["nvimgcodec"] if nvimgcodec_available() else [])
    if "nvimgcodec" not in backends:
        result["nvimgcodec"] = "not installed (pip install 'phototag[gpu]')"
    rates = {}
    for backend in backends:
        decoder = GpuDecoder(TARGET, backend=backend)
        decoder.decode(paths[:batch])  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        on_gpu = 0
        for first in range(0, len(paths), batch):
            on_gpu += decoder.decode(paths[first : first + batch]).on_gpu
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rates[backend] = len(paths) / seconds
        result[f"gpu_decoder_{backend}_img_per_s"] = round(rates[backend], 1)
        result[f"gpu_decoder_{backend}_on_gpu"] = on_gpu

    # Combined limit: the best GPU decoder and the CPU draft path at once, on disjoint shares of the
    # set sized by their separate rates; the wall time of the slower side sets the rate.
    backend = max(rates, key=rates.get)
    gpu_share = round(len(paths) * rates[backend] / (rates[backend] + cpu_draft_rate))
    gpu_paths, cpu_paths = paths[:gpu_share], paths[gpu_share:]
    decoder = GpuDecoder(TARGET, backend=backend)
    finished: dict[str, float] = {}

    def gpu_side() -> None:
        for first in range(0, len(gpu_paths), batch):
            decoder.decode(gpu_paths[first : first + batch])
        torch.cuda.synchronize()
        finished["gpu"] = time.perf_counter()

    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_warm, range(workers)))
        start = time.perf_counter()
        thread = threading.Thread(target=gpu_side)
        thread.start()
        list(pool.map(decode_draft, cpu_paths, chunksize=2))
        finished["cpu"] = time.perf_counter()
        thread.join()
    seconds = max(finished.values()) - start
    result["combined"] = {
        "gpu_backend": backend,
        "gpu_images": len(gpu_paths),
        "cpu_images": len(cpu_paths),
        "img_per_s": round(len(paths) / seconds, 1),
    }
    result["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


# ---- main --------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=48, help="number of 12-MP JPEGs (default 48)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "phototag-bench-jpeg12mp")
    parser.add_argument("--source", type=Path, help="a real photo to build the set from (default: synthetic)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes (default: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per mode; the best is kept")
    parser.add_argument("--gpu-batch", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_decode.json")
    args = parser.parse_args()

    paths = make_jpeg_set(args.dir, args.count, source=args.source, workers=args.workers)
    sizes = [path.stat().st_size for path in paths]
    print(
        f"{len(paths)} JPEGs {WIDTH}x{HEIGHT} q{QUALITY}, mean {np.mean(sizes) / 1e6:.2f} MB, "
        f"{args.workers} worker processes on {os.cpu_count()} cores ({_cpu_model()})"
    )

    load_before = os.getloadavg()[0]
    cpu = measure_cpu({"full": decode_full, "draft": decode_draft}, paths, args.workers, args.repeat)
    full, draft = cpu["full"], cpu["draft"]
    print(f"full decode  + resize: {full['img_per_s']:8.1f} img/s   worker peak RSS {full['worker_peak_rss_mb']} MB")
    print(f"draft decode + resize: {draft['img_per_s']:8.1f} img/s   worker peak RSS {draft['worker_peak_rss_mb']} MB")
    ratio = draft["img_per_s"] / full["img_per_s"]
    print(f"draft / full: {ratio:.2f}x")

    parent_rss = _peak_rss_mb()  # before torch is imported for the CUDA check
    gpu: dict
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda:
        gpu = measure_gpu(paths, args.workers, args.gpu_batch, draft["img_per_s"])
        for key, value in gpu.items():
            print(f"gpu {key}: {value}")
    else:
        gpu = {"skipped": "no CUDA device"}
        print("GPU: skipped (no CUDA device on this machine)")

    record = {
        "benchmark": "bench_decode",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "workers": args.workers,
            "gpu": gpu.get("device_name") if cuda else None,
        },
        "images": {
            "count": len(paths),
            "width": WIDTH,
            "height": HEIGHT,
            "quality": QUALITY,
            "mean_bytes": int(np.mean(sizes)),
            "source": str(args.source) if args.source else "synthetic 1/f texture + grain",
            "exif_orientation_6_share": 0.25,
        },
        "target": TARGET,
        "cpu": {
            "full": full,
            "draft": draft,
            "ratio_draft_over_full": round(ratio, 2),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "gpu": gpu,
        "parent_peak_rss_mb_cpu_part": round(parent_rss, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
