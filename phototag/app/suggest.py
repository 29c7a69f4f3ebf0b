"""Use case: suggest tags for the photos of a library (`phototag suggest`, `phototag review`, bench_suggest).

    session = SuggestSession(index, SuggestOptions(device="cpu"), reporter)   # scans, picks targets
    session.load()                                                           # model, extractor, recommender
    for results in session.results():                                        # lists of PhotoSuggestions
        ...

Results come in chunks of CHUNK photos: the features of one chunk are computed
(or read from the index's cache), ranked and dropped before the next, so memory
stays bounded on large libraries and output can stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from phototag.app.scan import scan
from phototag.errors import TORCH_EXTRA, PhototagError, optional_torch, require_torch
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.model.choices import DEFAULT_BACKBONE
from phototag.model.nearest import index_note
from phototag.reporting import Reporter

CHUNK = 2048  # photos per round of decode + suggest (about 64 MB of Lite0 features)
# Fewer tagged photos: suggest says on the terminal that it knows little of the owner's habits yet. Below this,
# few held-out photos calibrate the scores, so they stay near each tag's prior and little reaches --min-score
# (benchmarks/bench_library_size.py, feedme-dev: 0.02 offers per photo at 10 tagged photos, 0.35 at 30); the
# blend keeps its default weights below MIN_FIT_PHOTOS (20) held-out photos.
SMALL_LIBRARY = 20


# Said once when the library has a personal model in use and PyTorch is not installed (the heads are PyTorch).
PERSONAL_NEEDS_TORCH = f"the personal model needs PyTorch: {TORCH_EXTRA}; ranking without it"


def small_library_note(tagged: int) -> str:
    """The one line suggest prints when the library has few tagged photos."""
    return (
        f"only {tagged} tagged photo{'s' if tagged != 1 else ''}: too few to learn how you tag, so suggestions "
        f"lean on the general model and few are sure enough to show; tag {SMALL_LIBRARY} or more for suggestions "
        "in your own words"
    )


@dataclass(frozen=True)
class SuggestOptions:
    """How suggestions are computed; the same options give the same ranking wherever they are used."""

    only_untagged: bool = True  # False: every photo, tagged ones too
    top_k: int = 5
    min_score: float = 0.5  # scores are calibrated probabilities: at 0.5, more of what is shown is right than wrong
    device: str = "auto"  # phototag.model.features.DEVICES
    backbone: str = DEFAULT_BACKBONE  # phototag.model.backbone.BACKBONES (a personal model fixes its own)
    history: str = "owner"  # history vector u_h: owner | folder | none
    model: str = "auto"  # auto: the personal model in use (`phototag models`), else none; personal; general
    new_tags: bool = False
    embed: bool = True
    workers: int = 0  # decode worker processes (0: automatic)
    gpu_decode: bool = True
    follow_links: bool = False  # scan folders that links lead to too (their photos join the history and targets)


class NoPersonalModel(PhototagError):
    """--model personal, but the library has no usable personal model."""


class SuggestSession:
    """One suggest run over a library: scan, targets, model, then results chunk by chunk."""

    def __init__(self, index: Index, options: SuggestOptions, reporter: Reporter):
        self.index, self.options, self.reporter = index, options, reporter
        scan(index, reporter, follow_links=options.follow_links)
        self.photos = [p for p in index.photos() if p.status == "ok"]
        self.history = TagHistory.from_photos(self.photos)
        if options.only_untagged:
            self.targets = [p for p in self.photos if not self.history.photo_keys(p)]
        else:
            self.targets = self.photos
        self.personal = self.extractor = self.recommender = None

    def load(self) -> None:
        """Load the personal model (per `model`), the feature extractor and the recommender.

        Raises NoPersonalModel, or phototag.model.weights.WeightsError when packaged weights are unusable."""
        from phototag.model.checkpoint import load_in_use, load_latest_good
        from phototag.model.features import extractor_for_model, will_measure
        from phototag.model.recommend import Recommender

        options = self.options
        if options.model != "general" and optional_torch() is None:
            self._without_torch()
        elif options.model != "general":
            # the model chosen by finetune or `phototag models --use`; --model personal takes the newest good
            # one when none is chosen
            self.personal = load_in_use(self.index, warn=self.reporter.warn)
            if self.personal is None and options.model == "personal":
                self.personal = load_latest_good(self.index, warn=self.reporter.warn)
            if self.personal is None and options.model == "personal":
                raise NoPersonalModel("no personal model for this library; run `phototag finetune` first")
        meta = self.personal.meta if self.personal is not None else None
        if options.device == "auto" and will_measure(self.backbone, meta):
            self.reporter.info("Timing PyTorch against onnxruntime once on this machine (a few seconds)…")
        self.extractor = extractor_for_model(meta, options.backbone, options.device, options.gpu_decode)
        self.recommender = Recommender(
            self.history,
            self.extractor.backbone,
            personal=self.personal,
            history_mode=options.history,
            new_tags=options.new_tags,
            embeddings=options.embed,
            cache_dir=self.index.data_dir,
            warn=self.reporter.warn,
        )
        if self.recommender.mode != "general":
            tagged = len(self.history.tagged_photos())
            if tagged < SMALL_LIBRARY:
                self.reporter.info(small_library_note(tagged))
            note = index_note(tagged)  # a big gallery without faiss: searched exactly, slower
            if note:
                self.reporter.info(note)
            self._add_gallery()

    def _without_torch(self) -> None:
        """No PyTorch: --model personal is an error; a personal model in use is said once and left out."""
        from phototag.model.checkpoint import chosen, in_use, list_checkpoints

        if self.options.model == "personal":
            require_torch("--model personal")
        if in_use(list_checkpoints(self.index), chosen(self.index)) is not None:
            self.reporter.info(PERSONAL_NEEDS_TORCH)  # on the terminal, not only in the run's log

    def _add_gallery(self) -> None:
        """The owner's tagged photos are the ranking's evidence (kNN, neighbours, co-occurrence): their features too."""
        from phototag.model.features import cached_features

        tagged = self.history.tagged_photos()
        with self.reporter.progress("Reading your tagged photos", len(tagged), unit="photos") as task:
            for first in range(0, len(tagged), CHUNK):
                chunk = tagged[first : first + CHUNK]
                features = cached_features(
                    self.index,
                    chunk,
                    self.extractor,
                    self.reporter,
                    advance=task.advance,
                    workers=self.options.workers or None,
                )
                self.recommender.add_gallery(chunk, features)

    @property
    def backbone(self) -> str:
        """The backbone used: the personal model's own, else the one asked for."""
        if self.personal is not None:
            return self.personal.meta.get("backbone", self.options.backbone)
        return self.options.backbone

    @property
    def model_id(self) -> str:
        return self.recommender.model_id

    def results(self) -> Iterator[list]:
        """phototag.model.recommend.PhotoSuggestions of the targets, one list per chunk (after `load`).

        Photos whose features cannot be computed are reported as skipped and left out."""
        from phototag.model.features import cached_features

        options, extractor = self.options, self.extractor
        with self.reporter.progress(f"Suggesting ({extractor.device})", len(self.targets), unit="photos") as task:
            for first in range(0, len(self.targets), CHUNK):
                chunk = self.targets[first : first + CHUNK]
                features = cached_features(
                    self.index, chunk, extractor, self.reporter, advance=task.advance, workers=options.workers or None
                )
                results = self.recommender.suggest(chunk, features, top_k=options.top_k, min_score=options.min_score)
                del features
                yield results
