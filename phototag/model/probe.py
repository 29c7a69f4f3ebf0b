"""A linear probe: one logistic classifier per owner tag on pooled head features (fitted by phototag.train.probe).

The strongest single visual signal on a one-owner library (benchmarks/research/ranking: P@5 0.396 on Lite0,
as good as tuned kNN, and complementary to it in the blend); saved with the personal model. Applied in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PREFIX = "probe."
NAMES = ("mean", "scale", "weight", "bias")


def _array(tensor) -> np.ndarray:
    """float32 numpy from a torch tensor (finetune, a model loaded with safetensors.torch) or an array."""
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().float().cpu().numpy()
    return np.asarray(tensor, dtype=np.float32)


@dataclass
class Probe:
    mean: np.ndarray  # [D] standardisation of the inputs
    scale: np.ndarray  # [D]
    weight: np.ndarray  # [D, V]
    bias: np.ndarray  # [V]

    def __post_init__(self):
        for name in NAMES:
            setattr(self, name, _array(getattr(self, name)))

    def __call__(self, head: np.ndarray) -> np.ndarray:
        """Probabilities [N, V] from L2-normalised pooled head features [N, D]."""
        x = (np.asarray(head, dtype=np.float32) - self.mean) / self.scale
        logits = x @ self.weight + self.bias
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def tensors(self) -> dict:
        """The probe as torch tensors, to be saved with the personal model (finetune has PyTorch)."""
        import torch

        return {PREFIX + name: torch.from_numpy(np.ascontiguousarray(getattr(self, name))) for name in NAMES}

    @classmethod
    def from_tensors(cls, tensors: dict) -> "Probe | None":
        """The probe saved in a model's tensors, or None (models saved before probes existed)."""
        if PREFIX + "weight" not in tensors:
            return None
        return cls(*(tensors[PREFIX + name] for name in NAMES))
