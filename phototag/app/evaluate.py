"""Use case: how good would suggestions be on this library? (`phototag eval`, benchmarks/bench_eval.py)

Protocol (all rows come from the same splits and the same run):
  - `repeats` seeded splits (seed, seed + 1, ...); every row is scored on each,
    and its figures are the means (and standard deviations) over them.
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
    test part is never looked at until the final prediction. The rows that are
    one registered signal alone (knn, cooc, neighbours: phototag.evaluate.baselines)
    tune its parameters on the same validation share (their evidence the rest of
    the training part), then score the test part with the whole training part.
  - `protocol` (phototag.evaluate.protocols) picks the scored test photos and
    tags: untagged (all), partial (one tag kept as input), event (a tagged
    neighbour, as the neighbours signal counts them).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from phototag.app.scan import scan
from phototag.errors import TORCH_EXTRA, TorchMissing, optional_torch
from phototag.evaluate.baselines import (
    TUNING,
    Evidence,
    Tuned,
    embeddings,
    frequency_scores,
    signal_rows,
    signal_scores,
    tuning_steps,
)
from phototag.evaluate.calibration import calibration_figures
from phototag.evaluate.protocols import PROTOCOLS, partial_rows, rank_kept_last, with_tagged_neighbours
from phototag.evaluate.result import (
    EXAMPLE_TOP,
    PROTOCOL_ROWS,
    ROWS,
    Ablation,
    EvalResult,
    Example,
    SplitResult,
    row_order,
)
from phototag.evaluate.suggest_rows import SUGGEST_ROWS, OwnerRanking, threshold_figures
from phototag.library.history import TagHistory
from phototag.library.index import Index, PhotoRow
from phototag.metrics import KS, Evaluation, evaluate_scores, rank_scores
from phototag.model.choices import DEFAULT_BACKBONE
from phototag.model.evidence import LibraryLooks, build_queries, general_readout
from phototag.model.features import library_features
from phototag.model.ranking import PERSONAL_OUTPUTS, Ranker
from phototag.model.signals import Gallery, Queries, available, default_signal_names, place_of, signal_names
from phototag.reporting import Reporter
from phototag.train.data import Examples, build_examples, choose_vocabulary
from phototag.train.fit import FitSet, NotEnoughData, prepare_fit
from phototag.train.options import EpochReport, TrainOptions
from phototag.train.split import SPLIT_MODES, split_items, split_key

if TYPE_CHECKING:
    import torch

MIN_TAGGED = 10  # fewer tagged photos cannot be split into meaningful parts
EXAMPLE_PHOTOS = 8  # test photos of the first split kept with every row's top tags (eval --html shows them)
VARIANT_ROWS = ("A1", "A2", "A6")  # trained models; A4 is A6 without history
# The rows that train a model (A4 is A6's, the suggest row's personal model is A6), which needs PyTorch: without
# it they are left out and the result says so (the rest, suggest_owner included, run on numpy).
TRAINED_ROWS = (*VARIANT_ROWS, "A4", "suggest")
ROW_OUTPUTS = {"suggest": PERSONAL_OUTPUTS, "suggest_owner": ("general",)}  # each suggest row's model outputs

EpochCallback = Callable[[str, EpochReport], None]  # (variant, report)


@dataclass
class EvalConfig:
    split_by: str = "photo"
    test_fraction: float = 0.2
    val_fraction: float = 0.15
    min_count: int = 3
    owner_from: str = "library"
    knn_k: Optional[int] = None  # the knn row's k (its other parameters still tuned); None: tuned too
    seed: int = 0
    repeats: int = 1
    protocol: str = "untagged"
    train: TrainOptions = field(default_factory=TrainOptions)
    rows: Sequence[str] = tuple(key for key, _ in ROWS)
    ablations: Sequence[Ablation] = ()  # eval --without / --signals: the suggest rows again, signals left out

    def __post_init__(self) -> None:
        if self.split_by not in SPLIT_MODES:
            raise ValueError(f"--split-by must be one of {', '.join(SPLIT_MODES)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"--protocol must be one of {', '.join(PROTOCOLS)}")
        if self.repeats < 1:
            raise ValueError("--repeats must be at least 1")
        for ablation in self.ablations:
            unknown = [name for name in ablation.names if name not in signal_names()]
            if unknown or not ablation.names:
                option = "--signals" if ablation.only else "--without"
                named = ", ".join(unknown) or "(none named)"
                raise ValueError(f"{option}: no signal {named}; the signals are {', '.join(signal_names())}")

    def scored_rows(self) -> tuple[str, ...]:
        """The rows asked for that this protocol can score (co-occurrence needs a kept tag, neighbours an event)."""
        return tuple(key for key in self.rows if PROTOCOL_ROWS.get(key, self.protocol) == self.protocol)

    def rows_needing_torch(self) -> tuple[str, ...]:
        """The rows asked for that train a model, where PyTorch is not installed (run_eval leaves them out);
        () where it is."""
        asked = tuple(key for key in self.rows if key in TRAINED_ROWS)
        return asked if asked and optional_torch() is None else ()

    def trains(self) -> bool:
        """Whether the run trains a model: a row asked for (and scored) needs one, and PyTorch is there."""
        return bool(set(self.scored_rows()) & set(TRAINED_ROWS)) and not self.rows_needing_torch()


def evaluate_library(
    index: Index,
    config: EvalConfig,
    reporter: Reporter,
    *,
    backbone: str = DEFAULT_BACKBONE,
    device: str = "auto",
    rescan: bool = True,
    follow_links: bool = False,
    on_epoch: Optional[EpochCallback] = None,
) -> EvalResult:
    """Scan (unless `rescan` is False; `follow_links`: into linked folders too), compute missing backbone features of
    the tagged photos, run the protocol.

    Raises NotEnoughData, WeightsError or DeviceUnavailable with a message for the person."""
    if rescan:
        scan(index, reporter, follow_links=follow_links)
    tagged = TagHistory(index.photos(), owner_from=config.owner_from).tagged_photos()
    if len(tagged) < MIN_TAGGED:
        raise NotEnoughData(f"only {len(tagged)} tagged photo(s): too few to evaluate (tag more photos first)")
    features, extractor = library_features(index, tagged, backbone, device, reporter)
    return run_eval(
        tagged,
        features,
        config,
        reporter,
        on_epoch=on_epoch,
        backbone_head=extractor.top.head if config.trains() else None,  # PyTorch's, for the heads' shared stage
        backbone=extractor.backbone,
    )


@dataclass
class _Shared:
    """What every split and every row reuses: photos, their tags, features as the heads read them, kNN embeddings."""

    everything: TagHistory
    photos: list[PhotoRow]  # tagged photos with features
    # fingerprint -> feature map (torch), pooled once as the heads pool it; None where no row trains a model
    features: Optional[dict[str, Any]]
    embeddings: dict[str, np.ndarray]  # fingerprint -> normalised globally pooled feature vector
    backbone_head: Optional[torch.nn.Module] = None
    looks: Optional[LibraryLooks] = None  # what the suggest rows see of each photo (needs the backbone's top)

    @property
    def dimensions(self) -> int:
        return len(next(iter(self.embeddings.values()))) if self.embeddings else 1


@dataclass
class _Split:
    """One evaluation's parts: the fit pipeline's input (training part) and the scored test photos."""

    seed: int
    photos: list[PhotoRow]  # tagged photos with features
    train_part: list[PhotoRow]
    fitset: FitSet
    train_all: Examples  # the whole training part (baselines learn from it)
    test: Examples  # scored test photos only
    dropped: int  # test photos with no tag of the vocabulary
    outside: int  # test photos with vocabulary tags that the protocol does not score
    new_owners: set[str]  # test owners absent from the training part
    kept: Optional[np.ndarray] = None  # partial protocol: each scored test photo's kept tag (vocabulary index)


def run_eval(
    photos: Sequence[PhotoRow],
    features: dict[str, np.ndarray],
    config: EvalConfig,
    reporter: Reporter,
    *,
    on_epoch: Optional[EpochCallback] = None,
    backbone_head: Optional[torch.nn.Module] = None,
    backbone: Optional[str] = None,
) -> EvalResult:
    """Every row on each of `config.repeats` splits; `photos` must be tagged and have features (keyed by fingerprint;
    numpy arrays or torch tensors).

    The suggest rows need `backbone` (its name: the general tagger and probe features come from its top). Without
    PyTorch the rows that train a model are left out (the result's `skipped`); TorchMissing if no row is left."""
    started = time.perf_counter()
    skipped = config.rows_needing_torch()
    if skipped:
        if set(config.rows) <= set(skipped):
            raise TorchMissing(f"phototag eval's rows {', '.join(skipped)} need PyTorch: {TORCH_EXTRA}")
        config = replace(config, rows=tuple(key for key in config.rows if key not in skipped))
    shared = _shared(photos, features, config, backbone_head)
    if backbone is not None and set(config.rows) & set(SUGGEST_ROWS):
        shared.looks = LibraryLooks(general_readout(backbone), shared.photos, features)
    splits = []
    for repeat in range(config.repeats):
        seed = config.seed + repeat
        reporter.info(f"split {repeat + 1} of {config.repeats} (seed {seed}), protocol {config.protocol}")
        split = _split(shared, config, seed)
        splits.append(_evaluate_split(shared, split, config, reporter, on_epoch, repeat))
    config_json = asdict(config)
    config_json["rows"] = list(config.rows)
    return EvalResult.combine(config_json, splits, time.perf_counter() - started, skipped)


def _shared(photos: Sequence[PhotoRow], features: dict[str, np.ndarray], config: EvalConfig, backbone_head) -> _Shared:
    everything = TagHistory(photos, config.owner_from)
    photos = [p for p in everything.tagged_photos() if p.fingerprint in features]
    maps = {p.fingerprint: features[p.fingerprint] for p in photos}
    vectors = (
        embeddings(np.stack([np.asarray(f, dtype=np.float32) for f in maps.values()])) if maps else np.zeros((0, 0))
    )
    pooled = _pooled(maps, config.train.feature_pool) if config.trains() else None
    return _Shared(everything, photos, pooled, dict(zip(maps, vectors)), backbone_head)


def _pooled(maps: dict[str, Any], pool: int) -> dict[str, Any]:
    """The maps as the heads read them, pooled here once rather than in every batch of every epoch of every
    variant and split (same figures)."""
    import torch

    from phototag.model.altreco import pool_features

    return {fp: pool_features(torch.as_tensor(f).unsqueeze(0), pool)[0] for fp, f in maps.items()}


def _split(shared: _Shared, config: EvalConfig, seed: int) -> _Split:
    everything, photos, features = shared.everything, shared.photos, shared.features
    keys = [split_key(p, everything, config.split_by) for p in photos]
    train_part, test_part = split_items(photos, keys, config.test_fraction, seed)
    if not train_part or not test_part:
        raise NotEnoughData("too few tagged photos (or owners/folders) to split into training and test parts")
    train_history = TagHistory(train_part, config.owner_from)
    vocabulary = choose_vocabulary(train_history, config.min_count)
    if not vocabulary:
        raise NotEnoughData(f"no tag is used {config.min_count} times in the training part; lower --min-count")
    new_owners = {everything.owner_of(p) for p in test_part} - set(train_history.owner_counts)
    test_history = TagHistory([p for p in test_part if everything.owner_of(p) in new_owners], config.owner_from)

    # Validation share of the training part, for early stopping and kNN's choice only (a photo split, seeded
    # differently).
    fitset = prepare_fit(train_part, train_history, vocabulary, features, config.val_fraction, seed + 1)
    test = build_examples(
        test_part, everything, train_history, vocabulary, features, owner_history={o: test_history for o in new_owners}
    )
    train_all = build_examples(train_part, train_history, train_history, vocabulary, features)
    tagged = [i for i, truth in enumerate(test.truths) if truth]
    split = _Split(seed, photos, train_part, fitset, train_all, test, len(test) - len(tagged), 0, new_owners)
    return _apply_protocol(split, shared, tagged, config.protocol)


def _apply_protocol(split: _Split, shared: _Shared, tagged: list[int], protocol: str) -> _Split:
    """Keep the test photos (and tags) that `protocol` scores; see phototag.evaluate.protocols."""
    test, kept = split.test, None
    if protocol == "partial":
        scored, kept = partial_rows(test.labels, split.seed)  # photos with two tags or more: tagged ones
    elif protocol == "event":
        near = with_tagged_neighbours(_gallery(split.train_all, shared), _queries(test, shared))
        scored = [i for i in tagged if near[i]]
    else:
        scored = tagged
    test = test.subset(scored)
    if kept is not None:
        vocabulary = split.fitset.vocabulary
        test.labels[np.arange(len(test)), kept] = 0.0
        test.truths = [truth - {vocabulary[k]} for truth, k in zip(test.truths, kept)]
    return replace(split, test=test, outside=len(tagged) - len(scored), kept=kept)


def _evaluate_split(
    shared: _Shared,
    split: _Split,
    config: EvalConfig,
    reporter: Reporter,
    on_epoch: Optional[EpochCallback],
    repeat: int,
) -> SplitResult:
    """Every row the protocol can score on one split."""
    rows = config.scored_rows()
    scores = frequency_scores(rows, split.train_all.labels, split.test.histories)
    alone, tuned = _signal_rows(split, shared, config, reporter)
    scores |= alone
    train_options = replace(config.train, seed=config.train.seed + repeat)
    models: dict[str, torch.nn.Module] = {}
    training = _train_variants(split, shared, rows, train_options, reporter, on_epoch, scores, models)
    if split.kept is not None:
        scores = {key: rank_kept_last(value, split.kept) for key, value in scores.items()}
    vocabularies = {key: split.fitset.vocabulary for key in scores}
    if set(rows) & set(SUGGEST_ROWS) and shared.looks is not None:
        truths = [set(shared.everything.photo_keys(p)) for p in split.test.photos]
        for key, (matrix, candidates, blend) in _suggest_rows(shared, split, rows, config, models, reporter).items():
            scores[key], vocabularies[key] = matrix, candidates
            figures = calibration_figures(matrix, candidates, truths)
            training[key] = {"blend": blend, "thresholds": threshold_figures(matrix, candidates, truths), **figures}
    test = split.test
    results: dict[str, Evaluation] = {
        key: evaluate_scores(scores[key], vocabularies[key], test.truths, test.owners, KS) for key in row_order(scores)
    }
    chosen = {name: choice.to_json() for name, choice in tuned.items()}
    examples = _examples(split, scores, list(results), vocabularies) if repeat == 0 else []
    return SplitResult(split.seed, _counts(split, shared), results, training, chosen, examples)


def _signal_rows(
    split: _Split, shared: _Shared, config: EvalConfig, reporter: Reporter
) -> tuple[dict[str, np.ndarray], dict[str, Tuned]]:
    """The rows that are one registered signal alone (knn, cooc, neighbours), each with its parameters tuned on
    the validation share (the fit photos its evidence), then scored on the test part (the whole training part
    its evidence). `--knn K` fixes the knn row's k."""
    names = signal_rows(config.scored_rows())
    if not names:
        return {}, {}
    val, val_truth = _tuning_queries(split, shared, config.protocol)
    test = _queries(split.test, shared, split.kept)
    evidence = Evidence(_gallery(split.fitset.fit, shared), val, val_truth, _gallery(split.train_all, shared), test)
    grids = {"knn": {**TUNING["knn"], "k": (config.knn_k,)}} if config.knn_k is not None else {}
    steps = sum(tuning_steps(name, grids.get(name)) for name in names)
    with reporter.progress("tuning the signal rows on the validation photos", steps, unit="settings") as task:
        scores, tuned = signal_scores(names, evidence, grids, task.advance)
    for name in names:
        reporter.info(f"{name} alone: {tuned[name].describe()}, tuned on {len(val.keys)} validation photos")
    return scores, tuned


def _tuning_queries(split: _Split, shared: _Shared, protocol: str) -> tuple[Queries, np.ndarray]:
    """The validation photos as the signal rows are tuned on them, and their tags to find: under the partial
    protocol as the test photos are scored (each keeps one tag as input), else untagged."""
    val = split.fitset.val
    labels = val.labels.copy()
    if protocol != "partial":
        return _queries(val, shared), labels
    scored, kept = partial_rows(labels, split.seed)
    truth = labels[scored]
    truth[np.arange(len(scored)), kept] = 0.0
    return _queries(val.subset(scored), shared, kept), truth


def _vectors(examples: Examples, shared: _Shared) -> np.ndarray:
    if not len(examples):
        return np.zeros((0, shared.dimensions), dtype=np.float32)
    return np.stack([shared.embeddings[p.fingerprint] for p in examples.photos])


def _gallery(examples: Examples, shared: _Shared) -> Gallery:
    """Photos of a part as a signal's evidence: their tags over the eval vocabulary, kNN embeddings, places."""
    places = [place_of(p, shared.everything.owner_of(p)) for p in examples.photos]
    return Gallery(examples.labels, _vectors(examples, shared), places, [p.id for p in examples.photos])


def _queries(examples: Examples, shared: _Shared, kept: Optional[np.ndarray] = None) -> Queries:
    """Photos of a part to rank by a signal; `kept`: each one's present tag (partial protocol)."""
    present = [[int(k)] for k in kept] if kept is not None else [[] for _ in examples.photos]
    return build_queries(examples.photos, present, _vectors(examples, shared), history=shared.everything)


def _suggest_rows(
    shared: _Shared, split: _Split, rows: Sequence[str], config: EvalConfig, models: dict, reporter: Reporter
) -> dict[str, tuple[np.ndarray, list[str], dict]]:
    """The suggest rows asked for (what suggest would rank), and each of them again per ablation with the
    blend refitted on the signals the ablation keeps (a row left with no signal is not scored)."""
    kept = [split.fitset.vocabulary[k] for k in split.kept] if split.kept is not None else None
    asked = [row for row in SUGGEST_ROWS if row in rows]
    runs: list[tuple[list[str], Optional[Ablation]]] = [(asked, None)]
    for ablation in config.ablations:
        scored = [row for row in asked if ablation.kept(tuple(available(ROW_OUTPUTS[row], ablation.names)))]
        if split.seed == config.seed:
            for row in sorted(set(asked) - set(scored)):
                reporter.info(f"{ablation.key(row)}: no signal left, not scored")
        runs.append((scored, ablation))
    out = {}
    with reporter.progress("suggest: fitting the ranking", len(SUGGEST_ROWS) * len(runs), unit="rows") as task:
        for run_rows, ablation in runs:
            if not run_rows:
                task.advance(len(SUGGEST_ROWS))
                continue
            # --without leaves signals out of the default ranking; --signals may name any registered one
            only = (
                None if ablation is None else ablation.kept(signal_names() if ablation.only else default_signal_names())
            )
            ranked = held_out_scores(
                split.fitset,
                split.train_part,
                split.test,
                kept,
                shared.looks,
                models.get("A6"),
                run_rows,
                split.seed,
                task.advance,
                only=only,
            )
            out |= {row if ablation is None else ablation.key(row): value for row, value in ranked.items()}
    return out


def held_out_scores(
    fitset: FitSet,
    train_part: Sequence,
    test: Examples,  # the photos to score (their tags unseen)
    kept: Sequence[str] | None,  # partial protocol: each test photo's one present tag
    looks: LibraryLooks,  # of every photo involved
    model: torch.nn.Module | None,  # the personal model trained on fitset (A6), for the "suggest" row
    rows: Sequence[str],
    seed: int = 0,
    advance=lambda n: None,
    only: Optional[Sequence[str]] = None,  # the signals weighed (all by default; eval --without / --signals)
) -> dict[str, tuple[np.ndarray, list[str], dict]]:
    """What `suggest` would rank for the test photos with `train_part` as the tagged library: "suggest" after
    finetune on it (fitset: train.ranking.fit_ranking, as finetune fits it), "suggest_owner" without a personal
    model (evaluate.suggest_rows.OwnerRanking). Per row: scores over the candidate vocabulary (only the best
    spelling variant of a group scored, as suggest shows one), that vocabulary, and the blend used. eval's
    suggest rows and finetune's comparison of the ranking with and without the new model use it."""
    from phototag.model.recommend import keep_best_variant

    history = fitset.history
    owner = OwnerRanking(history, train_part, looks, seed, only)
    candidates, gallery, mapping = owner.candidates, owner.gallery, owner.mapping
    present = owner.present_rows(kept, len(test.photos))
    test_looks = looks.of(test.photos)
    out = {}
    if "suggest_owner" in rows:
        out["suggest_owner"] = (owner.scores(test.photos, present), candidates, owner.blend.to_json())
    advance(1)
    if "suggest" in rows and model is not None:
        from phototag.train.ranking import fit_ranking, personal_outputs  # the probe and the model: PyTorch

        parts = {"fit": looks.of(fitset.fit.photos), "val": looks.of(fitset.val.photos)}
        fitted = fit_ranking(fitset, model, parts, mapping, candidates, seed, only)
        outputs = personal_outputs(model, test, fitted.probe, test_looks, fitset.vocabulary, candidates)
        outputs["general"] = mapping.owner_scores(test_looks.general)
        queries = build_queries(test.photos, present, test_looks.trunk, outputs, history)
        scores, _ = Ranker(fitted.blend, only=only).score(gallery, queries)
        out["suggest"] = (keep_best_variant(scores, candidates), candidates, fitted.meta())
    advance(1)
    return out


def _examples(
    split: _Split, scores: dict[str, np.ndarray], rows: list[str], vocabularies: dict[str, list[str]]
) -> list[Example]:
    """EXAMPLE_PHOTOS test photos spread evenly over the test part, with their truth and each row's top tags."""
    test, vocabulary = split.test, split.fitset.vocabulary
    position = {tag: i for i, tag in enumerate(vocabulary)}
    chosen = sorted({round(i) for i in np.linspace(0, len(test) - 1, EXAMPLE_PHOTOS)}) if len(test) else []
    tops = {key: rank_scores(scores[key][chosen], EXAMPLE_TOP) for key in rows}
    return [
        Example(
            test.photos[i].path,
            test.photos[i].display_path,
            sorted(test.truths[i], key=position.__getitem__),
            {key: [vocabularies[key][j] for j in tops[key][n]] for key in rows},
            vocabulary[split.kept[i]] if split.kept is not None else None,
        )
        for n, i in enumerate(chosen)
    ]


def _train_variants(
    split: _Split,
    shared: _Shared,
    rows: Sequence[str],
    train_options: TrainOptions,
    reporter: Reporter,
    on_epoch: Optional[EpochCallback],
    scores: dict[str, np.ndarray],
    models: dict[str, torch.nn.Module],
) -> dict[str, dict]:
    """Train each model row asked for (A6 also for the suggest row) and add its test scores; returns each
    variant's training figures. The trained models are left in `models`."""
    if not set(rows) & set(TRAINED_ROWS):
        return {}
    from phototag.train.finetune import predict  # PyTorch: config.rows_needing_torch() left these rows out without

    training: dict[str, dict] = {}
    for variant in VARIANT_ROWS:
        if not (variant in rows or (variant == "A6" and ("A4" in rows or "suggest" in rows))):
            continue
        options = replace(train_options, variant=variant)
        with reporter.progress(f"training {variant}", options.epochs, unit="epochs") as task:

            def epoch_done(report: EpochReport, variant: str = variant) -> None:
                task.advance(1)
                if on_epoch is not None:
                    on_epoch(variant, report)

            outcome = split.fitset.train(options, on_epoch=epoch_done, backbone_head=shared.backbone_head)
            task.total(outcome.epochs_run)  # early stopping ends the bar where training ended
        training[variant] = {
            "best_epoch": outcome.best_epoch,
            "epochs": outcome.epochs_run,
            "val_P@5": outcome.best_val.get("P@5"),
            "seconds": round(outcome.seconds, 1),
        }
        reporter.info(
            f"trained {variant}: best validation P@5 {outcome.best_val.get('P@5', 0.0):.3f} at epoch "
            f"{outcome.best_epoch} of {outcome.epochs_run}, {outcome.seconds:.0f}s"
        )
        if variant in rows:
            scores[variant] = predict(outcome.model, split.test, use_history=options.uses_history)
        if variant == "A6" and "A4" in rows:
            scores["A4"] = predict(outcome.model, split.test, use_history=False)
            training["A4"] = dict(training["A6"])
        models[variant] = outcome.model
    return training


def _counts(split: _Split, shared: _Shared) -> dict[str, int]:
    return {
        "tagged_photos": len(split.photos),
        "train_photos": len(split.train_part),
        "fit_photos": len(split.fitset.fit),
        "val_photos": len(split.fitset.val),
        "test_photos_scored": len(split.test),
        "test_photos_without_vocabulary_tags": split.dropped,
        "test_photos_outside_protocol": split.outside,
        "vocabulary": len(split.fitset.vocabulary),
        "owners": len(shared.everything.owner_counts),
        "test_owners": len(set(split.test.owners)),
        "test_owners_unseen_in_training": len(split.new_owners),
    }
