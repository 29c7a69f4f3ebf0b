"""Fitting a personal model's suggestion ranking (phototag.model.ranking): the linear probe on the fit photos,
then the blend of every signal on the validation photos, which no signal has seen.

Used by `finetune` (saved with the model) and by the `suggest` rows of `eval` (on each split's training part).
Fitting and scoring go through phototag.model.ranking.Ranker, the one that suggest ranks with, so eval measures
what suggest ranks by construction; this module only gathers the model outputs (probe, personal, general).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from phototag.model.evidence import Looks, build_gallery, build_queries, held_out_queries, spread, tag_rows
from phototag.model.probe import Probe
from phototag.model.ranking import Blend, Ranker
from phototag.model.signals import available
from phototag.train.finetune import predict
from phototag.train.fit import FitSet
from phototag.train.probe import fit_probe

MIN_VALIDATION_PHOTOS = 30  # fewer: the blend stays near its defaults and finetune says its figures are shaky


@dataclass
class FittedRanking:
    probe: Probe
    blend: Blend

    def meta(self) -> dict:
        return self.blend.to_json()


def fit_ranking(
    fitset: FitSet,
    model: torch.nn.Module,
    looks: dict[str, Looks],  # "fit" and "val": the Looks of fitset.fit.photos and fitset.val.photos, in order
    mapping,  # phototag.model.recommend.GeneralMapping over `candidates`
    candidates: Sequence[str],
    seed: int = 0,
    only: Optional[Sequence[str]] = None,  # the signals weighed (all by default; eval's ablations)
) -> FittedRanking:
    probe = fit_probe(looks["fit"].head, fitset.fit.labels.numpy())
    val = fitset.val
    if len(val) == 0:
        return FittedRanking(
            probe, Blend.defaults([n for n in available(PERSONAL_OUTPUTS) if only is None or n in only])
        )
    gallery = build_gallery(fitset.fit.photos, fitset.history, candidates, looks["fit"].trunk)
    outputs = personal_outputs(model, val, probe, looks["val"], fitset.vocabulary, candidates)
    outputs["general"] = mapping.owner_scores(looks["val"].general)
    truth = np.zeros((len(val), len(candidates)), dtype=np.float32)
    for row, tags in enumerate(tag_rows(val.photos, fitset.history, candidates)):
        truth[row, tags] = 1.0
    queries, doubled = held_out_queries(val.photos, truth, looks["val"].trunk, outputs, fitset.history, seed)
    blend = Ranker(only=only).fit(gallery, queries, doubled)
    blend.settings = {"general_by_meaning": mapping.by_meaning}
    return FittedRanking(probe, blend)


def personal_outputs(
    model, examples, probe: Probe, looks: Looks, vocabulary: Sequence[str], candidates: Sequence[str]
) -> dict[str, np.ndarray]:
    """The personal model's and the probe's probabilities for `examples`, on the candidate vocabulary."""
    return {
        "personal": spread(predict(model, examples).astype(np.float64), vocabulary, candidates),
        "probe": spread(probe(looks.head), vocabulary, candidates),
    }


SUGGEST_ROWS = ("suggest", "suggest_owner")
PERSONAL_OUTPUTS = ("probe", "personal", "general")  # the model outputs of a ranking with a personal model
ROW_OUTPUTS = {"suggest": PERSONAL_OUTPUTS, "suggest_owner": ("general",)}  # each suggest row's model outputs


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


def held_out_scores(
    fitset: FitSet,
    train_part: Sequence,
    test,  # phototag.train.data.Examples: the photos to score (their tags unseen)
    kept: Sequence[str] | None,  # partial protocol: each test photo's one present tag
    looks,  # phototag.model.evidence.LibraryLooks of every photo involved
    model: torch.nn.Module | None,  # the personal model trained on fitset (A6), for the "suggest" row
    rows: Sequence[str],
    seed: int = 0,
    advance=lambda n: None,
    only: Optional[Sequence[str]] = None,  # the signals weighed (all by default; eval --without / --signals)
) -> dict[str, tuple[np.ndarray, list[str], dict]]:
    """What `suggest` would rank for the test photos with `train_part` as the tagged library: "suggest" after
    finetune on it (fitset), "suggest_owner" without a personal model. Per row: scores over the candidate
    vocabulary (only the best spelling variant of a group scored, as suggest shows one), that vocabulary,
    and the blend used."""
    from phototag.model.recommend import keep_best_variant

    history = fitset.history
    owner = OwnerRanking(history, train_part, looks, seed, only)
    candidates, gallery, mapping = owner.candidates, owner.gallery, owner.mapping
    present = owner.present_rows(kept, len(test.photos))
    test_looks = looks.of(test.photos)
    general = mapping.owner_scores(test_looks.general)
    out = {}
    if "suggest_owner" in rows:
        out["suggest_owner"] = (owner.scores(test.photos, present), candidates, owner.blend.to_json())
    advance(1)
    if "suggest" in rows and model is not None:
        parts = {"fit": looks.of(fitset.fit.photos), "val": looks.of(fitset.val.photos)}
        fitted = fit_ranking(fitset, model, parts, mapping, candidates, seed, only)
        outputs = dict(
            personal_outputs(model, test, fitted.probe, test_looks, fitset.vocabulary, candidates), general=general
        )
        queries = build_queries(test.photos, present, test_looks.trunk, outputs, history)
        scores, _ = Ranker(fitted.blend, only=only).score(gallery, queries)
        out["suggest"] = (keep_best_variant(scores, candidates), candidates, fitted.meta())
    advance(1)
    return out


THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


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
