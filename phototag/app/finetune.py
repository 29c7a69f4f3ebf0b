"""Use case: fit a personal model on the photos a person already tagged (`phototag finetune`).

Scan, compute missing backbone features of the tagged photos, run the fit
pipeline (phototag.train.fit) with a resumable state saved after every epoch,
save the model with the library. Ctrl-C (KeyboardInterrupt) leaves the state of
the last finished epoch for `resume=True`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from phototag.app.evaluate import held_out_scores
from phototag.app.scan import scan
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.metrics import photo_metrics
from phototag.model import checkpoint as ck
from phototag.model.choices import DEFAULT_BACKBONE
from phototag.model.evidence import LibraryLooks, general_readout
from phototag.model.features import library_features
from phototag.reporting import Reporter
from phototag.train.data import choose_vocabulary
from phototag.train.finetune import EpochReport, TrainOptions, TrainResult
from phototag.train.fit import (
    MIN_PHOTOS,
    FitSet,
    NotEnoughData,
    batches_per_epoch,
    check_learnable,
    prepare_fit,
    save_fitted,
)
from phototag.train.ranking import MIN_VALIDATION_PHOTOS, FittedRanking, fit_ranking

MIN_COMPARISON_PHOTOS = 10  # fewer held-out photos cannot tell two rankings apart: finetune never switches on them


@dataclass
class FinetuneConfig:
    owner_from: str = "library"
    min_count: int = 3
    val_fraction: float = 0.15
    train: TrainOptions = field(default_factory=TrainOptions)  # its seed also seeds the validation split
    backbone: str = DEFAULT_BACKBONE
    device: str = "auto"
    resume: bool = False  # continue the interrupted run of the same photos, tags and options
    rescan: bool = True  # look for new or changed photos first
    follow_links: bool = False  # the scan also walks folders that links lead to
    ray: Optional[str] = None  # compute the missing features on the Ray cluster at this address (app.cluster)


@dataclass
class Comparison:
    """The suggestion ranking's P@5 with and without the new personal model on the same held-out photos."""

    with_model: list[float]  # per held-out photo
    without: list[float]

    @property
    def photos(self) -> int:
        return len(self.with_model)

    @property
    def gain(self) -> float:
        return float(np.mean(self.with_model) - np.mean(self.without)) if self.photos else 0.0

    @property
    def standard_error(self) -> float:
        """Of the mean paired gain (each photo scored both ways): how much of `gain` chance alone explains."""
        if self.photos < 2:
            return float("inf")
        return float(np.std(np.subtract(self.with_model, self.without), ddof=1) / np.sqrt(self.photos))

    @property
    def beats(self) -> bool:
        """A real gain: on at least MIN_COMPARISON_PHOTOS photos, better by more than twice the standard error
        (a tie, a loss or a gain chance explains keeps what suggest had)."""
        return self.photos >= MIN_COMPARISON_PHOTOS and self.gain > 0 and self.gain > 2 * self.standard_error

    def as_dict(self) -> dict[str, Any]:
        def mean(values):
            return round(float(np.mean(values)), 4) if values else None

        return {
            "metric": "P@5",
            "photos": self.photos,
            "with": mean(self.with_model),
            "without": mean(self.without),
            "beats": self.beats,
        }


@dataclass
class Finetuned:
    folder: Path  # the saved personal model
    fitset: FitSet
    result: TrainResult
    comparison: Comparison
    made_default: bool  # suggest uses the new model from now on
    in_use: Optional[str] = None  # the personal model suggest uses now (None: no personal model)


def finetune(
    index: Index,
    config: FinetuneConfig,
    reporter: Reporter,
    *,
    on_epoch: Optional[Callable[[EpochReport], None]] = None,
) -> Finetuned:
    """Train and save a personal model of the library.

    Raises NotEnoughData, WeightsError or DeviceUnavailable with a message for the person;
    KeyboardInterrupt passes through (the last finished epoch is saved for resuming)."""
    fitset, extractor, features = _prepare(index, config, reporter)
    options = config.train
    run_signature = fitset.signature(options)
    state = _resume_state(index, run_signature, config.resume, reporter)
    reporter.info(
        f"training on {len(fitset.fit)} photos, validating on {len(fitset.val)}, vocabulary "
        f"{len(fitset.vocabulary)} tags, "
        f"{len(fitset.history.owner_counts)} owner(s), threads {torch.get_num_threads()}"
    )
    batches = batches_per_epoch(fitset, options)
    with reporter.progress("Training", batches * options.epochs, unit="steps") as task:
        if state is not None:
            task.completed(batches * int(state["epoch"]))

        def epoch_done(report: EpochReport) -> None:
            task.completed(batches * report.epoch)
            if on_epoch is not None:
                on_epoch(report)

        result = fitset.train(
            options,
            on_epoch=epoch_done,
            on_batch=lambda: task.advance(1),
            resume_state=state,
            save_state=lambda s: ck.save_resume_state(index, s, run_signature),
            backbone_head=extractor.top.head,
        )
    looks = LibraryLooks(
        general_readout(extractor.backbone), list(fitset.fit.photos) + list(fitset.val.photos), features
    )
    ranking = _fit_ranking(index, fitset, result, looks, reporter)
    comparison = compare_on_held_out(fitset, result.model, looks)
    before = ck.in_use(ck.list_checkpoints(index), ck.chosen(index)) or ck.GENERAL  # what suggest had
    folder = save_fitted(
        index,
        fitset,
        result,
        options,
        backbone=extractor.backbone,
        features=extractor.key,
        min_count=config.min_count,
        val_fraction=config.val_fraction,
        ranking=ranking,
        comparison=comparison.as_dict(),
    )
    ck.choose(index, folder.name if comparison.beats else before)
    ck.clear_resume_state(index)
    in_use = folder.name if comparison.beats else (None if before == ck.GENERAL else before)
    return Finetuned(folder, fitset, result, comparison, comparison.beats, in_use)


