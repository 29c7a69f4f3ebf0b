"""From the index to training arrays: tagged photos, vocabulary, labels, leave-one-out histories, cached features.

Shared by `phototag finetune` and `phototag eval` so both see the library the same way. numpy only: eval's rows
that train no model run without PyTorch; the training loop (phototag.train.finetune) reads these arrays as
tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from phototag.library.history import HIERARCHY_SEPARATOR, TagHistory, normalise
from phototag.library.index import PhotoRow


def as_array(values: Any) -> np.ndarray:
    """A numpy array of `values`: a torch tensor (a caller that made it in PyTorch) or anything array-like."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


@dataclass
class Examples:
    """One set of photos as arrays over a fixed vocabulary (given as torch tensors, they are converted)."""

    photos: list[PhotoRow]
    owners: list[str]
    features: Optional[np.ndarray]  # [N, C, H, W] cached backbone feature maps (stored dtype); None: not needed
    labels: np.ndarray  # [N, V] 0/1 float32: the photo's own tags in the vocabulary
    histories: np.ndarray  # [N, V] float32: the owner's u_h, this photo left out
    truths: list[set[str]] = field(default_factory=list)  # display tags in the vocabulary

    def __post_init__(self) -> None:
        if self.features is not None:
            self.features = as_array(self.features)
        self.labels, self.histories = as_array(self.labels), as_array(self.histories)

    def __len__(self) -> int:
        return len(self.photos)

    def subset(self, indices: Sequence[int]) -> "Examples":
        idx = np.asarray(list(indices), dtype=np.intp)
        return Examples(
            [self.photos[i] for i in indices],
            [self.owners[i] for i in indices],
            self.features[idx] if self.features is not None else None,
            self.labels[idx],
            self.histories[idx],
            [self.truths[i] for i in indices],
        )


def choose_vocabulary(history: TagHistory, min_count: int) -> list[str]:
    """Display spellings of the tags used on at least `min_count` photos, most used first."""
    return [history.display[key] for key in history.keys(min_count=min_count)]


def hierarchy_map(history: TagHistory, vocabulary: Sequence[str]) -> dict[str, str]:
    """leaf -> 'A|B|leaf' for vocabulary tags that the person filed under a hierarchy."""
    out = {}
    for tag in vocabulary:
        path = history.hierarchy_of(tag)
        if path and len(path) > 1:
            out[tag] = HIERARCHY_SEPARATOR.join(path)
    return out


def build_examples(
    photos: Sequence[PhotoRow],
    tags_of: TagHistory,
    history_of: TagHistory,
    vocabulary: Sequence[str],
    features: Optional[Mapping[str, Any]],  # fingerprint -> feature map: numpy array (the cache) or torch tensor
    leave_one_out: bool = True,
    owner_history: Optional[dict[str, TagHistory]] = None,
) -> Examples:
    """Arrays for `photos` (those without cached features must be filtered out before; `features` None: the
    Examples carry no feature maps, for rows that train no model).

    `tags_of` gives each photo's tags; `history_of` gives owner histories; with
    `leave_one_out` a photo's own tags are taken out of its owner's counts when
    the photo is part of `history_of`. `owner_history` overrides `history_of`
    per owner (eval: owners absent from the training part use their other
    held-out photos).
    """
    keys = [normalise(t) for t in vocabulary]
    position = {k: i for i, k in enumerate(keys)}
    labels = np.zeros((len(photos), len(vocabulary)), dtype=np.float32)
    histories = np.zeros((len(photos), len(vocabulary)), dtype=np.float32)
    owners, truths = [], []
    for row, photo in enumerate(photos):
        owner = tags_of.owner_of(photo)
        owners.append(owner)
        truth = set()
        for key in tags_of.photo_keys(photo):
            if key in position:
                labels[row, position[key]] = 1.0
                truth.add(vocabulary[position[key]])
        truths.append(truth)
        source = (owner_history or {}).get(owner, history_of)
        member = photo.id in source.tags
        histories[row] = source.history_vector(owner, vocabulary, exclude=photo if (leave_one_out and member) else None)
    return Examples(list(photos), owners, _stacked(photos, features), labels, histories, truths)


def _stacked(photos: Sequence[PhotoRow], features: Optional[Mapping[str, Any]]) -> Optional[np.ndarray]:
    if features is None:
        return None
    if not photos:
        return np.empty(0, dtype=np.float32)
    return np.stack([as_array(features[p.fingerprint]) for p in photos])


def owner_histories(history: TagHistory, vocabulary: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Every owner's full u_h (nothing left out), for suggesting on new photos."""
    owners = history.owner_names()
    if not owners:
        return [], np.zeros((0, len(vocabulary)), dtype=np.float32)
    rows = [history.history_vector(owner, vocabulary) for owner in owners]
    return owners, np.stack(rows)
