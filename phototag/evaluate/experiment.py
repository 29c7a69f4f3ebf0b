"""`phototag eval`: split the tagged photos, train on one part, predict the other, score every method.

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
    stop early on validation P@5; the test part is never looked at until the
    final prediction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from phototag.evaluate import baselines
from phototag.metrics import KS, Evaluation, evaluate_scores
from phototag.evaluate.split import SPLIT_MODES, split_items
from phototag.library.history import TagHistory
from phototag.library.index import PhotoRow
from phototag.train.data import build_examples, choose_vocabulary
from phototag.train.finetune import EpochReport, TrainOptions, predict, train_heads

ROWS = (
    ("library", "Library most-frequent (paper's Baseline)"),
    ("owner", "Owner most-frequent"),
    ("knn", "kNN label transfer"),
    ("A1", "Visual only (A1)"),
    ("A2", "Preference, no adversarial (A2)"),
    ("A6", "Full model (A6)"),
    ("A4", "Full model, cold start (A4)"),
)


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


@dataclass
class EvalResult:
    config: dict
    counts: dict[str, int]
    results: dict[str, Evaluation]  # row key -> evaluation
    training: dict[str, dict] = field(default_factory=dict)  # variant -> best epoch, epochs, seconds
    seconds: float = 0.0

    def to_json(self) -> dict:
        labels = dict(ROWS)
        return {
            "config": self.config,
            "counts": self.counts,
            "rows": [
                {
                    "method": key,
                    "label": labels[key],
                    "per_photo": ev.per_photo,
                    "per_owner": ev.per_owner,
                    "photos": ev.photos,
                    "owners": ev.owners,
                    **({"training": self.training[key]} if key in self.training else {}),
                }
                for key, ev in self.results.items()
            ],
            "seconds": round(self.seconds, 1),
        }


def _split_key(photo: PhotoRow, history: TagHistory, split_by: str):
    if split_by == "owner":
        return history.owner_of(photo)
    if split_by == "folder":
        return photo.folder
    # By content: byte-identical copies of one picture under two names must not sit on both sides.
    return photo.fingerprint or photo.id


def run_eval(
    photos: Sequence[PhotoRow],
    features: dict[str, torch.Tensor],
    config: EvalConfig,
    *,
    on_stage: Optional[Callable[[str], None]] = None,
    on_epoch: Optional[Callable[[str, EpochReport], None]] = None,
    backbone_head: Optional[torch.nn.Module] = None,
) -> EvalResult:
    """Everything of one evaluation; `photos` must be tagged and have features (keyed by fingerprint)."""
    started = time.perf_counter()
    stage = on_stage or (lambda _text: None)
    everything = TagHistory(photos, config.owner_from)
    photos = [p for p in everything.tagged_photos() if p.fingerprint in features]
    keys = [_split_key(p, everything, config.split_by) for p in photos]
    train_part, test_part = split_items(photos, keys, config.test_fraction, config.seed)
    if not train_part or not test_part:
        raise ValueError("too few tagged photos (or owners/folders) to split into training and test parts")
    train_history = TagHistory(train_part, config.owner_from)
    vocabulary = choose_vocabulary(train_history, config.min_count)
    if not vocabulary:
        raise ValueError(f"no tag is used {config.min_count} times in the training part; lower --min-count")
    new_owners = {everything.owner_of(p) for p in test_part} - set(train_history.owner_counts)
    test_history = TagHistory([p for p in test_part if everything.owner_of(p) in new_owners], config.owner_from)

    # Validation share of the training part, for early stopping only (a photo split, seeded differently).
    fit_part, val_part = split_items(train_part, [p.fingerprint for p in train_part], config.val_fraction, config.seed + 1)
    fit = build_examples(fit_part, train_history, train_history, vocabulary, features)
    val = build_examples(val_part, train_history, train_history, vocabulary, features)
    test = build_examples(
        test_part, everything, train_history, vocabulary, features, owner_history={o: test_history for o in new_owners}
    )
    scored = [i for i, truth in enumerate(test.truths) if truth]
    dropped = len(test) - len(scored)
    test = test.subset(scored)
    train_all = build_examples(train_part, train_history, train_history, vocabulary, features)

    truths, owners = test.truths, test.owners
    results: dict[str, Evaluation] = {}
    training: dict[str, dict] = {}

    def score(key: str, matrix: np.ndarray) -> None:
        results[key] = evaluate_scores(matrix, vocabulary, truths, owners, KS)

    train_labels = train_all.labels.numpy()
    if "library" in config.rows:
        score("library", baselines.library_most_frequent(train_labels, len(test)))
    if "owner" in config.rows:
        score("owner", baselines.owner_most_frequent(test.histories.numpy(), train_labels))
    if "knn" in config.rows:
        stage("kNN label transfer")
        score(
            "knn",
            baselines.knn_label_transfer(
                baselines.embeddings(train_all.features.float().numpy()),
                train_labels,
                baselines.embeddings(test.features.float().numpy()),
                k=config.knn_k,
            ),
        )
    for variant in ("A1", "A2", "A6"):
        wanted = variant in config.rows or (variant == "A6" and "A4" in config.rows)
        if not wanted:
            continue
        stage(f"training {variant}")
        options = replace(config.train, variant=variant)
        outcome = train_heads(
            fit,
            val,
            vocabulary,
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
            score(variant, predict(outcome.model, test, use_history=options.uses_history))
        if variant == "A6" and "A4" in config.rows:
            score("A4", predict(outcome.model, test, use_history=False))
            training["A4"] = dict(training["A6"])

    ordered = {key: results[key] for key, _ in ROWS if key in results}
    counts = {
        "tagged_photos": len(photos),
        "train_photos": len(train_part),
        "fit_photos": len(fit_part),
        "val_photos": len(val_part),
        "test_photos_scored": len(test),
        "test_photos_without_vocabulary_tags": dropped,
        "vocabulary": len(vocabulary),
        "owners": len(everything.owner_counts),
        "test_owners": len(set(owners)),
        "test_owners_unseen_in_training": len(new_owners),
    }
    config_json = asdict(config)
    config_json["rows"] = list(config.rows)
    return EvalResult(config_json, counts, ordered, training, time.perf_counter() - started)
