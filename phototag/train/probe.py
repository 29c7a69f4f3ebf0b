"""Fitting the linear probe (phototag.model.probe) on the training photos' pooled head features."""

from __future__ import annotations

import numpy as np
import torch

from phototag.model.probe import Probe

L2 = 1e-3  # chosen on feedme-dev validation among 1e-4, 1e-3, 1e-2 (benchmarks/research/ranking/results.md)


def fit_probe(head: np.ndarray, labels: np.ndarray, l2: float = L2, iterations: int = 150) -> Probe:
    """Per-tag logistic regression (L-BFGS, L2 penalty), inputs standardised, biases starting at the tags' log-odds."""
    x = torch.as_tensor(head, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.float32)
    mean, scale = x.mean(0), x.std(0, unbiased=False) + 1e-6
    x = (x - mean) / scale
    frequency = ((y.sum(0) + 0.5) / (len(y) + 1)).clamp(1e-4, 1 - 1e-4)
    weight = torch.zeros(x.shape[1], y.shape[1], requires_grad=True)
    bias = torch.log(frequency / (1 - frequency)).clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [weight, bias], lr=1, max_iter=iterations, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weight + bias, y) + l2 * (weight * weight).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return Probe(mean, scale, weight.detach(), bias.detach())
