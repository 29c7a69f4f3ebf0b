"""eval's suggest rows: what `suggest` would rank for held-out photos, with a training part as the tagged library.

The suggest_owner row (no personal model) is OwnerRanking here; the suggest row (after finetune) adds the
personal model's outputs, which need training code, in phototag.app.evaluate.held_out_scores. Both rank through
phototag.model.ranking.Ranker, the one suggest ranks with, so eval measures what suggest ranks by construction.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import numpy as np

from phototag.model.evidence import build_gallery, build_queries
from phototag.model.ranking import Ranker

SUGGEST_ROWS = ("suggest", "suggest_owner")
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


class OwnerRanking:
    """What `suggest` ranks without a personal model, with `train_part` as the library's tagged photos: the
    gallery, the blend fitted on it (fit_owner_blend) and the scores of photos whose tags it has not seen.
    eval's suggest_owner row and benchmarks/bench_library_size.py use it."""

    def __init__(self, history, train_part: Sequence, looks, seed: int = 0, only: Optional[Sequence[str]] = None):
        from phototag.model.evidence import candidate_vocabulary
        from phototag.model.recommend import GeneralMapping

        self.history, self.looks = history, looks
        self.candidates = candidate_vocabulary(history)
        self.mapping = GeneralMapping(looks.general_vocabulary, history, self.candidates)
        self.gallery = build_gallery(train_part, history, self.candidates, looks.of(train_part).trunk)
        self._train_part, self._seed, self._only = train_part, seed, only

    @functools.cached_property
    def blend(self):
        from phototag.model.recommend import fit_owner_blend, fit_sample

        sample = fit_sample(self._train_part, self._seed)
        general = self.mapping.owner_scores(self.looks.of(sample).general)
        return fit_owner_blend(self.gallery, sample, general, self.history, self._seed, self._only)

    def present_rows(self, kept: Sequence[str] | None, n: int) -> list[list[int]]:
        """Each photo's kept tag as a vocabulary index (partial protocol), or no present tag."""
        from phototag.library.history import normalise

        position = {normalise(tag): i for i, tag in enumerate(self.candidates)}
        return [[position[normalise(tag)]] for tag in kept] if kept is not None else [[] for _ in range(n)]

    def scores(self, photos: Sequence, present: Sequence[Sequence[int]]) -> np.ndarray:
        """[N, V] as suggest scores them (only the best spelling variant of a group scored)."""
        from phototag.model.recommend import keep_best_variant

        photo_looks = self.looks.of(photos)
        outputs = {"general": self.mapping.owner_scores(photo_looks.general)}
        queries = build_queries(photos, present, photo_looks.trunk, outputs, self.history)
        scores, _ = Ranker(self.blend, only=self._only).score(self.gallery, queries)
        return keep_best_variant(scores, self.candidates)


def threshold_figures(
    scores: np.ndarray, candidates: Sequence[str], tags: Sequence[set[str]], top_k: int = 5
) -> dict[str, dict]:
    """What `suggest --min-score T --top-k 5` would show the held-out photos, per threshold T: suggestions per
    photo, the share of them the owner really gave (`tags`: each photo's full set of normalised tag keys,
    present ones included), and the share of photos left with no suggestion."""
    from phototag.library.history import normalise

    keys = [normalise(tag) for tag in candidates]
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    out = {}
    for threshold in THRESHOLDS:
        shown = right = empty = 0
        for row, top in enumerate(order):
            chosen = [j for j in top if scores[row, j] >= threshold]
            shown += len(chosen)
            right += sum(keys[j] in tags[row] for j in chosen)
            empty += not chosen
        n = max(len(order), 1)
        out[f"{threshold:.1f}"] = {
            "per_photo": round(shown / n, 2),
            "precision": round(right / shown, 3) if shown else None,
            "photos_without": round(empty / n, 3),
        }
    return out
