"""From a library's photos and cached features to the ranking's evidence (phototag.model.ranking).

    vocabulary = candidate_vocabulary(history)               # the owner's tags, most used first
    looks = Looks.of(readout, maps)                          # pooled features, general tag probabilities
    gallery = build_gallery(tagged, history, vocabulary, looks_of_tagged)
    queries = build_queries(photos, history, vocabulary, looks, outputs)

Used the same way by `suggest` (phototag.model.recommend), `finetune` (phototag.train.ranking) and `eval`
(phototag.evaluate.suggest_rows, phototag.app.evaluate), so the suggest row of eval is exactly what suggest
ranks (phototag.model.signals turns them into signals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from phototag.library.history import TagHistory, normalise
from phototag.model.signals import Gallery, Queries, normalised, place_of


@dataclass
class Looks:
    """What the backbone says about photos: kNN embeddings (pooled trunk), probe inputs (pooled head),
    and the packaged general tags' probabilities."""

    trunk: np.ndarray  # [N, C] L2-normalised
    head: np.ndarray  # [N, 1280] L2-normalised
    general: np.ndarray  # [N, general vocabulary]

    @classmethod
    def of(cls, readout, maps, batch: int = 256) -> "Looks":
        """`readout`: phototag.model.readout.GeneralReadout (general_readout: the backbone's conv_head, classifier
        and the general tags, in numpy); `maps`: feature maps [N, C, H, W], or a list of [C, H, W] arrays
        (stacked a batch at a time: no second copy)."""
        trunks, heads, generals = [], [], []
        for start in range(0, len(maps), batch):
            part = maps[start : start + batch]
            chunk = (part if isinstance(part, np.ndarray) else np.stack(list(part))).astype(np.float32)
            pooled = readout.head(chunk)
            trunks.append(chunk.mean(axis=(2, 3)))
            heads.append(pooled)
            generals.append(readout.general(pooled))
        if not trunks:
            return cls(np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, readout.aggregation.shape[1])))
        return cls(normalised(np.concatenate(trunks)), normalised(np.concatenate(heads)), np.concatenate(generals))

    def subset(self, rows: Sequence[int]) -> "Looks":
        rows = list(rows)
        return Looks(self.trunk[rows], self.head[rows], self.general[rows])


class LibraryLooks:
    """Looks of a set of photos, computed once and looked up by photo (eval's splits share them)."""

    def __init__(self, readout, photos: Sequence, features: dict[str, np.ndarray]):
        photos = [p for p in photos if p.fingerprint in features]
        self.general_vocabulary = readout.vocabulary
        self.looks = Looks.of(readout, [features[p.fingerprint] for p in photos]) if photos else None
        self.rows = {p.fingerprint: i for i, p in enumerate(photos)}

    def of(self, photos: Sequence) -> Looks:
        return self.looks.subset([self.rows[p.fingerprint] for p in photos])


def general_readout(backbone: str):
    """The packaged general tagger on `backbone`'s top, in numpy (phototag.model.readout); `.vocabulary` is its
    tag list."""
    from phototag.model.general import packaged_vocabulary
    from phototag.model.readout import GeneralReadout

    vocabulary = packaged_vocabulary()
    readout = GeneralReadout(backbone, vocabulary.aggregation_matrix())
    readout.vocabulary = vocabulary
    return readout


def candidate_vocabulary(history: TagHistory) -> list[str]:
    """Every tag the owner uses, in its display spelling, most used first."""
    return history.vocabulary


def _positions(vocabulary: Sequence[str]) -> dict[str, int]:
    return {normalise(tag): i for i, tag in enumerate(vocabulary)}


def tag_rows(photos: Sequence, history: TagHistory, vocabulary: Sequence[str]) -> list[list[int]]:
    """Each photo's tags as vocabulary indices."""
    position = _positions(vocabulary)
    return [sorted({position[k] for k in history.photo_keys(p) if k in position}) for p in photos]


def build_gallery(photos: Sequence, history: TagHistory, vocabulary: Sequence[str], trunk: np.ndarray) -> Gallery:
    """The tagged `photos` as evidence; `trunk`: their pooled trunk features (Looks.trunk)."""
    labels = np.zeros((len(photos), len(vocabulary)), dtype=np.float32)
    for row, tags in enumerate(tag_rows(photos, history, vocabulary)):
        labels[row, tags] = 1.0
    paths = [history.hierarchy_of(tag) for tag in vocabulary]
    branches = ["|".join(path[:-1]) if path and len(path) > 1 else None for path in paths]
    return Gallery(labels, trunk, [place_of(p, history.owner_of(p)) for p in photos], [p.id for p in photos], branches)


def build_queries(
    photos: Sequence,
    present: Sequence[Sequence[int]],
    trunk: np.ndarray,
    outputs: Optional[dict[str, np.ndarray]] = None,
    history: Optional[TagHistory] = None,
) -> Queries:
    """Photos to rank: their present tags (vocabulary indices), pooled trunk features and model outputs;
    `history` tells whose photo each is (TagHistory.owner_of)."""
    places = [place_of(p, history.owner_of(p) if history is not None else None) for p in photos]
    return Queries(trunk, places, [p.id for p in photos], [list(t) for t in present], dict(outputs or {}))


def held_out_queries(
    photos: Sequence,
    truth: np.ndarray,
    trunk: np.ndarray,
    outputs: dict[str, np.ndarray],
    history: TagHistory,
    seed: int = 0,
) -> tuple[Queries, np.ndarray]:
    """Held-out photos as a blend is fitted on them (Ranker.fit): each once untagged and once with one of its
    tags kept (seeded; the partial mode), with `truth` [N, V] doubled to match."""
    rng = np.random.default_rng(seed)
    kept = [[int(rng.choice(np.flatnonzero(t)))] if t.any() else [] for t in truth]
    doubled = {name: np.vstack([values, values]) for name, values in outputs.items()}
    queries = build_queries(list(photos) * 2, [[]] * len(photos) + kept, np.vstack([trunk, trunk]), doubled, history)
    return queries, np.vstack([truth, truth])


def spread(values: np.ndarray, own_vocabulary: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """Scores over `own_vocabulary` [N, V'] placed on `vocabulary` [N, V]; NaN (no opinion) for the tags it lacks."""
    position = _positions(own_vocabulary)
    out = np.full((len(values), len(vocabulary)), np.nan)
    for j, tag in enumerate(vocabulary):
        i = position.get(normalise(tag))
        if i is not None:
            out[:, j] = values[:, i]
    return out