def _prepare(index: Index, config: FinetuneConfig, reporter: Reporter):
    """The fit set of the library's tagged photos that have (or now get) backbone features, and the extractor."""
    if config.ray:
        from phototag.app import cluster

        cluster.require_ray()
        cluster.check_answers(config.ray)  # before the scan, which can be long
    if config.rescan:
        scan(index, reporter, follow_links=config.follow_links)
    history = TagHistory(index.photos(), owner_from=config.owner_from)
    vocabulary = choose_vocabulary(history, config.min_count)
    tagged = history.tagged_photos()
    check_learnable(tagged, vocabulary, config.min_count)
    if config.ray:
        cluster.finetune_features(index, tagged, config.backbone, config.device, reporter, config.ray)
    features, extractor = library_features(index, tagged, config.backbone, config.device, reporter)
    photos = [p for p in tagged if p.fingerprint in features]
    if len(photos) < MIN_PHOTOS:
        raise NotEnoughData("too few tagged photos could be decoded to train on")
    return (
        prepare_fit(photos, history, vocabulary, features, config.val_fraction, config.train.seed),
        extractor,
        features,
    )


def _fit_ranking(index: Index, fitset: FitSet, result: TrainResult, looks, reporter: Reporter) -> FittedRanking:
    """The probe and the blend that suggest will rank with (phototag.train.ranking), fitted on this run's photos."""
    from phototag.model.evidence import candidate_vocabulary
    from phototag.model.recommend import GeneralMapping

    candidates = candidate_vocabulary(fitset.history)
    mapping = GeneralMapping(
        looks.general_vocabulary, fitset.history, candidates, cache=index.data_dir / "tag-embeddings.safetensors"
    )
    n_val = len(fitset.val)
    if n_val < MIN_VALIDATION_PHOTOS:
        reporter.warn(
            f"only {n_val} validation photo(s) (of {len(fitset.fit) + n_val} tagged): its figures are rough "
            f"(P@5 on {n_val} photos moves by about ±{_p5_spread(n_val):.2f} from chance alone) and the suggestion "
            f"blend stays near its defaults; trust it more with {MIN_VALIDATION_PHOTOS}+ validation photos"
        )
    parts = {"fit": looks.of(fitset.fit.photos), "val": looks.of(fitset.val.photos)}
    fitted = fit_ranking(fitset, result.model, parts, mapping, candidates, seed=0)
    reporter.info(f"suggestion blend fitted on {n_val} validation photos: {fitted.blend.describe()}")
    return fitted


def compare_on_held_out(fitset: FitSet, model: torch.nn.Module, looks) -> Comparison:
    """P@5 of what suggest would rank with the personal model and without it, on the validation photos, with the
    fit photos as the library. The blend with the model is fitted on the validation photos too, so each half of
    them is scored by a blend fitted on the other half (cross-fitting): no figure is scored on its own fit photos."""
    val = fitset.val
    scored = [i for i, truth in enumerate(val.truths) if truth]
    halves = [scored[0::2], scored[1::2]]
    with_model: dict[int, float] = {}
    without: dict[int, float] = {}
    if not all(halves):
        return Comparison([], [])
    train_part = list(fitset.fit.photos)
    owner = held_out_scores(fitset, train_part, val.subset(scored), None, looks, model, ("suggest_owner",))
    for row, p5 in zip(scored, _p5(*owner["suggest_owner"][:2], [val.truths[i] for i in scored])):
        without[row] = p5
    for test, blend_on in ((halves[0], halves[1]), (halves[1], halves[0])):
        part = replace(fitset, val=val.subset(blend_on))
        ranked = held_out_scores(part, train_part, val.subset(test), None, looks, model, ("suggest",))
        for row, p5 in zip(test, _p5(*ranked["suggest"][:2], [val.truths[i] for i in test])):
            with_model[row] = p5
    return Comparison([with_model[i] for i in scored], [without[i] for i in scored])


def _p5(scores: np.ndarray, candidates, truths) -> list[float]:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    return [photo_metrics([candidates[j] for j in row], truth, (5,))["P@5"] for row, truth in zip(order, truths)]


def _p5_spread(photos: int) -> float:
    """About one standard deviation of a P@5 near 0.4 measured on `photos` photos (5 binary picks each)."""
    return (0.4 * 0.6 / (5 * max(photos, 1))) ** 0.5


def _resume_state(index: Index, run_signature: str, resume: bool, reporter: Reporter) -> Optional[dict[str, Any]]:
    """The saved state to continue from (resume), or None; a fresh run drops any older state."""
    if not resume:
        ck.clear_resume_state(index)
        return None
    state = ck.load_resume_state(index, run_signature, warn=reporter.warn)
    if state is None:
        reporter.info("nothing to resume (no saved state for these photos and options); starting afresh")
    else:
        reporter.info(f"resuming after epoch {state['epoch']}")
    return state
