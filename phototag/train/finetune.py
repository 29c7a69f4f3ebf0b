"""The ALTReco training loop over cached backbone features: joint + adversarial, early stopping, resumable.

One training step (paper, IV-A and IV-B; D and the rest alternate every step):
  1. D step: D learns to tell jittered real tag vectors (eta=0.7, iota=0.3) from
     G's predicted tag probabilities (detached).
  2. Rest step: L_t = a*L_p (C, BCE) + b*L_g (G, BCE) + c*L_r (U_E/U_D, Huber)
     + d*L_adv (G tries to make D answer "real"); equal weights by default.
D's optimiser only ever steps D; the rest's optimiser never steps D.

Variants (paper, table VII): "A6" full model; "A2" preference + joint training,
no adversarial loss; "A1" visual only (no history, classifier loss only). "A4"
is A6 evaluated with an all-zero history (cold start): see `predict`.

Reproducible: the seed fixes weight initialisation, batch order and jitter.
Resumable: after each epoch the model, both optimisers, the epoch, the early
stopping state and the random generators are written atomically
(`phototag.model.checkpoint.save_resume_state`); a resumed run continues
exactly where the saved epoch ended.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from phototag.metrics import evaluate_scores
from phototag.model.altreco import (
    ALTReco,
    Discriminator,
    PooledHeads,
    jitter_tags,
    personal_kwargs,
    reconstruction_loss,
)
from phototag.train.data import Examples
from phototag.train.options import EpochReport, TrainOptions  # defined without PyTorch (eval needs them so)


@dataclass
class TrainResult:
    model: torch.nn.Module
    best_epoch: int
    best_val: dict[str, float]
    epochs_run: int
    reports: list[EpochReport] = field(default_factory=list)
    resumed_from: Optional[int] = None
    seconds: float = 0.0


ResumeSaver = Callable[[dict[str, Any]], None]


def signature(train: Examples, val: Examples, options: TrainOptions, vocabulary: list[str]) -> str:
    """What a resumable state belongs to: same photos (by content), same tags, same vocabulary, same training
    options."""
    digest = hashlib.sha256()
    # How long to train may change between the interrupted run and its resumption; what is learnt may not.
    learnt = {k: v for k, v in asdict(options).items() if k not in ("epochs", "patience")}
    digest.update(json.dumps(learnt, sort_keys=True).encode())
    digest.update(json.dumps(vocabulary, ensure_ascii=False).encode())
    for part in (train, val):
        digest.update(b"|")
        for photo, truth in zip(part.photos, part.truths):
            digest.update(f"{photo.fingerprint}:{sorted(truth)};".encode())
        digest.update(part.histories.tobytes())
    return digest.hexdigest()


@dataclass
class Tensors:
    """An Examples' arrays as the heads read them: torch tensors over the same memory (no copy)."""

    features: torch.Tensor
    labels: torch.Tensor
    histories: torch.Tensor

    @classmethod
    def of(cls, examples: Examples) -> "Tensors":
        if examples.features is None:
            raise ValueError("these examples were built without feature maps: nothing to train or predict on")
        arrays = (examples.features, examples.labels, examples.histories)
        return cls(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))

    def __len__(self) -> int:
        return len(self.labels)


@torch.no_grad()
def predict(model: torch.nn.Module, examples: Examples, use_history: bool = True, batch_size: int = 256) -> np.ndarray:
    """Personal tag probabilities [N, V]; without history the user-preference input is all zeros (cold start)."""
    model.eval()
    if not len(examples):
        return np.zeros((0, examples.labels.shape[1]), dtype=np.float32)
    tensors = Tensors.of(examples)
    out = []
    for start in range(0, len(tensors), batch_size):
        features = tensors.features[start : start + batch_size].float()
        history = tensors.histories[start : start + batch_size]
        if not use_history:
            history = torch.zeros_like(history)
        out.append(torch.sigmoid(model(features, history).personal_logits))
    return torch.cat(out).numpy()


