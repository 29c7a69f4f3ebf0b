"""Backbone features: computing them on CPU, CUDA or onnxruntime, and caching them in the index.

The cache stores the trunk output (before conv_head) as float16, keyed by the
photo's content fingerprint and the backbone name (plus "+int8" for features of
the quantized graph, which differ slightly and are never mixed with float ones): Lite0 at 224 px is
320 x 7 x 7 x 2 bytes = 31 KB per photo, 4x less than after conv_head (1280
channels). Moved or renamed photos keep their features; a second `suggest` over
the same photos decodes nothing and runs no backbone.

Features are numpy arrays. PyTorch is imported only where it runs: `--device cpu` and `cuda`, exporting the
float graph of `--device onnx` once, and timing the two for Lite0's `--device auto`; onnxruntime runs the packaged
int8 graphs without it (what `--device auto` runs on a machine without CUDA, and without PyTorch for either
backbone).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from phototag.errors import PhototagError, optional_torch, require_torch
from phototag.fsio import atomic_write
from phototag.imaging.pipeline import batches, default_workers
from phototag.library import feature_store
from phototag.model.choices import CPU_AUTO_INT8, DEFAULT_BACKBONE, DEVICES, spec
from phototag.reporting import Reporter

INT8 = DEVICES[-1]  # "onnx-int8": onnxruntime with the packaged int8 trunk (weights/backbone-<name>-int8.onnx)


class DeviceUnavailable(PhototagError, RuntimeError):
    """The device asked for cannot run here (--device cuda without a CUDA device)."""


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA device."""
    torch = optional_torch()
    return torch is not None and torch.cuda.is_available()


def cache_key(backbone: str, int8: bool = False) -> str:
    s = spec(backbone)
    return f"{s.name}@{s.input_size}" + ("+int8" if int8 else "")


def int8_graph(backbone: str) -> Path:
    """The packaged int8 trunk of `backbone`, sha256-checked; WeightsError when none is packaged."""
    from phototag.model.weights import WeightsError, manifest, packaged_path

    entry = manifest()["backbones"].get(backbone, {}).get("int8")
    if entry is None:
        raise WeightsError(f"no int8 graph is packaged for backbone {backbone}; use --device onnx or cpu")
    return packaged_path(entry["file"])


def user_cache_dir() -> Path:
    from platformdirs import user_cache_path

    return Path(os.environ.get("PHOTOTAG_CACHE_DIR") or user_cache_path("phototag", appauthor=False))


def onnx_path(backbone: str) -> Path:
    """Where `phototag export-onnx` puts the backbone graph by default (and where suggest looks)."""
    from phototag.model.weights import manifest

    # The weights' hash in the name: a graph exported from other weights is never picked up.
    sha = manifest()["backbones"][backbone]["sha256"][:12]
    return user_cache_dir() / "onnx" / f"backbone-{backbone}-{sha}.onnx"


