"""Baselines that need no training: tag frequencies and kNN label transfer.

Each returns a score matrix [test photos, vocabulary]; higher is better. Ties
are broken by library frequency (a tiny epsilon), so every method ranks the
whole vocabulary deterministically.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from phototag.reporting import Reporter

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


def knn_label_transfer(
    train_embeddings: np.ndarray,
    train_labels: np.ndarray,
    test_embeddings: np.ndarray,
    k: int = 10,
    chunk: int = 1024,
) -> np.ndarray:
    """Tags of the k most similar training photos (cosine), each vote weighted by its similarity.

    Label transfer from visual neighbours as in Johnson et al. / Uricchio et al.:
    nonparametric, no training, and it adapts to a person's vocabulary because
    the neighbours carry that person's tags.
    """
    train_embeddings = np.asarray(train_embeddings, dtype=np.float32)
    train_labels = np.asarray(train_labels, dtype=np.float32)
    k = max(1, min(k, len(train_embeddings)))
    prior = TIE_BREAK * _library_prior(train_labels)
    out = np.empty((len(test_embeddings), train_labels.shape[1]), dtype=np.float64)
    for start in range(0, len(test_embeddings), chunk):
        sims = np.asarray(test_embeddings[start : start + chunk], dtype=np.float32) @ train_embeddings.T
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.clip(np.take_along_axis(sims, nearest, axis=1), 0.0, None)
        votes = np.einsum("nk,nkv->nv", weights, train_labels[nearest])
        out[start : start + chunk] = votes + prior
    return out


def baseline_scores(
    rows: Sequence[str],
    train_labels: np.ndarray,
    train_features: np.ndarray,
    test_histories: np.ndarray,
    test_features: np.ndarray,
    knn_k: int,
    reporter: Optional[Reporter] = None,
) -> dict[str, np.ndarray]:
    """Score matrices of the baseline rows of `phototag eval` that `rows` asks for ("library", "owner", "knn")."""
    scores = {}
    if "library" in rows:
        scores["library"] = library_most_frequent(train_labels, len(test_histories))
    if "owner" in rows:
        scores["owner"] = owner_most_frequent(test_histories, train_labels)
    if "knn" in rows:
        if reporter is not None:
            reporter.info("kNN label transfer")
        scores["knn"] = knn_label_transfer(embeddings(train_features), train_labels, embeddings(test_features), k=knn_k)
    return scores