def validation_metrics(
    model: torch.nn.Module, val: Examples, options: TrainOptions, vocabulary: list[str]
) -> dict[str, float]:
    keep = [i for i, truth in enumerate(val.truths) if truth]
    if not keep:
        return {}
    part = val.subset(keep)
    scores = predict(model, part, use_history=options.uses_history)
    evaluation = evaluate_scores(scores, vocabulary, part.truths, part.owners, ks=(1, 5))
    return evaluation.per_photo


@dataclass
class _EarlyStopping:
    """Where a run stands: epochs finished, the best epoch so far (by validation P@5) and its weights."""

    best_state: dict[str, torch.Tensor]
    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -1.0
    stale: int = 0
    best_val: dict[str, float] = field(default_factory=dict)

    def update(self, epoch: int, val_metrics: dict[str, float], model: torch.nn.Module) -> bool:
        """Record finished epoch `epoch` (0-based); True when it is the best so far."""
        self.epoch = epoch + 1
        # Without a validation split the last epoch is the model.
        # P@5 decides; mAP (scaled far below one P@5 step) breaks its ties, so a
        # small validation set that saturates P@5 early does not freeze an undertrained model.
        score = val_metrics["P@5"] + 1e-6 * val_metrics["mAP"] if val_metrics else float(epoch)
        if not score > self.best_score:
            self.stale += 1
            return False
        self.best_score, self.best_epoch, self.stale = score, epoch + 1, 0
        self.best_state = copy.deepcopy(model.state_dict())
        self.best_val = dict(val_metrics)
        return True


