"""Use case: fit a personal model on the photos a person already tagged (`phototag finetune`).

Scan, compute missing backbone features of the tagged photos, run the fit
pipeline (phototag.train.fit) with a resumable state saved after every epoch,
save the model with the library. Ctrl-C (KeyboardInterrupt) leaves the state of
the last finished epoch for `resume=True`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from phototag.app.scan import scan
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.model import checkpoint as ck
from phototag.model.features import library_features
from phototag.reporting import Reporter
from phototag.train.data import choose_vocabulary
from phototag.train.finetune import EpochReport, TrainOptions, TrainResult
from phototag.train.fit import MIN_PHOTOS, FitSet, NotEnoughData, batches_per_epoch, check_learnable, prepare_fit, save_fitted
from phototag.train.ranking import MIN_VALIDATION_PHOTOS, FittedRanking, fit_ranking


@dataclass
class FinetuneConfig:
    owner_from: str = "library"
    min_count: int = 3
    val_fraction: float = 0.15
    train: TrainOptions = field(default_factory=TrainOptions)  # its seed also seeds the validation split
    backbone: str = "lite0"
    device: str = "auto"
    resume: bool = False  # continue the interrupted run of the same photos, tags and options
    rescan: bool = True  # look for new or changed photos first
    follow_links: bool = False  # the scan also walks folders that links lead to


@dataclass
class Finetuned:
    folder: Path  # the saved personal model
    fitset: FitSet
    result: TrainResult


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
        f"training on {len(fitset.fit)} photos, validating on {len(fitset.val)}, vocabulary {len(fitset.vocabulary)} tags, "
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
    ranking = _fit_ranking(index, fitset, result, extractor, features, reporter)
    folder = save_fitted(
        index, fitset, result, options,
        backbone=extractor.backbone, features=extractor.key, min_count=config.min_count, val_fraction=config.val_fraction,
        ranking=ranking,
    )
    ck.clear_resume_state(index)
    return Finetuned(folder, fitset, result)


def _prepare(index: Index, config: FinetuneConfig, reporter: Reporter):
    """The fit set of the library's tagged photos that have (or now get) backbone features, and the extractor."""
    if config.rescan:
        scan(index, reporter, follow_links=config.follow_links)
    history = TagHistory(index.photos(), owner_from=config.owner_from)
    vocabulary = choose_vocabulary(history, config.min_count)
    tagged = history.tagged_photos()
    check_learnable(tagged, vocabulary, config.min_count)
    features, extractor = library_features(index, tagged, config.backbone, config.device, reporter)
    photos = [p for p in tagged if p.fingerprint in features]
    if len(photos) < MIN_PHOTOS:
        raise NotEnoughData("too few tagged photos could be decoded to train on")
    return prepare_fit(photos, history, vocabulary, features, config.val_fraction, config.train.seed), extractor, features


def _fit_ranking(index: Index, fitset: FitSet, result: TrainResult, extractor, features, reporter: Reporter) -> FittedRanking:
    """The probe and the blend that suggest will rank with (phototag.train.ranking), fitted on this run's photos."""
    from phototag.model.evidence import Looks, candidate_vocabulary, general_readout
    from phototag.model.recommend import GeneralMapping

    candidates = candidate_vocabulary(fitset.history)
    readout = general_readout(extractor.top)
    looks = {part: Looks.of(readout, [features[p.fingerprint] for p in examples.photos])
             for part, examples in (("fit", fitset.fit), ("val", fitset.val))}
    mapping = GeneralMapping(readout.vocabulary, fitset.history, candidates, cache=index.data_dir / "tag-embeddings.safetensors")
    n_val = len(fitset.val)
    if n_val < MIN_VALIDATION_PHOTOS:
        reporter.warn(
            f"only {n_val} validation photo(s) (of {len(fitset.fit) + n_val} tagged): its figures are rough "
            f"(P@5 on {n_val} photos moves by about ±{_p5_spread(n_val):.2f} from chance alone) and the suggestion "
            f"blend stays near its defaults; trust it more with {MIN_VALIDATION_PHOTOS}+ validation photos"
        )
    fitted = fit_ranking(fitset, result.model, looks, mapping, candidates, seed=0)
    reporter.info(f"suggestion blend fitted on {n_val} validation photos: {fitted.blend.describe()}")
    return fitted


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
