"""The baseline rows of `phototag eval`: tag frequencies, and the ranking's own signals alone.

- library, owner: the library's (the paper's Baseline) and the owner's most used tags.
- a row named after a registered signal (knn, propagation, cooc, neighbours): that signal alone, the very function
  suggest blends (phototag.model.signals), each photo's tags ranked by its value; its parameters are tuned on the
  validation photos (TUNING: the rest of the training part as its evidence) before it scores the test photos
  with the whole training part as its evidence. A baseline and the signal it is compared with are one
  definition: change the signal and its row follows.

Each returns a score matrix [test photos, vocabulary]; higher is better.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from phototag.model.signals import REGISTRY, Gallery, Queries, normalised, signals_for

TIE_BREAK = 1e-6

# The parameters eval tunes per signal (the others keep their registered values): every combination is tried
# on the validation photos, the best P@5 wins. The registered values are among them and win a tie: a row moves
# off a signal's registered parameters only where that does better on validation.
TUNING: dict[str, dict[str, tuple]] = {
    "knn": {"k": (1, 3, 5, 10, 20, 40, 50, 80, 160), "temperature": (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)},
    "propagation": {"k": (5, 10, 20, 40), "alpha": (0.3, 0.5, 0.7)},  # alpha ** steps small: steps stay 12
    "cooc": {"smoothing": (0.1, 0.3, 1.0, 3.0, 10.0)},
    "neighbours": {"neighbours": (1, 2, 3, 6, 12, 24), "max_gap": (10, 40, 160)},
}


def _library_prior(train_labels: np.ndarray) -> np.ndarray:
    counts = np.asarray(train_labels, dtype=np.float64).sum(axis=0)
    peak = counts.max() if counts.size and counts.max() > 0 else 1.0
    return counts / peak


def library_most_frequent(train_labels: np.ndarray, n_test: int) -> np.ndarray:
    """The paper's Baseline: the library's most used tags, the same list for every photo."""
    return np.tile(_library_prior(train_labels), (n_test, 1))


def owner_most_frequent(test_histories: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """The owner's most used tags: the owner's history vector u_h (leave-one-out), library frequency breaking ties."""
    return np.asarray(test_histories, dtype=np.float64) + TIE_BREAK * _library_prior(train_labels)


def frequency_scores(
    rows: Sequence[str], train_labels: np.ndarray, test_histories: np.ndarray
) -> dict[str, np.ndarray]:
    """The frequency rows that `rows` asks for: "library" and "owner"."""
    scores = {}
    if "library" in rows:
        scores["library"] = library_most_frequent(train_labels, len(test_histories))
    if "owner" in rows:
        scores["owner"] = owner_most_frequent(test_histories, train_labels)
    return scores


def embeddings(features) -> np.ndarray:
    """L2-normalised global-average-pooled backbone features [N, C] from feature maps [N, C, H, W] (the kNN
    signal's embeddings, as phototag.model.evidence.Looks.trunk pools them)."""
    array = np.asarray(features, dtype=np.float32)
    if array.ndim == 4:
        array = array.mean(axis=(2, 3))
    return normalised(array)


def precision_at(scores: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Mean P@k over the rows of `labels` that have a tag (ties broken by lower index, as metrics.rank_scores)."""
    labels = np.asarray(labels)
    tagged = labels.sum(axis=1) > 0
    if not tagged.any():
        return 0.0
    top = np.argsort(-scores[tagged], axis=1, kind="stable")[:, :k]
    return float(np.take_along_axis(labels[tagged], top, axis=1).sum(axis=1).mean() / k)


# ------------------------------------------------------------------ a registered signal alone
def signal_rows(rows: Sequence[str]) -> list[str]:
    """The rows of `rows` that are a registered signal computed from the library (knn, cooc, neighbours)."""
    return [row for row in rows if row in REGISTRY and REGISTRY[row].compute is not None and row in TUNING]


def signal_alone(
    name: str, gallery: Gallery, queries: Queries, parameters: Optional[Mapping[str, float]] = None
) -> np.ndarray:
    """[Q, V] the registered signal `name` for the queries (`parameters` in place of its registered ones), a
    photo's present tags ranked last (they are never suggested)."""
    values = signals_for(gallery, queries, only=[name], parameters={name: dict(parameters or {})})[name]
    out = np.array(values, dtype=np.float64, copy=True)
    for q, present in enumerate(queries.present):
        out[q, list(present)] = -np.inf
    return out


@dataclass(frozen=True)
class Tuned:
    """A signal's parameters as an eval row used them (the registered ones, with the tuned ones in place) and
    the validation P@5 that chose them (None: nothing to choose on)."""

    signal: str
    parameters: dict = field(default_factory=dict)
    val_p5: Optional[float] = None

    def describe(self) -> str:
        tuned = TUNING.get(self.signal, {})
        chosen = ", ".join(f"{name}={self.parameters[name]:g}" for name in tuned if name in self.parameters)
        return chosen if self.val_p5 is None else f"{chosen} (validation P@5 {self.val_p5:.3f})"

    def to_json(self) -> dict:
        return {"signal": self.signal, "parameters": self.parameters, "val_P@5": self.val_p5}


def tuning_steps(name: str, grid: Optional[Mapping[str, Sequence]] = None) -> int:
    """How many settings tune_signal tries for `name`."""
    return int(np.prod([len(values) for values in (grid or TUNING.get(name, {})).values()], dtype=np.int64))


def tune_signal(
    name: str,
    gallery: Gallery,
    queries: Queries,
    truth: np.ndarray,
    grid: Optional[Mapping[str, Sequence]] = None,
    advance: Optional[Callable[[int], None]] = None,
) -> Tuned:
    """The parameters of the registered signal `name` (its `grid`, default TUNING's; the rest registered) with the
    best P@5 ranking the `queries` by the signal alone, `gallery` as its evidence and `truth` [Q, V] 0/1 the tags
    to find; on a tie, the registered parameters, then the earlier setting. With no query (or no photo in the
    gallery) to choose on: the registered parameters."""
    registered = dict(REGISTRY[name].parameters)
    grid = dict(grid or TUNING.get(name, {}))
    if len(queries.keys) == 0 or len(gallery.keys) == 0 or not grid:
        if advance is not None:
            advance(tuning_steps(name, grid))
        return Tuned(name, registered)
    settings = list(itertools.product(*grid.values()))
    as_registered = tuple(registered.get(parameter) for parameter in grid)
    settings.sort(key=lambda values: values != as_registered)  # tried first, so it wins a tie; then grid order
    best: Optional[Tuned] = None
    for values in settings:
        parameters = {**registered, **dict(zip(grid, values))}
        p5 = precision_at(signal_alone(name, gallery, queries, parameters), truth)
        if best is None or p5 > best.val_p5 + 1e-12:
            best = Tuned(name, parameters, p5)
        if advance is not None:
            advance(1)
    return best


@dataclass
class Evidence:
    """What a signal-alone row reads: for tuning, the fit photos as the gallery and the validation photos as
    queries (`val_truth` their tags to find); for scoring, the whole training part and the test photos."""

    fit: Gallery
    val: Queries
    val_truth: np.ndarray
    train: Gallery
    test: Queries


def signal_scores(
    names: Sequence[str],
    evidence: Evidence,
    grids: Optional[Mapping[str, Mapping[str, Sequence]]] = None,
    advance: Optional[Callable[[int], None]] = None,
) -> tuple[dict[str, np.ndarray], dict[str, Tuned]]:
    """Each signal of `names` alone on the test photos, tuned first (tune_signal; `grids`: per signal, in place of
    TUNING's); returns the score matrices and each signal's Tuned."""
    scores, tuned = {}, {}
    for name in names:
        grid = (grids or {}).get(name)
        tuned[name] = tune_signal(name, evidence.fit, evidence.val, evidence.val_truth, grid, advance)
        scores[name] = signal_alone(name, evidence.train, evidence.test, tuned[name].parameters)
    return scores, tuned
