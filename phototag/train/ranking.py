"""Fitting a personal model's suggestion ranking (phototag.model.ranking): the linear probe on the fit photos,
then the blend of every signal on the validation photos, which no signal has seen.

Used by `finetune` (saved with the model) and by eval's `suggest` row (phototag.app.evaluate.held_out_scores, on
each split's training part). Fitting goes through phototag.model.ranking.Ranker, the one that suggest ranks with;
this module only gathers the model outputs (probe, personal, general).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from phototag.model.evidence import Looks, build_gallery, held_out_queries, spread, tag_rows
from phototag.model.probe import Probe
from phototag.model.ranking import PERSONAL_OUTPUTS, Blend, Ranker
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
    probe = fit_probe(looks["fit"].head, fitset.fit.labels)
    val = fitset.val
    if len(val) == 0:
        return FittedRanking(
            probe, Blend.defaults([n for n in available(PERSONAL_OUTPUTS, only) if only is None or n in only])
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