class FeatureExtractor:
    """Runs the frozen trunk on uint8 image batches; returns float16 CPU feature maps."""

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        device: str = "auto",
        *,
        batch_size: Optional[int] = None,
        gpu_decode: bool = True,
    ):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}")
        self.backbone = backbone
        self.spec = spec(backbone)
        # Built on first use: onnxruntime runs the trunk without them (timm and the PyTorch model cost ~250 MB).
        self._model = None
        self._top = None
        self.session = None
        if device == "auto":
            device = choose_device(backbone)
        if device in ("cpu", "cuda"):
            torch = require_torch(f"--device {device}")
            if device == "cuda" and not torch.cuda.is_available():
                raise DeviceUnavailable("--device cuda: no CUDA device is available to PyTorch")
        self.device = device
        if device == "cuda":
            self._model = self.model.to("cuda", memory_format=torch.channels_last)
        elif device == "onnx":
            self.session = onnx_session(backbone)  # (exporting the graph, the first time, builds the model)
        elif device == INT8:
            self.session = onnx_session(backbone, path=int8_graph(backbone))
        self.batch_size = batch_size or (64 if device == "cuda" else 16)
        # On the CPU the backbone, not decoding, is the bottleneck: leave it most cores, and keep
        # its threads off the decode workers' cores (oversubscribed threads spin and crawl).
        self.workers = default_workers() if device == "cuda" else cpu_decode_workers()
        self.gpu_decoder = None
        if device == "cuda" and gpu_decode:
            try:  # JPEGs decoded by nvJPEG/nvImageCodec; anything it refuses falls back to the CPU path
                from phototag.imaging.gpu import GpuDecoder

                self.gpu_decoder = GpuDecoder(self.spec.input_size, device="cuda")
            except Exception:  # noqa: BLE001 - no GPU decoder: the CPU workers decode everything
                self.gpu_decoder = None

    @property
    def model(self):
        """The PyTorch backbone (EfficientNetLite), built on first use (the cpu and cuda devices run their trunk
        with it)."""
        if self._model is None:
            require_torch("the PyTorch backbone")
            from phototag.model.backbone import load_backbone

            self._model = load_backbone(self.backbone)
        return self._model

    @property
    def top(self):
        """What follows the trunk in PyTorch (`.head`: conv_head + BN, `.classifier`): the heads' shared stage of
        finetune and eval's trained rows start from it. The built model's own, else read alone without timm.
        (suggest's general readout is numpy: phototag.model.evidence.general_readout.)"""
        if self._model is not None:
            return self._model
        if self._top is None:
            require_torch("training ALTReco heads")
            from phototag.model.backbone import BackboneTop

            self._top = BackboneTop(self.backbone)
        return self._top

    @property
    def key(self) -> str:
        return cache_key(self.backbone, int8=self.device == INT8)

    def extract(self, images) -> np.ndarray:
        """uint8 [B, 3, S, S] (a numpy array, or a torch tensor from the GPU decoder) -> float16 [B, C, s, s]."""
        if self.session is not None:
            if not isinstance(images, np.ndarray):
                images = images.cpu().numpy()
            (features,) = self.session.run(None, {"images": np.ascontiguousarray(images)})
            return features.astype(np.float16)
        import torch

        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        with torch.inference_mode():
            if self.device == "cuda":
                if images.device.type == "cpu":
                    images = images.pin_memory()  # so that the copy to the GPU runs asynchronously
                images = images.to("cuda", non_blocking=True).contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.float16):
                    features = self.model.features(images)
                return features.to(torch.float16).cpu().numpy()
            return self.model.features(images).to(torch.float16).numpy()


def extractor_for_model(
    meta: Optional[dict], backbone: str = DEFAULT_BACKBONE, device: str = "auto", gpu_decode: bool = True
) -> FeatureExtractor:
    """The extractor whose features a model reads: a personal model (its checkpoint `meta`) fixes the
    backbone, and when the device is auto and there is no GPU it gets the kind of features it learnt
    again, int8 or float (they differ slightly; the heads learnt one kind)."""
    if meta is not None:
        backbone = meta.get("backbone", backbone)
        if device == "auto" and not cuda_available():
            int8 = str(meta.get("features", "")).endswith("+int8")
            device = INT8 if int8 else timed_float_device(backbone)
    return FeatureExtractor(backbone, device, gpu_decode=gpu_decode)


