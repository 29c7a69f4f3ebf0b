"""The backbone's top after the cached trunk, in numpy: what suggest runs without PyTorch.

    readout = GeneralReadout("lite2")
    head = readout.head(maps)          # conv_head 1x1 + BN + ReLU6, global average pool -> [N, 1280]
    general = readout.general(head)    # ImageNet softmax summed over the classes under each general tag

The same arithmetic as phototag.model.altreco.GeneralReadout (PyTorch; finetune and export-onnx use it),
agreeing with it to 1e-5 (tests/model/test_readout.py). The weights are the backbone package's own, copied
into weights/backbone-<name>-top.safetensors by weights/build_packaged_model.py and checksummed in the
manifest, so suggest reads no torch pickle.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

BN_EPS = 1e-3  # TensorFlow EfficientNet-Lite's BatchNorm epsilon (timm's tf_ models use the same)


@lru_cache(maxsize=2)
def load_top(backbone: str) -> dict[str, np.ndarray]:
    """The top's float32 tensors (conv_head.weight, bn.*, classifier.*), sha256-checked; WeightsError when missing."""
    from safetensors.numpy import load_file

    from phototag.model.weights import WeightsError, manifest, packaged_path

    entry = manifest().get("backbones", {}).get(backbone, {}).get("top")
    if entry is None:
        raise WeightsError(f"no top of backbone {backbone} is packaged; reinstall phototag")
    return load_file(str(packaged_path(entry["file"])))


class GeneralReadout:
    """The packaged general tagger on cached trunk features: p(tag) = sum of softmax(ImageNet logits) over the
    ImageNet classes under the tag (`aggregation`: [V_g, 1000] 0/1, GeneralVocabulary.aggregation_matrix)."""

    def __init__(self, backbone: str, aggregation: np.ndarray):
        top = load_top(backbone)
        # BN in eval is x * scale + shift with scale = w / sqrt(var + eps), shift = b - mean * scale: folded into
        # the 1x1 convolution, which makes the whole stage one matrix product (~2x PyTorch's conv + BN on a CPU).
        scale = top["bn.weight"] / np.sqrt(top["bn.running_var"] + np.float32(BN_EPS))
        self.conv = np.ascontiguousarray(top["conv_head.weight"][:, :, 0, 0].T * scale)  # [C, 1280]
        self.shift = top["bn.bias"] - top["bn.running_mean"] * scale
        self.fc_weight = np.ascontiguousarray(top["classifier.weight"].T)  # [1280, 1000]
        self.fc_bias = top["classifier.bias"]
        self.aggregation = np.ascontiguousarray(np.asarray(aggregation, dtype=np.float32).T)  # [1000, V_g]

    @property
    def head_channels(self) -> int:
        return self.conv.shape[1]

    def head(self, maps: np.ndarray) -> np.ndarray:
        """Feature maps [N, C, H, W] -> pooled shared-stage output [N, 1280] (float32)."""
        n, c, h, w = maps.shape
        pixels = np.ascontiguousarray(np.asarray(maps, dtype=np.float32).reshape(n, c, h * w).transpose(0, 2, 1))
        x = pixels.reshape(n * h * w, c) @ self.conv
        x += self.shift
        np.clip(x, 0.0, 6.0, out=x)
        return x.reshape(n, h * w, -1).mean(axis=1)

    def general(self, head: np.ndarray) -> np.ndarray:
        """Pooled head features [N, 1280] -> general tag probabilities [N, V_g] in [0, 1]."""
        logits = head @ self.fc_weight + self.fc_bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return np.clip(probabilities @ self.aggregation, 0.0, 1.0)

    def __call__(self, maps: np.ndarray) -> np.ndarray:
        return self.general(self.head(maps))
