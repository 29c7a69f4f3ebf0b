"""Which test photos `phototag eval` scores, and on which of their tags (`--protocol`).

- untagged: the test photos are untagged; every tag of the vocabulary they carry is to be found.
- partial: each test photo keeps one of its tags (chosen at random, seeded) that every method may use
  as input; the others are to be found. The kept tag is ranked last by every method, so it never counts
  as a hit; photos with a single vocabulary tag have nothing left to find and are not scored.
- event: only test photos with tagged training photos among their neighbours are scored. Neighbours are
  the photos of the same folder: the index stores no capture date (EXIF DateTimeOriginal) yet, so a
  day cannot be told.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PROTOCOLS = ("untagged", "partial", "event")


def keep_one_tag(labels: np.ndarray, seed: int) -> np.ndarray:
    """Per photo (row of 0/1 `labels`), the index of one of its tags, chosen at random (seeded); -1 for untagged rows."""
    rng = np.random.default_rng([seed, 2])  # a stream of its own: the split's seed also drives the split
    kept = np.full(len(labels), -1, dtype=np.int64)
    for row, tags in enumerate(np.asarray(labels)):
        present = np.flatnonzero(tags)
        if len(present):
            kept[row] = present[rng.integers(len(present))]
    return kept


def with_tagged_neighbours(train_labels: np.ndarray, train_groups: Sequence, test_groups: Sequence) -> np.ndarray:
    """Boolean mask of the test photos whose group (folder) holds a training photo with a vocabulary tag."""
    tagged_groups = {group for group, row in zip(train_groups, np.asarray(train_labels)) if row.any()}
    return np.array([group in tagged_groups for group in test_groups], dtype=bool)


def rank_kept_last(scores: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """`scores` with each photo's kept tag pushed below every other tag (a tag the photo has is never suggested)."""
    out = np.array(scores, dtype=np.float64, copy=True)
    out[np.arange(len(out)), kept] = -np.inf
    return out
