"""Seeded splits of a library's tagged photos: by photo, by owner or by folder.

Training holds out a validation share for early stopping; evaluation holds out a
test part. Grouped splits keep every photo of one owner (or folder) on the same
side, so an owner's near-duplicate pictures cannot sit on both sides of the split.
"""

from __future__ import annotations

from typing import Hashable, Sequence, TypeVar

import numpy as np

from phototag.library.history import TagHistory
from phototag.library.index import PhotoRow

SPLIT_MODES = ("photo", "owner", "folder")
T = TypeVar("T")


def split_groups(groups: Sequence[Hashable], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the held-out items: whole groups, shuffled with `seed`, until `fraction` of the items is reached.

    At least one group is held out and at least one is kept, when there are two or more.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("the held-out fraction must be between 0 and 1")
    groups = list(groups)
    mask = np.zeros(len(groups), dtype=bool)
    distinct = sorted(set(groups), key=lambda g: str(g))  # sorted first: the order of the input must not matter
    if len(distinct) < 2:
        return mask
    order = np.random.default_rng(seed).permutation(len(distinct))
    members: dict[Hashable, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    target = fraction * len(groups)
    held = 0
    for position, index in enumerate(order):
        if held >= target or position == len(order) - 1:
            break
        chosen = members[distinct[index]]
        mask[chosen] = True
        held += len(chosen)
    return mask


def split_items(items: Sequence[T], keys: Sequence[Hashable], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """(kept, held out) lists of `items`, grouped by `keys` (use a unique key per item for a photo split)."""
    mask = split_groups(keys, fraction, seed)
    kept = [item for item, out in zip(items, mask) if not out]
    held = [item for item, out in zip(items, mask) if out]
    return kept, held


def split_key(photo: PhotoRow, history: TagHistory, split_by: str) -> Hashable:
    """What keeps photos together in a split by `split_by` (one of SPLIT_MODES)."""
    if split_by == "owner":
        return history.owner_of(photo)
    if split_by == "folder":
        return photo.folder
    # By content: byte-identical copies of one picture under two names must not sit on both sides.
    return photo.fingerprint or photo.id
