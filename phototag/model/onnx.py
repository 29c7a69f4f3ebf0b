"""Export the inference graph to ONNX for onnxruntime on CPU.

Two graphs, split where the feature cache sits:
  backbone-<name>.onnx: images uint8 [B, 3, S, S] -> features float32 [B, C, s, s]
  heads-<model>.onnx:   features [B, C, s, s] (+ history [B, V] for a personal model)
                        -> tag probabilities [B, V]
Both have a dynamic batch dimension. `check_parity` compares onnxruntime with
PyTorch on the same inputs (tests require agreement to 1e-4).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

OPSET = 17


class _Probabilities(nn.Module):
    """Personal ALTReco heads as one graph: sigmoid of C's logits."""

    def __init__(self, heads: nn.Module):
        super().__init__()
        self.heads = heads

    def forward(self, features: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.heads(features, history).personal_logits)


def _export(module: nn.Module, args: tuple, path: Path, input_names: list[str], output_names: list[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    dynamic = {name: {0: "batch"} for name in input_names + output_names}
    module = module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(tmp),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    os.replace(tmp, path)  # never leave a half-written graph where suggest would pick it up
    return path


class _Trunk(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.trunk = backbone.trunk

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)


def export_backbone(backbone, path: Path, batch: int = 2) -> Path:
    size = backbone.spec.input_size
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    return _export(_Trunk(backbone), (images,), path, ["images"], ["features"])


def export_general(readout: nn.Module, feature_shape: tuple[int, int, int], path: Path) -> Path:
    features = torch.rand(2, *feature_shape) * 4
    return _export(readout, (features,), path, ["features"], ["probabilities"])


def export_personal(heads: nn.Module, feature_shape: tuple[int, int, int], vocab_size: int, path: Path) -> Path:
    features = torch.rand(2, *feature_shape) * 4
    history = torch.rand(2, vocab_size)
    return _export(_Probabilities(heads), (features, history), path, ["features", "history"], ["probabilities"])


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_abs_difference(path: Path, module: nn.Module, inputs: dict[str, torch.Tensor]) -> float:
    """Largest |onnxruntime - PyTorch| over the outputs for the given named inputs."""
    ort_out = session(path).run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.inference_mode():
        torch_out = module(*inputs.values())
    if isinstance(torch_out, tuple):
        torch_out = torch_out[0]
    return float(np.abs(ort_out - torch_out.float().numpy()).max())
