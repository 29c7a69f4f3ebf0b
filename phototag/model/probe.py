"""A linear probe: one logistic classifier per owner tag on pooled head features (fitted by phototag.train.probe).

The strongest single visual signal on a one-owner library (benchmarks/research/ranking: P@5 0.396 on Lite0,
as good as tuned kNN, and complementary to it in the blend); saved with the personal model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PREFIX = "probe."


@dataclass
class Probe:
    mean: torch.Tensor  # [D] standardisation of the inputs
    scale: torch.Tensor  # [D]
    weight: torch.Tensor  # [D, V]
    bias: torch.Tensor  # [V]

    @torch.inference_mode()
    def __call__(self, head: np.ndarray) -> np.ndarray:
        """Probabilities [N, V] from L2-normalised pooled head features [N, D]."""
        x = (torch.as_tensor(head, dtype=torch.float32) - self.mean) / self.scale
        return torch.sigmoid(x @ self.weight + self.bias).double().numpy()

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            PREFIX + name: getattr(self, name).detach().float().contiguous()
            for name in ("mean", "scale", "weight", "bias")
        }

    @classmethod
    def from_tensors(cls, tensors: dict) -> "Probe | None":
        """The probe saved in a model's tensors, or None (models saved before probes existed)."""
        if PREFIX + "weight" not in tensors:
            return None
        return cls(*(tensors[PREFIX + name].float() for name in ("mean", "scale", "weight", "bias")))
