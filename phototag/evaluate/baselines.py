"""Baselines that need no training: tag frequencies, kNN label transfer (k and weighting chosen on
validation photos), co-occurrence with a known tag, tags of the folder's tagged photos.

Each returns a score matrix [test photos, vocabulary]; higher is better. Ties
are broken by library frequency (a tiny epsilon), so every method ranks the
whole vocabulary deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

TIE_BREAK = 1e-6


def _library_prior(train_labels: np.ndarray) -> np.ndarray:
    counts = np.asarray(train_labels, dtype=np.float64).sum(axis=0)
    peak = counts.max() if counts.size and counts.max() > 0 else 1.0
    return counts / peak


def library_most_frequent(train_labels: np.ndarray, n_test: int) -> np.ndarray:
    """The paper's Baseline: the library's most used tags, the same list for every photo."""
    return np.tile(_library_prior(train_labels), (n_test, 1))


def owner_most_frequent(test_histories: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """The owner's most used tags: the owner's history vector u_h (leave-one-out), library frequency breaking ties."""
    return np.asarray(test_histories, dtype=np.float64) + TIE_BREAK * _library_prior(train_labels)


def embeddings(features) -> np.ndarray:
    """L2-normalised global-average-pooled backbone features [N, C] from feature maps [N, C, H, W]."""
    array = np.asarray(features, dtype=np.float32)
    if array.ndim == 4:
        array = array.mean(axis=(2, 3))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


KNN_KS = (1, 3, 5, 10, 20, 40, 80, 160)  # feedme-dev chooses 80 on every split (BENCHMARKS.md)
# How a neighbour's vote is weighted by its cosine similarity s: "plain" s, "cos^p" s**p (near
# neighbours count more), "softmax t" exp(s / t) (a temperature t; smaller is sharper).
KNN_WEIGHTINGS = ("plain", "cos^2", "cos^4", "cos^8", "softmax 0.02", "softmax 0.05", "softmax 0.1")


@dataclass(frozen=True)
class KnnChoice:
    """The k and weighting that kNN label transfer uses, and the validation P@5 that chose them."""

    k: int
    weighting: str = "plain"
    val_p5: Optional[float] = None

    def describe(self) -> str:
        chosen = f"k={self.k}, {self.weighting}"
        return chosen if self.val_p5 is None else f"{chosen} (validation P@5 {self.val_p5:.3f})"


def _vote_weights(sims: np.ndarray, weighting: str) -> np.ndarray:
    """Weights of neighbours sorted by similarity, best first (each row's first column is its best)."""
    if weighting == "plain":
        return np.clip(sims, 0.0, None)
    kind, _, value = weighting.partition(" " if weighting.startswith("softmax") else "^")
    if kind == "cos":
        return np.clip(sims, 0.0, None) ** float(value)
    if kind == "softmax":
        return np.exp((sims - sims[:, :1]) / float(value))  # shifted by the best: no overflow, same ranking
    raise ValueError(f"unknown kNN weighting {weighting!r}")


def nearest(
    train_embeddings: np.ndarray, test_embeddings: np.ndarray, k: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities [n_test, k] and indices of the k nearest training photos, most similar first."""
    train_embeddings = np.asarray(train_embeddings, dtype=np.float32)
    k = max(1, min(k, len(train_embeddings)))
    sims_out = np.empty((len(test_embeddings), k), dtype=np.float32)
    index_out = np.empty((len(test_embeddings), k), dtype=np.int64)
    for start in range(0, len(test_embeddings), chunk):
        sims = np.asarray(test_embeddings[start : start + chunk], dtype=np.float32) @ train_embeddings.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near_sims = np.take_along_axis(sims, near, axis=1)
        order = np.argsort(-near_sims, axis=1, kind="stable")
        sims_out[start : start + chunk] = np.take_along_axis(near_sims, order, axis=1)
        index_out[start : start + chunk] = np.take_along_axis(near, order, axis=1)
    return sims_out, index_out


def _votes(sims: np.ndarray, near: np.ndarray, train_labels: np.ndarray, k: int, weighting: str) -> np.ndarray:
    weights = _vote_weights(sims[:, :k], weighting)
    votes = np.einsum("nk,nkv->nv", weights, train_labels[near[:, :k]])
    return votes + TIE_BREAK * _library_prior(train_labels)


def knn_label_transfer(
    train_embeddings: np.ndarray,
    train_labels: np.ndarray,
    test_embeddings: np.ndarray,
    k: int = 10,
    weighting: str = "plain",
) -> np.ndarray:
    """Tags of the k most similar training photos (cosine), each vote weighted by its similarity.

    Label transfer from visual neighbours as in Johnson et al. / Uricchio et al.:
    nonparametric, no training, and it adapts to a person's vocabulary because
    the neighbours carry that person's tags.
    """
    train_labels = np.asarray(train_labels, dtype=np.float32)
    sims, near = nearest(train_embeddings, test_embeddings, k)
    return _votes(sims, near, train_labels, k, weighting)


def precision_at(scores: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Mean P@k over the rows of `labels` that have a tag (ties broken by lower index, as metrics.rank_scores)."""
    labels = np.asarray(labels)
    tagged = labels.sum(axis=1) > 0
    if not tagged.any():
        return 0.0
    top = np.argsort(-scores[tagged], axis=1, kind="stable")[:, :k]
    return float(np.take_along_axis(labels[tagged], top, axis=1).sum(axis=1).mean() / k)


def tune_knn(
    fit_embeddings: np.ndarray,
    fit_labels: np.ndarray,
    val_embeddings: np.ndarray,
    val_labels: np.ndarray,
    ks: Sequence[int] = KNN_KS,
    weightings: Sequence[str] = KNN_WEIGHTINGS,
    advance: Optional[Callable[[int], None]] = None,
) -> KnnChoice:
    """The k and weighting with the best P@5 on the validation photos, their neighbours taken from the fit
    photos only (ties: the smaller k, then the earlier weighting). With no validation photo: k=10, plain."""
    fit_labels = np.asarray(fit_labels, dtype=np.float32)
    if len(val_embeddings) == 0 or len(fit_embeddings) == 0:
        return KnnChoice(10)
    sims, near = nearest(fit_embeddings, val_embeddings, max(ks))
    best: Optional[KnnChoice] = None
    for k in ks:
        for weighting in weightings:
            p5 = precision_at(_votes(sims, near, fit_labels, k, weighting), val_labels)
            if best is None or p5 > best.val_p5 + 1e-12:
                best = KnnChoice(k, weighting, p5)
            if advance is not None:
                advance(1)
    return best


def _smoothed(counts: np.ndarray, totals: np.ndarray, prior: np.ndarray, smoothing: float) -> np.ndarray:
    """(counts + m * prior) / (totals + m): observed shares pulled towards the library frequency (an m-estimate)."""
    return (counts + smoothing * prior) / (totals[:, None] + smoothing)


def cooccurrence_scores(train_labels: np.ndarray, kept: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """P(tag | the photo's kept tag) from the training photos' co-occurrences, smoothed towards each tag's
    frequency (share of training photos carrying it) with weight `smoothing`; `kept` holds one tag index per photo."""
    labels = np.asarray(train_labels, dtype=np.float64)
    frequency = labels.mean(axis=0) if len(labels) else np.zeros(labels.shape[1])
    together = labels.T @ labels  # [V, V]: photos carrying both tags
    kept = np.asarray(kept, dtype=np.int64)
    scores = _smoothed(together[kept], np.diag(together)[kept], frequency, smoothing)
    return scores + TIE_BREAK * _library_prior(labels)


def neighbour_scores(
    train_labels: np.ndarray, train_groups: Sequence, test_groups: Sequence, smoothing: float = 1.0
) -> np.ndarray:
    """Tags of the tagged training photos of the same group (folder): each tag's share among them, smoothed
    towards its library frequency with weight `smoothing` (a photo with no tagged neighbour gets the frequency)."""
    labels = np.asarray(train_labels, dtype=np.float64)
    frequency = labels.mean(axis=0) if len(labels) else np.zeros(labels.shape[1])
    sums: dict = {}
    for group, row in zip(train_groups, labels):
        if row.any():
            total, count = sums.get(group, (0.0, 0))
            sums[group] = (total + row, count + 1)
    counts = np.zeros((len(test_groups), labels.shape[1]))
    totals = np.zeros(len(test_groups))
    for i, group in enumerate(test_groups):
        if group in sums:
            counts[i], totals[i] = sums[group]
    return _smoothed(counts, totals, frequency, smoothing) + TIE_BREAK * _library_prior(labels)


@dataclass
class Part:
    """One part of a split as arrays: tags [n, V] (0/1), pooled normalised embeddings [n, C], each photo's
    folder; for the test part also the owners' histories u_h and, with the partial protocol, the kept tags."""

    labels: np.ndarray
    embeddings: np.ndarray
    groups: list
    histories: Optional[np.ndarray] = None
    kept: Optional[np.ndarray] = None


def baseline_scores(rows: Sequence[str], train: Part, test: Part, knn: KnnChoice) -> dict[str, np.ndarray]:
    """Score matrices of the baseline rows of `phototag eval` that `rows` asks for: "library", "owner", "knn"
    (with the chosen k and weighting), "cooc" (needs test.kept) and "neighbours"."""
    scores = {}
    if "library" in rows:
        scores["library"] = library_most_frequent(train.labels, len(test.labels))
    if "owner" in rows:
        scores["owner"] = owner_most_frequent(test.histories, train.labels)
    if "knn" in rows:
        scores["knn"] = knn_label_transfer(train.embeddings, train.labels, test.embeddings, knn.k, knn.weighting)
    if "cooc" in rows and test.kept is not None:
        scores["cooc"] = cooccurrence_scores(train.labels, test.kept)
    if "neighbours" in rows:
        scores["neighbours"] = neighbour_scores(train.labels, train.groups, test.groups)
    return scores
