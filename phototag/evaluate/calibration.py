"""Whether a score means what it says: reliability bins and expected calibration error (issue #19).

A suggestion's score is meant as the probability that the owner keeps the tag. Over a set of scored
suggestions (each photo's best-scored tags), ECE is the mean |score - how often right| over BINS
equal-width score bins, each weighted by its share of the suggestions (Guo et al. 2017, "On Calibration
of Modern Neural Networks"). 0 is perfect; a ranking that says 0.97 and is right 3 % of the time has 0.94.
"""

from __future__ import annotations

import numpy as np

BINS = 10


def reliability(scores, hits, bins: int = BINS) -> list[dict]:
    """Per equal-width bin of scores in [0, 1]: its range, how many suggestions, their mean score, and the
    share of them that were right (bins with no suggestion have count 0 and None)."""
    scores = np.clip(np.asarray(scores, dtype=np.float64).ravel(), 0.0, 1.0)
    hits = np.asarray(hits, dtype=np.float64).ravel()
    which = np.minimum((scores * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        out.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": count,
                "score": float(scores[inside].mean()) if count else None,
                "right": float(hits[inside].mean()) if count else None,
            }
        )
    return out


def expected_calibration_error(scores, hits, bins: int = BINS) -> float:
    """Sum over bins of (share of the suggestions) * |mean score - share right|; 0 for no suggestion."""
    return ece_of_bins(reliability(scores, hits, bins))


def ece_of_bins(table: list[dict]) -> float:
    """ECE from reliability bins (several splits' bins pooled: phototag.evaluate.result.EvalResult.reliability)."""
    total = sum(row["count"] for row in table)
    if not total:
        return 0.0
    return float(sum(row["count"] * abs(row["score"] - row["right"]) for row in table if row["count"]) / total)


def top_scores(scores: np.ndarray, keys, truths, top_k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Each photo's `top_k` best scores [N * top_k] and whether each tag (`keys[j]`) is in the photo's `truths`."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    chosen = np.take_along_axis(scores, order, axis=1)
    hits = np.array([[keys[j] in truth for j in row] for row, truth in zip(order, truths)], dtype=np.float64)
    return chosen.ravel(), hits.ravel()


def calibration_figures(scores: np.ndarray, candidates, truths, top_k: int = 5) -> dict:
    """ECE and the reliability bins of each held-out photo's `top_k` best-scored tags (eval's suggest rows).

    `candidates`: the scored tags; `truths`: each photo's set of normalised tag keys."""
    from phototag.library.history import normalise

    chosen, hits = top_scores(scores, [normalise(tag) for tag in candidates], truths, top_k)
    return {"ece": round(expected_calibration_error(chosen, hits), 4), "reliability": reliability(chosen, hits)}