class _Learner:
    """The heads, D, their optimisers and the seeded generator of one run; one epoch of alternating steps."""

    def __init__(
        self, vocabulary_size: int, channels: int, options: TrainOptions, backbone_head: Optional[torch.nn.Module]
    ):
        torch.manual_seed(options.seed)
        heads = ALTReco(**personal_kwargs(vocabulary_size, channels))
        if backbone_head is not None:
            # The shared stage starts as the backbone's own pretrained conv_head (what the cached trunk output feeds).
            heads.shared.load_from_backbone(backbone_head)
        self.options = options
        self.model = PooledHeads(heads, options.feature_pool)
        self.discriminator = Discriminator(vocabulary_size) if options.adversarial else None
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
        self.optimiser_d = (
            torch.optim.Adam(self.discriminator.parameters(), lr=options.lr) if self.discriminator is not None else None
        )
        self.generator = torch.Generator().manual_seed(options.seed)
        self.weights = options.effective_weights()

    def restore(self, state: dict[str, Any]) -> _EarlyStopping:
        """Continue a saved run: weights, optimisers, random generators and early-stopping state."""
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.optimiser_d.load_state_dict(state["optimiser_d"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        return _EarlyStopping(
            best_state=state["best_state"],
            epoch=int(state["epoch"]),
            best_epoch=int(state["best_epoch"]),
            best_score=float(state["best_score"]),
            stale=int(state["stale"]),
            best_val={k: float(v) for k, v in json.loads(state["best_val"]).items()},
        )

    def snapshot(self, stopping: _EarlyStopping) -> dict[str, Any]:
        """Everything `restore` needs to continue after the epoch just finished."""
        return {
            "epoch": stopping.epoch,
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "discriminator": self.discriminator.state_dict() if self.discriminator is not None else {},
            "optimiser_d": self.optimiser_d.state_dict() if self.optimiser_d is not None else {},
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "best_epoch": stopping.best_epoch,
            "best_score": stopping.best_score,
            "stale": stopping.stale,
            "best_state": stopping.best_state,
            "best_val": json.dumps(stopping.best_val),
        }

    def epoch(self, train: Tensors, on_batch: Optional[Callable[[], None]]) -> dict[str, float]:
        """One pass over `train` in a seeded order; returns the mean losses."""
        self.model.train()
        if self.discriminator is not None:
            self.discriminator.train()
        totals = {"L_p": 0.0, "L_g": 0.0, "L_r": 0.0, "L_adv": 0.0, "L_d": 0.0}
        batches = 0
        order = torch.randperm(len(train), generator=self.generator)
        for start in range(0, len(train), self.options.batch_size):
            idx = order[start : start + self.options.batch_size]
            labels = train.labels[idx]
            history = train.histories[idx] if self.options.uses_history else torch.zeros_like(labels)
            self._step(train.features[idx].float(), labels, history, totals)
            batches += 1
            if on_batch is not None:
                on_batch()
        return {k: v / max(batches, 1) for k, v in totals.items() if v}

    def _step(
        self, features: torch.Tensor, labels: torch.Tensor, history: torch.Tensor, totals: dict[str, float]
    ) -> None:
        out = self.model(features, history)
        general_probs = torch.sigmoid(out.general_logits)
        if self.discriminator is not None:
            totals["L_d"] += self._discriminator_step(labels, general_probs.detach())
        # 2. The rest: C, G, U_E/U_D and the shared stage.
        w_p, w_g, w_r, w_adv = self.weights
        loss_p = F.binary_cross_entropy_with_logits(out.personal_logits, labels)
        loss = w_p * loss_p
        totals["L_p"] += loss_p.item()
        if w_g:
            loss_g = F.binary_cross_entropy_with_logits(out.general_logits, labels)
            loss = loss + w_g * loss_g
            totals["L_g"] += loss_g.item()
        if w_r:
            loss_r = reconstruction_loss(out.reconstruction, history)
            loss = loss + w_r * loss_r
            totals["L_r"] += loss_r.item()
        if self.discriminator is not None:
            judged = self.discriminator(general_probs)
            # Non-saturating form of eq. 3 (maximise log D(G(e))): same optimum, useful gradients early on.
            loss_adv = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
            loss = loss + w_adv * loss_adv
            totals["L_adv"] += loss_adv.item()
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()

    def _discriminator_step(self, labels: torch.Tensor, predicted: torch.Tensor) -> float:
        """1. D step on jittered real tags vs. G's (detached) predictions; returns L_d."""
        options = self.options
        real = self.discriminator(jitter_tags(labels, options.eta, options.iota, generator=self.generator))
        fake = self.discriminator(predicted)
        loss_d = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )
        self.optimiser_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimiser_d.step()
        return loss_d.item()


def train_heads(
    train: Examples,
    val: Examples,
    vocabulary: list[str],
    options: TrainOptions,
    *,
    on_epoch: Optional[Callable[[EpochReport], None]] = None,
    on_batch: Optional[Callable[[], None]] = None,
    resume_state: Optional[dict[str, Any]] = None,
    save_state: Optional[ResumeSaver] = None,
    backbone_head: Optional[torch.nn.Module] = None,
) -> TrainResult:
    """Train the heads on `train`, stop early on `val` P@5, return the best model (by validation P@5)."""
    started = time.perf_counter()
    if len(train) == 0:
        raise ValueError("no training photos")
    tensors = Tensors.of(train)
    learner = _Learner(len(vocabulary), tensors.features.shape[1], options, backbone_head)
    if resume_state is not None:
        stopping = learner.restore(resume_state)
    else:
        stopping = _EarlyStopping(best_state=copy.deepcopy(learner.model.state_dict()))
    start_epoch = stopping.epoch
    reports: list[EpochReport] = []
    for epoch in range(start_epoch, options.epochs):
        if stopping.stale >= options.patience:
            break
        epoch_started = time.perf_counter()
        losses = learner.epoch(tensors, on_batch)
        val_metrics = validation_metrics(learner.model, val, options, vocabulary) if len(val) else {}
        improved = stopping.update(epoch, val_metrics, learner.model)
        report = EpochReport(epoch + 1, losses, val_metrics, improved, time.perf_counter() - epoch_started)
        reports.append(report)
        if save_state is not None:
            save_state(learner.snapshot(stopping))
        if on_epoch is not None:
            on_epoch(report)

    model = learner.model
    model.load_state_dict(stopping.best_state)
    model.eval()
    epochs_run = reports[-1].epoch if reports else start_epoch
    resumed_from = start_epoch if resume_state is not None else None
    return TrainResult(
        model, stopping.best_epoch, stopping.best_val, epochs_run, reports, resumed_from, time.perf_counter() - started
    )
