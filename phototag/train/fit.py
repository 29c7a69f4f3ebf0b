"""The one fit pipeline: vocabulary -> validation split -> arrays -> training -> the saved model.

`phototag finetune` (phototag.app.finetune), each model row of `phototag eval`
(phototag.app.evaluate, on the training part) and the benchmarks all learn from
a library through these steps, so they see it the same way:

    vocabulary = choose_vocabulary(history, min_count)      # phototag.train.data
    fitset = prepare_fit(photos, history, vocabulary, features, val_fraction, seed)
    result = fitset.train(options, backbone_head=...)
    folder = save_fitted(index, fitset, result, options, ...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from phototag.errors import PhototagError
from phototag.library.history import TagHistory
from phototag.library.index import PhotoRow
from phototag.model import checkpoint as ck
from phototag.train.data import Examples, build_examples, hierarchy_map, owner_histories
from phototag.train.options import TrainOptions
from phototag.train.split import split_items

if TYPE_CHECKING:
    from phototag.train.finetune import TrainResult

MIN_TAGS = 2  # a personal model ranks tags: it needs at least two
MIN_PHOTOS = 4  # and a few photos to learn them from


class NotEnoughData(PhototagError, ValueError):
    """Too few tagged photos or tags to learn (or to evaluate); the person can fix it by tagging more."""


def check_learnable(tagged: Sequence[PhotoRow], vocabulary: Sequence[str], min_count: int) -> None:
    if len(vocabulary) < MIN_TAGS or len(tagged) < MIN_PHOTOS:
        raise NotEnoughData(
            f"too little to learn from: {len(tagged)} tagged photo(s), {len(vocabulary)} tag(s) used at least "
            f"{min_count} times; tag more photos or lower --min-count"
        )


@dataclass
class FitSet:
    """What a model learns from: a fit part and a validation part (early stopping) over one vocabulary."""

    history: TagHistory  # tags and owners of the photos; u_h comes from it, each photo left out
    vocabulary: list[str]
    fit: Examples
    val: Examples

    def signature(self, options: TrainOptions) -> str:
        """What a resumable state of training on this set with `options` belongs to."""
        return _training().signature(self.fit, self.val, options, self.vocabulary)

    def train(self, options: TrainOptions, **hooks: Any) -> TrainResult:
        """`train_heads` on this set; hooks: on_epoch, on_batch, resume_state, save_state, backbone_head."""
        return _training().train_heads(self.fit, self.val, self.vocabulary, options, **hooks)


def _training():
    """The training loop (phototag.train.finetune), imported when a model is trained: it needs PyTorch, which
    splitting and building the arrays (eval's rows that train nothing) do not."""
    from phototag.train import finetune

    return finetune


def prepare_fit(
    photos: Sequence[PhotoRow],
    history: TagHistory,
    vocabulary: Sequence[str],
    features: Optional[Mapping[str, Any]],  # fingerprint -> feature map (numpy or torch); None: no training
    val_fraction: float,
    seed: int,
) -> FitSet:
    """Hold out `val_fraction` of `photos` (which must have features) by content, seeded, and build both parts'
    arrays."""
    if val_fraction > 0:
        fit_part, val_part = split_items(photos, [p.fingerprint for p in photos], val_fraction, seed)
    else:
        fit_part, val_part = list(photos), []
    vocabulary = list(vocabulary)
    return FitSet(
        history,
        vocabulary,
        build_examples(fit_part, history, history, vocabulary, features),
        build_examples(val_part, history, history, vocabulary, features),
    )


def save_fitted(
    index_or_dir,
    fitset: FitSet,
    result: TrainResult,
    options: TrainOptions,
    *,
    backbone: str,
    features: str,
    min_count: int,
    val_fraction: float,
    ranking=None,  # phototag.train.ranking.FittedRanking: the probe and blend suggest ranks with
    comparison: Optional[dict] = None,  # the ranking with and without this model on held-out photos (finetune)
) -> Path:
    """Save the trained heads with every owner's full history as a personal model; returns its folder.

    `backbone` and `features` (the extractor's cache key) tell suggest which features to feed it."""
    owners, histories = owner_histories(fitset.history, fitset.vocabulary)
    meta = ck.model_meta(
        vocabulary=fitset.vocabulary,
        hierarchy=hierarchy_map(fitset.history, fitset.vocabulary),
        owners=owners,
        owner_from=fitset.history.owner_from,
        backbone=backbone,
        features=features,
        feature_shape=tuple(fitset.fit.features.shape[1:]),
        feature_pool=options.feature_pool,
        options={
            **asdict(options),
            "loss_weights": list(options.loss_weights),
            "min_count": min_count,
            "val_fraction": val_fraction,
        },
        metrics={"validation": result.best_val, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run},
        photos={"train": len(fitset.fit), "validation": len(fitset.val)},
        seconds=result.seconds,
    )
    if comparison is not None:
        meta["metrics"]["comparison"] = comparison
    extra = None
    if ranking is not None:
        meta["blend"] = ranking.meta()
        extra = ranking.probe.tensors()
    return ck.save_model(index_or_dir, result.model.heads.state_dict(), histories, meta, extra)


def batches_per_epoch(fitset: FitSet, options: TrainOptions) -> int:
    return -(-len(fitset.fit) // options.batch_size)
