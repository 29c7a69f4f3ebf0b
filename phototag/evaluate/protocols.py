"""Which test photos `phototag eval` scores, and on which of their tags (`--protocol`).

- untagged: the test photos are untagged; every tag of the vocabulary they carry is to be found.
- partial: each test photo keeps one of its tags (chosen at random, seeded) that every method may use
  as input; the others are to be found. The kept tag is ranked last by every method, so it never counts
  as a hit; photos with a single vocabulary tag have nothing left to find and are not scored.
- event: only test photos with tagged training photos among their neighbours are scored. Neighbours are
  those of the neighbours signal (phototag.model.signals.neighbours_of, its registered parameters): the
  nearest photos in the folder's sequence (by capture time, else by file name), taken within its event
  window. One definition: the protocol scores the photos on which that signal has something to say.
"""

from __future__ import annotations

import numpy as np

from phototag.model.signals import REGISTRY, Gallery, Queries, neighbours_of

PROTOCOLS = ("untagged", "partial", "event")


def keep_one_tag(labels: np.ndarray, seed: int) -> np.ndarray:
    """Per photo (row of 0/1 `labels`), the index of one of its tags, chosen at random (seeded); -1 for untagged
    rows."""
    rng = np.random.default_rng([seed, 2])  # a stream of its own: the split's seed also drives the split
    kept = np.full(len(labels), -1, dtype=np.int64)
    for row, tags in enumerate(np.asarray(labels)):
        present = np.flatnonzero(tags)
        if len(present):
            kept[row] = present[rng.integers(len(present))]
    return kept


def partial_rows(labels: np.ndarray, seed: int) -> tuple[list[int], np.ndarray]:
    """The photos (rows of 0/1 `labels`) the partial protocol scores, those with at least two tags (one kept as
    input, at least one left to find), and each one's kept tag (keep_one_tag)."""
    labels = np.asarray(labels)
    scored = [i for i in range(len(labels)) if labels[i].sum() >= 2]
    return scored, keep_one_tag(labels, seed)[scored]


def with_tagged_neighbours(gallery: Gallery, queries: Queries) -> np.ndarray:
    """Boolean mask of the queries with a gallery photo carrying a vocabulary tag among their neighbours, as the
    neighbours signal counts neighbours (phototag.model.signals.neighbours_of with its registered parameters):
    the same folder's sequence, a few photos away, taken within its event window."""
    parameters = REGISTRY["neighbours"].parameters
    window = {name: parameters[name] for name in ("neighbours", "max_gap", "event_seconds")}
    self_rows = np.array([gallery.row_of(key) for key in queries.keys], dtype=np.int64)
    tagged = gallery.labels.any(axis=1)
    near = neighbours_of(gallery, queries, self_rows, **window)
    return np.array([bool(tagged[rows].any()) if rows else False for rows in near], dtype=bool)


def rank_kept_last(scores: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """`scores` with each photo's kept tag pushed below every other tag (a tag the photo has is never suggested)."""
    out = np.array(scores, dtype=np.float64, copy=True)
    out[np.arange(len(out)), kept] = -np.inf
    return out
