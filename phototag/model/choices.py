"""The model's user-facing choices, in a module that does not import torch, so the command line
can build its options (--backbone, --device) without paying for PyTorch at start-up."""

BACKBONES = ("lite0", "lite2")  # visual encoders (specs in phototag.model.backbone.SPECS)
DEVICES = ("auto", "cpu", "cuda", "onnx", "onnx-int8")  # where the backbone runs
