"""Use case: export the inference graphs for onnxruntime (`phototag export-onnx`; used by `suggest --device
onnx|auto`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from phototag.model.altreco import GeneralReadout
from phototag.model.backbone import load_backbone
from phototag.model.features import onnx_path
from phototag.model.general import packaged_vocabulary
from phototag.model.onnx import _Probabilities, export_backbone, export_general, export_personal, max_abs_difference
from phototag.model.recommend import pool_for
from phototag.model.weights import model_id

TOLERANCE = 1e-4  # largest |onnxruntime - torch| of a graph that is kept


def export_graphs(
    backbone: str, folder: Optional[Path] = None, personal=None, check: bool = True
) -> list[tuple[Path, Optional[float]]]:
    """Export the backbone (images -> features), the general heads and, given a personal model
    (phototag.model.checkpoint.LoadedModel), its heads (features -> tag probabilities).

    Returns (graph, max |onnxruntime - torch| on random inputs, or None without `check`) per graph.
    Default folder: phototag's cache, where suggest looks. Raises WeightsError for unusable weights."""
    model = load_backbone(backbone)
    folder = folder or onnx_path(backbone).parent
    spec = model.spec
    feature_shape = (spec.feature_channels, spec.feature_size, spec.feature_size)
    size = spec.input_size
    exported: list[tuple[Path, Optional[float]]] = []

    path = export_backbone(model, folder / onnx_path(backbone).name)
    images = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
    exported.append((path, max_abs_difference(path, model.trunk, {"images": images}) if check else None))

    readout = GeneralReadout(model.head, model.classifier, packaged_vocabulary().aggregation_matrix()).eval()
    path = export_general(readout, feature_shape, folder / f"heads-{model_id()}-{backbone}.onnx")
    features = torch.rand(2, *feature_shape) * 4
    exported.append((path, max_abs_difference(path, readout, {"features": features}) if check else None))

    if personal is not None:
        heads = personal.build("cpu")
        vocab = len(personal.vocabulary)
        # The graph takes features pooled as the model was trained (`feature_pool`), done before it.
        pooled_shape = tuple(pool_for(personal, torch.zeros(1, *feature_shape)).shape[1:])
        path = export_personal(heads, pooled_shape, vocab, folder / f"heads-personal-{personal.id}.onnx")
        inputs = {"features": torch.rand(2, *pooled_shape) * 4, "history": torch.rand(2, vocab)}
        exported.append((path, max_abs_difference(path, _Probabilities(heads).eval(), inputs) if check else None))
    return exported
