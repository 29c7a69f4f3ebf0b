"""Which test photos `phototag eval` scores, and on which of their tags (`--protocol`).

- untagged: the test photos are untagged; every tag of the vocabulary they carry is to be found.
- partial: each test photo keeps one of its tags (chosen at random, seeded) that every method may use
  as input; the others are to be found. The kept tag is ranked last by every method, so it never counts
  as a hit; photos with a single vocabulary tag have nothing left to find and are not scored.
- event: only test photos with tagged training photos among their neighbours are scored. Neighbours are
  the photos of the same folder or taken the same day (EXIF DateTimeOriginal and its fallbacks, see
  phototag.library.capture).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

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


def with_tagged_neighbours(
    train_labels: np.ndarray, train_groups: Sequence[set], test_groups: Sequence[set]
) -> np.ndarray:
    """Boolean mask of the test photos sharing a group (each photo's set: its folder, its day) with a training
    photo that has a vocabulary tag."""
    tagged_groups = {
        group for groups, row in zip(train_groups, np.asarray(train_labels)) if row.any() for group in groups
    }
    return np.array([bool(groups & tagged_groups) for groups in test_groups], dtype=bool)


def event_groups(photo) -> set:
    """The groups a photo's event neighbours share with it: its folder, and its capture day when known."""
    taken = getattr(photo, "taken", None)
    return {("folder", photo.folder)} | ({("day", taken[:10])} if taken else set())


def rank_kept_last(scores: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """`scores` with each photo's kept tag pushed below every other tag (a tag the photo has is never suggested)."""
    out = np.array(scores, dtype=np.float64, copy=True)
    out[np.arange(len(out)), kept] = -np.inf
    return out