def onnx_session(backbone: str, model=None, path: Optional[Path] = None):
    """An onnxruntime CPU session for the backbone graph, exporting it once when missing (with PyTorch)."""
    import onnxruntime as ort

    path = Path(path) if path else onnx_path(backbone)
    if not path.exists():
        require_torch("exporting the float backbone graph (--device onnx)")
        from phototag.model.backbone import load_backbone
        from phototag.model.onnx import export_backbone

        export_backbone(model or load_backbone(backbone), path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = backbone_threads()  # as for PyTorch: leave the decoders their cores
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cpu_decode_workers() -> int:
    """Decode workers when the backbone runs on the CPU: a third of the cores (decoding is ~5x cheaper)."""
    return max(1, default_workers() // 3)


def backbone_threads() -> int:
    """CPU threads for the backbone: the cores the decode workers leave free."""
    return max(1, default_workers() - cpu_decode_workers())


def _choice_file() -> Path:
    return user_cache_dir() / "device-choice.json"


def _machine_key(backbone: str, ort_version: str) -> str:
    import torch

    threads = min(torch.get_num_threads(), backbone_threads())
    return f"{backbone}|torch {torch.__version__}|ort {ort_version}|cpus {default_workers()}|threads {threads}"


def _remembered_choices() -> dict:
    try:
        return json.loads(_choice_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def will_measure(backbone: str, meta: Optional[dict] = None) -> bool:
    """Whether device auto will export and time the backbone first (to tell the person why it waits); `meta`: the
    personal model's, whose kind of features (int8 or float) decides as in extractor_for_model."""
    if optional_torch() is None or cuda_available():
        return False
    features = (meta or {}).get("features")
    if str(features).endswith("+int8") if features else auto_int8(backbone):
        return False
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return _machine_key(backbone, ort.__version__) not in _remembered_choices()


def auto_int8(backbone: str) -> bool:
    """Whether `--device auto` without CUDA runs `backbone`'s packaged int8 graph (CPU_AUTO_INT8)."""
    from phototag.model.weights import manifest

    return backbone in CPU_AUTO_INT8 and "int8" in manifest()["backbones"].get(backbone, {})


def choose_device(backbone: str, model=None) -> str:
    """auto: CUDA when available; else the packaged int8 graph for the backbones of CPU_AUTO_INT8 (and for every
    backbone without PyTorch), else whichever of PyTorch and onnxruntime float is faster on this machine
    (timed_float_device)."""
    if cuda_available():
        return "cuda"
    if auto_int8(backbone) or optional_torch() is None:
        return INT8
    return timed_float_device(backbone, model)


def timed_float_device(backbone: str, model=None) -> str:
    """Whichever of PyTorch ("cpu") and onnxruntime float ("onnx") runs the trunk faster on this machine.

    The first time (per backbone, library versions, CPU and thread count) the backbone graph is
    exported to the user cache (a few seconds) and both are timed on one batch; the choice is
    remembered in device-choice.json beside it."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "cpu"
    torch = require_torch("--device auto for a float backbone")
    from phototag.model.backbone import load_backbone

    path = onnx_path(backbone)
    threads = min(torch.get_num_threads(), backbone_threads())
    machine = _machine_key(backbone, ort.__version__)
    choices = _remembered_choices()
    if machine in choices:
        return choices[machine]["device"]
    model = model or load_backbone(backbone)
    try:
        session = onnx_session(backbone, model, path)
    except Exception:  # noqa: BLE001 - an export/runtime problem only means: use PyTorch
        return "cpu"
    images = torch.randint(0, 256, (8, 3, spec(backbone).input_size, spec(backbone).input_size), dtype=torch.uint8)
    timings = {}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # time PyTorch as it would run
    try:
        with torch.inference_mode():
            for name, run in (
                ("cpu", lambda: model.features(images)),
                ("onnx", lambda: session.run(None, {"images": images.numpy()})),
            ):
                run()  # warm-up
                start = time.perf_counter()
                for _ in range(2):
                    run()
                timings[name] = (time.perf_counter() - start) / 2
    finally:
        torch.set_num_threads(previous)
    device = "onnx" if timings["onnx"] < timings["cpu"] else "cpu"
    choices[machine] = {"device": device, "seconds_per_8": timings}
    choices_path = _choice_file()
    try:
        choices_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(choices_path, json.dumps(choices, indent=1).encode("utf-8"))
    except OSError:
        pass  # a read-only cache only costs a re-measurement next time
    return device


# ----------------------------------------------------------------- the cache
def load_cached(
    index, fingerprints: Sequence[str], key: str, warn: Optional[Callable[[str], None]] = None
) -> dict[str, np.ndarray]:
    """Cached features: the index's, then those a Ray cluster wrote beside it (feature_store.get_many)."""
    return feature_store.get_many(index, fingerprints, key, warn)


def store(index, features: dict[str, np.ndarray], key: str) -> None:
    feature_store.put_many(index, {fp: np.asarray(a, dtype=np.float16) for fp, a in features.items()}, key)


def _by_fingerprint(photos: Sequence, reporter: Optional[Reporter]) -> dict[str, object]:
    """One photo per content fingerprint (computed where the index has none); unreadable photos are skipped."""
    from phototag.library.index import fingerprint_file

    by_fingerprint: dict[str, object] = {}
    for photo in photos:
        fingerprint = photo.fingerprint
        if not fingerprint:
            try:
                fingerprint = photo.fingerprint = fingerprint_file(photo.path)
            except OSError as error:
                if reporter is not None:
                    reporter.skip(photo.path, f"cannot read: {error.strerror or error}")
                continue
        by_fingerprint.setdefault(fingerprint, photo)
    return by_fingerprint


def cached_features(
    index,
    photos: Sequence,
    extractor: FeatureExtractor,
    reporter: Optional[Reporter] = None,
    advance: Callable[[int], None] = lambda n: None,
    workers: Optional[int] = None,
) -> dict[str, np.ndarray]:
    """Features for `photos` (index PhotoRows), keyed by fingerprint: cached ones from the index,
    missing ones computed in batches and stored. Photos that fail to decode are reported through
    `reporter.skip` and left out of the result. `advance` counts photos done (copies included)."""
    by_fingerprint = _by_fingerprint(photos, reporter)
    result = load_cached(index, list(by_fingerprint), extractor.key, reporter.warn if reporter is not None else None)
    advance(sum(1 for p in photos if p.fingerprint in result))
    missing = [fp for fp in by_fingerprint if fp not in result]
    if missing:
        copies: dict[str, int] = {}
        for photo in photos:
            if photo.fingerprint in by_fingerprint:
                copies[photo.fingerprint] = copies.get(photo.fingerprint, 0) + 1
        paths = [by_fingerprint[fp].path for fp in missing]
        result.update(
            _compute(
                index, paths, missing, extractor, reporter, workers, lambda fps: advance(sum(copies[fp] for fp in fps))
            )
        )
    return result


def _compute(
    index, paths, fingerprints, extractor, reporter, workers, done: Callable[[list[str]], None]
) -> dict[str, np.ndarray]:
    """Decode `paths` and run the backbone in batches, storing each batch; features by fingerprint."""
    computed: dict[str, np.ndarray] = {}
    workers = extractor.workers if workers is None else workers
    torch = optional_torch() if extractor.device == "cpu" else None
    if torch is not None:  # only while decoding runs beside it; callers keep their setting
        previous = torch.get_num_threads()
        torch.set_num_threads(min(previous, backbone_threads()))
    try:
        for batch in batches(
            paths,
            extractor.spec.input_size,
            extractor.batch_size,
            workers,
            gpu_decoder=getattr(extractor, "gpu_decoder", None),
        ):
            for position, reason in batch.failed:
                if reporter is not None:
                    reporter.skip(paths[position], reason)
                done([fingerprints[position]])
            if not batch.indices:
                continue
            features = extractor.extract(batch.images)
            fresh = {fingerprints[i]: features[j] for j, i in enumerate(batch.indices)}
            store(index, fresh, extractor.key)
            computed.update(fresh)
            done(list(fresh))
    finally:
        if torch is not None:
            torch.set_num_threads(previous)
    return computed


def library_features(
    index, photos: Sequence, backbone: str, device: str, reporter: Reporter
) -> tuple[dict[str, np.ndarray], FeatureExtractor]:
    """Cached features of `photos` with a "Backbone features" progress task, and the extractor that made them.

    Raises WeightsError (damaged package, no int8 graph) or DeviceUnavailable."""
    extractor = FeatureExtractor(backbone=backbone, device=device)
    with reporter.progress("Backbone features", len(photos), unit="photos") as task:
        features = cached_features(index, photos, extractor, reporter, advance=task.advance)
        task.completed(len(photos))
    return features, extractor
