"""Use case: how good would suggestions be on this library? (`phototag eval`, benchmarks/bench_eval.py)

Protocol (all rows come from the same split and the same run):
  - The tagged photos that have cached features are split (seeded) by photo,
    owner or folder into a training part and a test part (`test_fraction`).
    A photo split keeps byte-identical copies (same content fingerprint) on one
    side, so a duplicate cannot be "recognised" from the training part.
  - The vocabulary is the tags used at least `min_count` times in the training
    part; a test photo's truth is its tags within that vocabulary (a tag nobody
    used in training cannot be suggested by any method); test photos left with
    no tag are not scored (their number is reported).
  - u_h of a photo is its owner's history over the training part, the photo
    itself left out. Owners with no training photos (owner or folder splits)
    get it from their other held-out photos, the photo itself left out: no
    photo ever sees its own tags.
  - The models train on the training part minus a validation share of it and
    stop early on validation P@5 (the fit pipeline of phototag.train.fit); the
    test part is never looked at until the final prediction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from phototag.app.scan import scan
from phototag.evaluate.baselines import baseline_scores
from phototag.evaluate.result import ROWS, EvalResult
from phototag.library.history import TagHistory
from phototag.library.index import Index, PhotoRow
from phototag.metrics import KS, Evaluation, evaluate_scores
from phototag.model.features import library_features
from phototag.reporting import Reporter
from phototag.train.data import Examples, build_examples, choose_vocabulary
from phototag.train.finetune import EpochReport, TrainOptions, predict
from phototag.train.fit import FitSet, NotEnoughData, prepare_fit
from phototag.train.split import SPLIT_MODES, split_items, split_key

MIN_TAGGED = 10  # fewer tagged photos cannot be split into meaningful parts
VARIANT_ROWS = ("A1", "A2", "A6")  # trained models; A4 is A6 without history

EpochCallback = Callable[[str, EpochReport], None]  # (variant, report)


@dataclass
class EvalConfig:
    split_by: str = "photo"
    test_fraction: float = 0.2
    val_fraction: float = 0.15
    min_count: int = 3
    owner_from: str = "library"
    knn_k: int = 10
    seed: int = 0
    train: TrainOptions = field(default_factory=TrainOptions)
    rows: Sequence[str] = tuple(key for key, _ in ROWS)

    def __post_init__(self) -> None:
        if self.split_by not in SPLIT_MODES:
            raise ValueError(f"--split-by must be one of {', '.join(SPLIT_MODES)}")


def evaluate_library(
    index: Index,
    config: EvalConfig,
    reporter: Reporter,
    *,
    backbone: str = "lite0",
    device: str = "auto",
    rescan: bool = True,
    follow_links: bool = False,
    on_epoch: Optional[EpochCallback] = None,
) -> EvalResult:
    """Scan (unless `rescan` is False; `follow_links`: into linked folders too), compute missing backbone features of the tagged photos, run the protocol.

    Raises NotEnoughData, WeightsError or DeviceUnavailable with a message for the person."""
    if rescan:
        scan(index, reporter, follow_links=follow_links)
    tagged = TagHistory(index.photos(), owner_from=config.owner_from).tagged_photos()
    if len(tagged) < MIN_TAGGED:
        raise NotEnoughData(f"only {len(tagged)} tagged photo(s): too few to evaluate (tag more photos first)")
    features, extractor = library_features(index, tagged, backbone, device, reporter)
    return run_eval(tagged, features, config, reporter, on_epoch=on_epoch, backbone_head=extractor.model.head)


@dataclass
class _Split:
    """One evaluation's parts: the fit pipeline's input (training part) and the scored test photos."""

    everything: TagHistory
    photos: list[PhotoRow]  # tagged photos with features
    train_part: list[PhotoRow]
    fitset: FitSet
    train_all: Examples  # the whole training part (baselines learn from it)
    test: Examples  # scored test photos only
    dropped: int  # test photos with no tag of the vocabulary
    new_owners: set[str]  # test owners absent from the training part


def run_eval(
    photos: Sequence[PhotoRow],
    features: dict[str, torch.Tensor],
    config: EvalConfig,
    reporter: Reporter,
    *,
    on_epoch: Optional[EpochCallback] = None,
    backbone_head: Optional[torch.nn.Module] = None,
) -> EvalResult:
    """Every row of one evaluation; `photos` must be tagged and have features (keyed by fingerprint)."""
    started = time.perf_counter()
    split = _split(photos, features, config)
    train_all, test = split.train_all, split.test
    scores = baseline_scores(
        config.rows,
        train_all.labels.numpy(),
        train_all.features.float().numpy(),
        test.histories.numpy(),
        test.features.float().numpy(),
        config.knn_k,
        reporter,
    )
    training = _train_variants(split.fitset, test, config, reporter, on_epoch, backbone_head, scores)
    vocabulary = split.fitset.vocabulary
    results: dict[str, Evaluation] = {
        key: evaluate_scores(scores[key], vocabulary, test.truths, test.owners, KS) for key, _ in ROWS if key in scores
    }
    config_json = asdict(config)
    config_json["rows"] = list(config.rows)
    return EvalResult(config_json, _counts(split), results, training, time.perf_counter() - started)


def _split(photos: Sequence[PhotoRow], features: dict[str, torch.Tensor], config: EvalConfig) -> _Split:
    everything = TagHistory(photos, config.owner_from)
    photos = [p for p in everything.tagged_photos() if p.fingerprint in features]
    keys = [split_key(p, everything, config.split_by) for p in photos]
    train_part, test_part = split_items(photos, keys, config.test_fraction, config.seed)
    if not train_part or not test_part:
        raise NotEnoughData("too few tagged photos (or owners/folders) to split into training and test parts")
    train_history = TagHistory(train_part, config.owner_from)
    vocabulary = choose_vocabulary(train_history, config.min_count)
    if not vocabulary:
        raise NotEnoughData(f"no tag is used {config.min_count} times in the training part; lower --min-count")
    new_owners = {everything.owner_of(p) for p in test_part} - set(train_history.owner_counts)
    test_history = TagHistory([p for p in test_part if everything.owner_of(p) in new_owners], config.owner_from)

    # Validation share of the training part, for early stopping only (a photo split, seeded differently).
    fitset = prepare_fit(train_part, train_history, vocabulary, features, config.val_fraction, config.seed + 1)
    test = build_examples(
        test_part, everything, train_history, vocabulary, features, owner_history={o: test_history for o in new_owners}
    )
    scored = [i for i, truth in enumerate(test.truths) if truth]
    train_all = build_examples(train_part, train_history, train_history, vocabulary, features)
    return _Split(everything, photos, train_part, fitset, train_all, test.subset(scored), len(test) - len(scored), new_owners)


def _train_variants(
    fitset: FitSet,
    test: Examples,
    config: EvalConfig,
    reporter: Reporter,
    on_epoch: Optional[EpochCallback],
    backbone_head: Optional[torch.nn.Module],
    scores: dict[str, np.ndarray],
) -> dict[str, dict]:
    """Train each model row the config asks for and add its test scores; returns each variant's training figures."""
    training: dict[str, dict] = {}
    for variant in VARIANT_ROWS:
        wanted = variant in config.rows or (variant == "A6" and "A4" in config.rows)
        if not wanted:
            continue
        reporter.info(f"training {variant}")
        options = replace(config.train, variant=variant)
        outcome = fitset.train(
            options,
            on_epoch=(lambda r, v=variant: on_epoch(v, r)) if on_epoch else None,
            backbone_head=backbone_head,
        )
        training[variant] = {
            "best_epoch": outcome.best_epoch,
            "epochs": outcome.epochs_run,
            "val_P@5": outcome.best_val.get("P@5"),
            "seconds": round(outcome.seconds, 1),
        }
        if variant in config.rows:
            scores[variant] = predict(outcome.model, test, use_history=options.uses_history)
        if variant == "A6" and "A4" in config.rows:
            scores["A4"] = predict(outcome.model, test, use_history=False)
            training["A4"] = dict(training["A6"])
    return training


def _counts(split: _Split) -> dict[str, int]:
    return {
        "tagged_photos": len(split.photos),
        "train_photos": len(split.train_part),
        "fit_photos": len(split.fitset.fit),
        "val_photos": len(split.fitset.val),
        "test_photos_scored": len(split.test),
        "test_photos_without_vocabulary_tags": split.dropped,
        "vocabulary": len(split.fitset.vocabulary),
        "owners": len(split.everything.owner_counts),
        "test_owners": len(set(split.test.owners)),
        "test_owners_unseen_in_training": len(split.new_owners),
    }
