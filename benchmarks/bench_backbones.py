"""Each backbone on each CPU device: trunk speed and agreement with the float PyTorch trunk.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_backbones.py

On the 8 photos of examples/library whose ImageNet class examples/sources.json names (decoded as suggest
decodes them), for Lite0 and Lite2 on `cpu` (PyTorch), `onnx` (onnxruntime float) and `onnx-int8` (the
packaged int8 graph): images/s of the trunk (two timed passes after a warm-up), feature cosine with the
PyTorch float trunk (mean, minimum) and how many photos the ImageNet head gets right from those features.
The int8 graphs were calibrated on these photos among others, so their agreement here is an optimistic figure.
Writes benchmarks/results/bench_backbones.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from phototag.imaging.pipeline import PhotoDataset  # noqa: E402
from phototag.model.backbone import load_backbone  # noqa: E402
from phototag.model.features import FeatureExtractor  # noqa: E402
from phototag.model.general import imagenet_names  # noqa: E402


def measure(name: str, photos: list[tuple[Path, list[str]]]) -> dict:
    model = load_backbone(name)
    size = model.spec.input_size
    images = torch.stack([torch.from_numpy(PhotoDataset([path], size)[0][1]) for path, _ in photos])
    with torch.inference_mode():
        exact = model.features(images)
    names, figures = imagenet_names(), {}
    for device in ("cpu", "onnx", "onnx-int8"):
        extractor = FeatureExtractor(name, device)
        extractor.extract(images[:2])  # warm-up
        start = time.perf_counter()
        for _ in range(2):
            features = torch.from_numpy(extractor.extract(images)).float()
        seconds = (time.perf_counter() - start) / 2
        cosine = torch.nn.functional.cosine_similarity(features.flatten(1), exact.flatten(1))
        with torch.inference_mode():
            top1 = model.imagenet_logits_from_features(features).argmax(1).tolist()
        right = sum(names[i] in expected for i, (_, expected) in zip(top1, photos))
        figures[device] = {
            "images_per_s": round(len(images) / seconds, 1),
            "cosine_mean": round(cosine.mean().item(), 4),
            "cosine_min": round(cosine.min().item(), 4),
            "imagenet_top1_right": right,
            "photos": len(photos),
        }
        print(f"{name:6} {device:10} {figures[device]}", flush=True)
    return figures


def main() -> None:
    torch.set_num_threads(1)
    sources = json.loads((REPO / "examples" / "sources.json").read_text(encoding="utf-8"))["photos"]
    photos = [(REPO / "examples" / "library" / p["file"], p["imagenet"]) for p in sources if p.get("imagenet")]
    results = {name: measure(name, photos) for name in ("lite0", "lite2")}
    out = REPO / "benchmarks" / "results" / "bench_backbones.json"
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
