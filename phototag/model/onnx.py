"""Export the inference graph to ONNX for onnxruntime on CPU.

Two graphs, split where the feature cache sits:
  backbone-<name>.onnx: images uint8 [B, 3, S, S] -> features float32 [B, C, s, s]
  heads-<model>.onnx:   features [B, C, s, s] (+ history [B, V] for a personal model)
                        -> tag probabilities [B, V]
Both have a dynamic batch dimension. `check_parity` compares onnxruntime with
PyTorch on the same inputs (tests require agreement to 1e-4).

The backbone graph is exported for its one input size: timm's TensorFlow-style
"same" padding (asymmetric on stride-2 convolutions) is computed from the input
shape at run time, which leaves shape arithmetic in the graph that onnxruntime's
quantizer cannot handle. `static_padding` replaces it with the fixed padding
the input size implies; the outputs are bit-identical.

`quantize_backbone` makes the int8 graph shipped in weights/ (see
weights/build_packaged_model.py and the model card): static quantization,
per-channel int8 weights, uint8 activations calibrated on real photos, 7-bit
range (`reduce_range`) because CPUs without VNNI saturate 8-bit products.
"""

from __future__ import annotations

import copy
import io
import math
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from phototag.fsio import atomic_write

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
    graph = io.BytesIO()
    dynamic = {name: {0: "batch"} for name in input_names + output_names}
    module = module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            graph,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    atomic_write(path, graph.getvalue())  # never leave a half-written graph where suggest would pick it up
    return path


class _Trunk(nn.Module):
    def __init__(self, trunk: nn.Module):
        super().__init__()
        self.trunk = trunk

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)


def static_padding(trunk: nn.Module, size: int) -> nn.Module:
    """A copy of `trunk` whose "same"-padded convolutions pad by constants for `size` x `size` inputs."""
    from timm.layers import Conv2dSame

    trunk = copy.deepcopy(trunk)
    inputs: dict[str, torch.Size] = {}
    hooks = [
        module.register_forward_pre_hook(lambda m, args, name=name: inputs.__setitem__(name, args[0].shape[-2:]))
        for name, module in trunk.named_modules()
        if isinstance(module, Conv2dSame)
    ]
    with torch.no_grad():
        trunk(torch.zeros(1, 3, size, size, dtype=torch.uint8))
    for hook in hooks:
        hook.remove()
    for name, conv in list(trunk.named_modules()):
        if not isinstance(conv, Conv2dSame):
            continue
        padding = []
        for dim in (1, 0):  # ZeroPad2d takes (left, right, top, bottom)
            length, kernel, stride, dilation = (
                inputs[name][dim],
                conv.kernel_size[dim],
                conv.stride[dim],
                conv.dilation[dim],
            )
            total = max((math.ceil(length / stride) - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
            padding += [total // 2, total - total // 2]  # TensorFlow puts the odd pixel after
        plain = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            0,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
        )
        plain.load_state_dict(conv.state_dict())
        parent_name, _, child = name.rpartition(".")
        setattr(
            trunk.get_submodule(parent_name) if parent_name else trunk,
            child,
            nn.Sequential(nn.ZeroPad2d(padding), plain),
        )
    return trunk.eval()


def export_backbone(backbone, path: Path, batch: int = 2) -> Path:
    size = backbone.spec.input_size
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    return _export(_Trunk(static_padding(backbone.trunk, size)), (images,), path, ["images"], ["features"])


def quantize_backbone(float_graph: Path, path: Path, calibration: Iterable[np.ndarray]) -> Path:
    """Static int8 quantization of an exported backbone graph (needs the `onnx` package).

    `calibration`: uint8 image arrays [3, S, S] whose activations set the int8 ranges."""
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            image = next(self.items, None)
            return None if image is None else {"images": image[None]}

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quantized = Path(scratch) / "quantized.onnx"
        quant_pre_process(str(float_graph), str(prepared))  # shape inference + BN folding first
        quantize_static(
            str(prepared),
            str(quantized),
            Reader(),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        atomic_write(path, quantized.read_bytes())  # never leave a half-written graph where it would be picked up
    return path


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
