"""The model's user-facing choices, in a module that does not import torch, so the command line
can build its options (--backbone, --device) without paying for PyTorch at start-up."""

BACKBONES = ("lite0", "lite2")  # visual encoders (specs in phototag.model.backbone.SPECS)
# The default encoder, chosen by measurement (BENCHMARKS.md "Choosing the backbone", issue 21): Lite2 through its
# packaged int8 graph beats Lite0 on both development libraries and keeps up with decoding on a CPU as well.
DEFAULT_BACKBONE = "lite2"
# Backbones whose `--device auto` on a machine without CUDA is the packaged int8 graph: Lite2's float trunk is too
# slow to keep up with decoding on a CPU (suggest about 0.4x decode) and its int8 graph lost nothing measurable.
# Lite0 keeps the faster of PyTorch and onnxruntime float, as measured before int8 was packaged.
CPU_AUTO_INT8 = frozenset({"lite2"})
DEVICES = ("auto", "cpu", "cuda", "onnx", "onnx-int8")  # where the backbone runs
