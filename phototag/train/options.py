"""What a training run is asked to do (TrainOptions) and what each epoch reports (EpochReport), without PyTorch.

`phototag eval` builds its configuration from these whether or not PyTorch is installed (without it, the rows that
train are left out); the training loop itself is phototag.train.finetune.
"""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("A1", "A2", "A6")  # paper, table VII; see phototag.train.finetune


@dataclass
class TrainOptions:
    variant: str = "A6"
    epochs: int = 40
    batch_size: int = 50  # the paper's
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # L_p, L_g, L_r, L_adv. The paper weighs all four equally; on the openclipart development
    # library, chosen on the validation split only, an adversarial weight of 0.1 beat 1.0
    # (validation P@5 0.516 vs 0.460; A2 without it: 0.510): with few photos per owner the
    # full-strength adversary pulls the shared features towards D's jitter (BENCHMARKS.md).
    loss_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 0.1)
    eta: float = 0.7
    iota: float = 0.3
    patience: int = 6  # epochs without a better validation P@5 before stopping
    feature_pool: int = 3  # heads read feature maps pooled to this size (0: full map); see PooledHeads
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}")
        self.loss_weights = tuple(float(w) for w in self.loss_weights)  # type: ignore[assignment]
        if len(self.loss_weights) != 4 or any(w < 0 for w in self.loss_weights):
            raise ValueError("four non-negative loss weights are needed: L_p, L_g, L_r, L_adv")

    @property
    def uses_history(self) -> bool:
        return self.variant != "A1"

    @property
    def adversarial(self) -> bool:
        return self.variant == "A6" and self.loss_weights[3] > 0

    def effective_weights(self) -> tuple[float, float, float, float]:
        a, b, c, d = self.loss_weights
        if self.variant == "A1":
            return (a, 0.0, 0.0, 0.0)
        if self.variant == "A2":
            return (a, b, c, 0.0)
        return (a, b, c, d)


@dataclass
class EpochReport:
    epoch: int  # 1-based
    losses: dict[str, float]
    val: dict[str, float]  # validation metrics (per photo)
    best: bool
    seconds: float
