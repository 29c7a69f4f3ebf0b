"""Ranking metrics of the ALTReco paper (section V-B), plus mean average precision.

Shared by training (validation P@5 for early stopping) and evaluation; imports nothing from phototag.

For one photo with true tags T and a ranked list of suggestions R:
  - precision@k = |R[:k] ∩ T| / k
  - recall@k    = |R[:k] ∩ T| / |T|
  - accuracy@k  = 1 if |R[:k] ∩ T| >= 1 else 0  (share of photos with at least one hit)
  - AP          = mean over the ranks r of each true tag of precision@r (tags never
                  ranked count as misses), i.e. the usual per-image average precision.
Library figures are means over photos ("per photo") or means over owners of the
owners' means ("per owner"), so that one prolific owner does not dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

KS = (1, 3, 5, 10)


def rank_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores per row, best first (ties broken by lower index)."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    # Stable sort on the negated scores keeps ties in index order, so results are deterministic.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def photo_metrics(ranked: Sequence[Hashable], truth: set, ks: Sequence[int] = KS) -> dict[str, float]:
    """All metrics of one photo. `ranked` may be longer than max(ks); AP uses all of it."""
    if not truth:
        raise ValueError("a photo without true tags cannot be evaluated")
    out: dict[str, float] = {}
    hits = np.array([1.0 if tag in truth else 0.0 for tag in ranked])
    cumulative = np.cumsum(hits)
    for k in ks:
        found = cumulative[min(k, len(ranked)) - 1] if len(ranked) else 0.0
        out[f"P@{k}"] = float(found) / k
        out[f"R@{k}"] = float(found) / len(truth)
        out[f"Acc@{k}"] = 1.0 if found >= 1 else 0.0
    if len(ranked):
        precision_at_hits = cumulative[hits > 0] / (np.flatnonzero(hits) + 1)
        out["AP"] = float(precision_at_hits.sum()) / len(truth)
    else:
        out["AP"] = 0.0
    return out


def metric_names(ks: Sequence[int] = KS) -> list[str]:
    names = []
    for prefix in ("P", "R", "Acc"):
        names += [f"{prefix}@{k}" for k in ks]
    return names + ["mAP"]


@dataclass
class Evaluation:
    """Per-photo metrics of one method plus their per-photo and per-owner means."""

    per_photo: dict[str, float]
    per_owner: dict[str, float]
    photos: int
    owners: int


def evaluate_rankings(
    rankings: Sequence[Sequence[Hashable]],
    truths: Sequence[set],
    owners: Sequence[Hashable] | None = None,
    ks: Sequence[int] = KS,
) -> Evaluation:
    """Mean metrics over photos and over owners (each owner's photos averaged first)."""
    if len(rankings) != len(truths):
        raise ValueError("one ranking per photo is needed")
    if owners is None:
        owners = ["library"] * len(truths)
    rows = [photo_metrics(r, t, ks) for r, t in zip(rankings, truths)]
    names = metric_names(ks)

    def mean(selected: list[dict[str, float]]) -> dict[str, float]:
        return {n: float(np.mean([row["AP" if n == "mAP" else n] for row in selected])) for n in names}

    if not rows:
        empty = {n: 0.0 for n in names}
        return Evaluation(empty, dict(empty), 0, 0)
    by_owner: dict[Hashable, list[dict[str, float]]] = {}
    for owner, row in zip(owners, rows):
        by_owner.setdefault(owner, []).append(row)
    owner_means = [mean(group) for group in by_owner.values()]
    per_owner = {n: float(np.mean([m[n] for m in owner_means])) for n in names}
    return Evaluation(mean(rows), per_owner, len(rows), len(by_owner))


def evaluate_scores(
    scores: np.ndarray,
    vocabulary: Sequence[str],
    truths: Sequence[set],
    owners: Sequence[Hashable] | None = None,
    ks: Sequence[int] = KS,
) -> Evaluation:
    """Like evaluate_rankings for a score matrix [photos, vocabulary] (AP over the full ranking)."""
    order = rank_scores(scores, len(vocabulary))
    rankings = [[vocabulary[i] for i in row] for row in order]
    return evaluate_rankings(rankings, truths, owners, ks)
