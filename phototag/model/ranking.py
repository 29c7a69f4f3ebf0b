"""One ranking from every signal the library has: a calibrated blend fitted on the owner's own photos (issue #11).

Each signal scores every tag of the owner's vocabulary for a photo, as a probability-like value in [0, 1]:

  knn         tags of the most similar tagged photos (cosine on pooled backbone features, softmax votes);
              when the photo already has tags, photos sharing them count as more similar (KEPT_BONUS)
  probe       a linear classifier on pooled head features, fitted by `finetune` (phototag.train.probe)
  personal    the personal ALTReco model (classifier C on [visual, preference])
  general     the packaged general model, mapped onto the owner's words (phototag.model.recommend)
  history     how often the owner uses the tag (its prior)
  neighbours  tags of the tagged photos next to it in its folder: by capture time when every photo of the
              folder has one, else by file name (camera numbering); never across more than EVENT_SECONDS
  cooc        tags the owner uses together with the photo's present tags (only for partly tagged photos)

The blend is a logistic regression on the signals' logits, one set of weights for untagged photos and one
for partly tagged ones (which also have `cooc`):  p = sigmoid(b + sum_s w_s * logit(s)).
It is fitted on held-out photos of the library (finetune's validation photos, or the tagged photos one at a
time left out when there is no personal model), pulled towards DEFAULT_WEIGHTS by an L2 penalty so that a
small library stays close to the defaults. Its outputs are probabilities on this owner's photos, so one
threshold (`--min-score`) means the same on every photo. A signal with no opinion on a tag (the personal
model never learnt it) gives the tag's prior there.

Numpy only; the caller computes embeddings, model outputs and the general mapping.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional, Sequence

import numpy as np

SIGNALS = ("knn", "probe", "personal", "general", "history", "neighbours", "cooc")
MODES = ("untagged", "partial")
EPS = 1e-4
KNN_K = 50
KNN_TEMPERATURE = 0.05
KEPT_BONUS = 0.2
OWNER_BONUS = 0.1  # cosine bonus for a gallery photo of the same owner (libraries of several people only)  # cosine bonus for a gallery photo carrying all of the photo's present tags (research: 0.2 best)
NEIGHBOURS = 6
MAX_SEQUENCE_GAP = 40  # photos further apart than this in a folder's sequence are not neighbours
EVENT_SECONDS = 2 * 86400
COOC_SMOOTHING = 1.0
# How often a tag the owner used is on another of their photos, before the library says more (empirical
# Bayes: PRIOR_PHOTOS pseudo-photos at PRIOR_RATE): a tag on the one tagged photo is on about 1 photo in 10
# of the rest, not 3 in 4 (feedme-dev, openclipart: benchmarks/bench_library_size.py).
PRIOR_PHOTOS = 10.0
PRIOR_RATE = 0.02
# kNN and neighbour votes count as many photos as there are tagged photos to vote (at most KNN_K, NEIGHBOURS),
# against EVIDENCE_PSEUDO pseudo-photos at the prior: one tagged photo is weak evidence, fifty are not.
EVIDENCE_PSEUDO = 3.0
# Two tags the owner never puts on the same photo (two places of one branch, two exclusive categories) are
# offered together only when both score at least STRONG; the weaker one is dropped otherwise. Tags under
# EXCLUSIVE_FLOOR are left alone: no threshold shows them, and dropping them only cost P@5 (openclipart owner,
# 300 tagged: 0.346 against 0.356 with no exclusion, the same offers at --min-score 0.5).
EXCLUSIVE_MIN_USES = 2
STRONG = 0.8
EXCLUSIVE_FLOOR = 0.3
EXCLUSIVE_DEPTH = 20  # a photo's best-scored tags looked at for exclusions
SHRINK = 20.0  # L2 pull of fitted weights towards DEFAULT_WEIGHTS (in units of one held-out photo-tag pair)
MIN_FIT_PHOTOS = 20  # fewer held-out photos: the default weights are used as they are
CALIBRATION_TOP = 5  # the calibration map is fitted on each held-out photo's best-scored tags (what suggest shows)
CALIBRATION_SHRINK = (30.0, 10.0)  # L2 pull of the map's slope and intercept towards the identity, in pairs
CALIBRATION_PRIOR_PHOTOS = 3.0  # held-out photos at which the blend and the tag's prior count the same
MAX_FIT_PHOTOS = 600  # held-out photos used to fit a blend (more change little and cost time)

# The starting point small libraries stay near: the means of the weights fitted on feedme-dev's three eval
# splits (one owner, 518 photos; `phototag eval --repeats 3 --json`, training.suggest*.blend), with a personal
# model (probe and personal signals) and without. Signals missing from a library are dropped from its blend.
DEFAULT_WEIGHTS: dict[str, dict[str, dict[str, float]]] = {
    "personal": {
        "untagged": {"knn": 0.23, "probe": 0.74, "personal": 0.04, "general": 0.11, "history": -0.56, "neighbours": 0.22, "bias": -0.24},
        "partial": {"knn": 0.23, "probe": 0.66, "personal": 0.02, "general": 0.11, "history": -0.72, "neighbours": 0.18, "cooc": 0.21, "bias": -0.56},
    },
    "owner": {
        "untagged": {"knn": 0.37, "general": 0.14, "history": -0.06, "neighbours": 0.24, "bias": -0.44},
        "partial": {"knn": 0.33, "general": 0.13, "history": -0.21, "neighbours": 0.21, "cooc": 0.19, "bias": -0.63},
    },
}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------ evidence from the library
@dataclass(frozen=True)
class Place:
    """Where a photo sits in its folder: for the neighbours signal."""

    folder: str
    name: str  # file name
    taken: Optional[float] = None  # capture time, seconds (local clock), when known
    owner: Optional[str] = None  # whose photo it is (TagHistory.owner_of); one owner in a personal library


def place_of(photo, owner: Optional[str] = None) -> Place:
    taken = getattr(photo, "taken", None)
    seconds = None
    if taken:
        try:
            seconds = datetime.fromisoformat(str(taken)[:19]).timestamp()
        except ValueError:
            seconds = None
    return Place(photo.folder, photo.display_path.rsplit("/", 1)[-1], seconds, owner)


def _natural(name: str) -> list:
    """IMG_9.jpg before IMG_10.jpg."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name)]


@dataclass
class Gallery:
    """The owner's tagged photos as evidence: labels over the vocabulary, kNN embeddings, places."""

    labels: np.ndarray  # [G, V] 0/1
    embeddings: np.ndarray  # [G, D] L2-normalised
    places: list[Place]
    keys: list  # one key per photo (photo id): a query with the same key is that photo, left out
    branches: Optional[list] = None  # per tag, the hierarchy path above it ('Places|Spain' for 'Places|Spain|Picos')

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32)
        self.embeddings = normalised(self.embeddings) if len(self.embeddings) else np.zeros((0, 1), np.float32)
        self._row = {key: row for row, key in enumerate(self.keys)}
        self.counts = self.labels.sum(axis=0)
        self.together = self.labels.T @ self.labels  # [V, V] photos carrying both tags
        # [V, V] tags the owner never puts on one photo, each used on at least EXCLUSIVE_MIN_USES photos, or
        # two leaves of one branch of a hierarchy never on one photo
        used = self.counts >= EXCLUSIVE_MIN_USES
        self.apart = (self.together == 0) & used[:, None] & used[None, :]
        if self.branches is not None:  # two places of one branch: apart as soon as each is used once
            branch = np.array([b or "" for b in self.branches], dtype=object)
            siblings = (branch[:, None] == branch[None, :]) & (branch != "")[:, None]
            seen = self.counts >= 1
            self.apart |= siblings & (self.together == 0) & seen[:, None] & seen[None, :]

    def row_of(self, key) -> int:
        return self._row.get(key, -1)


@dataclass
class Queries:
    """The photos to rank: embeddings, places, present tags (vocabulary indices) and model outputs."""

    embeddings: np.ndarray  # [Q, D], same space as the gallery's
    places: list[Place]
    keys: list
    present: list[list[int]]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # probe / personal / general: [Q, V], NaN = no opinion


def prior_signal(gallery: Gallery, queries: Queries, self_rows: np.ndarray) -> np.ndarray:
    """(count + PRIOR_PHOTOS * PRIOR_RATE) / (photos + PRIOR_PHOTOS) per tag over the photo owner's tagged
    photos (all of them when the owner has none), each photo's own tags left out."""
    owners = [p.owner for p in gallery.places]
    by_owner = {owner: np.flatnonzero([o == owner for o in owners]) for owner in set(owners)}
    counts = np.empty((len(self_rows), gallery.labels.shape[1]))
    photos = np.empty(len(self_rows))
    for q, place in enumerate(queries.places):
        rows = by_owner.get(place.owner)
        if rows is None or len(rows) == 0 or len(by_owner) == 1:
            counts[q], photos[q] = gallery.counts, len(gallery.labels)
        else:
            counts[q], photos[q] = gallery.labels[rows].sum(axis=0), len(rows)
    inside = self_rows >= 0
    counts[inside] -= gallery.labels[self_rows[inside]]
    photos[inside] -= 1
    return (counts + PRIOR_PHOTOS * PRIOR_RATE) / (np.maximum(photos, 0)[:, None] + PRIOR_PHOTOS)


def knn_signal(gallery: Gallery, queries: Queries, self_rows: np.ndarray, prior: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Softmax-weighted votes of the KNN_K most similar gallery photos (weights relative to the best match).

    A prior pseudo-neighbour at the library's typical best-match similarity (so that a photo unlike anything
    tagged would get the prior) was measured and dropped: P@5 x kNN 1.024 against 1.057 without it on
    feedme-dev, precision at --min-score 0.3 unchanged (benchmarks/research/ranking/knn_reference.py)."""
    n = len(queries.keys)
    out = prior.copy()
    if len(gallery.labels) == 0:
        return out
    gallery_owners = np.array([p.owner for p in gallery.places], dtype=object)
    several_owners = len(set(gallery_owners)) > 1
    for start in range(0, n, chunk):
        rows = range(start, min(n, start + chunk))
        sims = queries.embeddings[start : start + chunk] @ gallery.embeddings.T
        for local, q in enumerate(rows):
            if self_rows[q] >= 0:
                sims[local, self_rows[q]] = -np.inf
            if queries.present[q]:
                sims[local] += KEPT_BONUS * gallery.labels[:, queries.present[q]].mean(axis=1)
            if several_owners:
                sims[local] += OWNER_BONUS * (gallery_owners == queries.places[q].owner)
        k = min(KNN_K, len(gallery.labels) - (1 if (self_rows[start : start + chunk] >= 0).any() else 0))
        if k < 1:
            continue
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near_sims = np.take_along_axis(sims, near, axis=1)
        weights = np.exp((near_sims - near_sims.max(axis=1, keepdims=True)) / KNN_TEMPERATURE)
        weights[~np.isfinite(near_sims)] = 0.0
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        votes = np.einsum("nk,nkv->nv", weights, gallery.labels[near])
        shrunk = (k * votes + EVIDENCE_PSEUDO * prior[start : start + chunk]) / (k + EVIDENCE_PSEUDO)
        out[start : start + chunk] = shrunk
    return out


def _folder_sequences(places: Sequence[Place]) -> dict[str, list[int]]:
    """Per folder, the indices of `places` in sequence: by capture time when all have one, else by file name."""
    folders: dict[str, list[int]] = {}
    for i, place in enumerate(places):
        folders.setdefault(place.folder, []).append(i)
    for folder, members in folders.items():
        timed = all(places[i].taken is not None for i in members)
        members.sort(key=(lambda i: (places[i].taken, _natural(places[i].name))) if timed else (lambda i: _natural(places[i].name)))
    return folders


def neighbour_signal(gallery: Gallery, queries: Queries, self_rows: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Tags of the NEIGHBOURS nearest tagged photos in the photo's folder sequence, weighted 1/(1 + rank) and
    smoothed towards the prior by EVIDENCE_PSEUDO pseudo-photos."""
    folders = {place.folder for place in queries.places}
    # Only the folders the queries are in: a batch of photos never walks the whole library's gallery.
    places = [p for p in gallery.places if p.folder in folders] + list(queries.places)
    rows = [g for g, p in enumerate(gallery.places) if p.folder in folders]  # gallery row of each kept place
    kept = len(rows)
    out = prior.copy()
    for members in _folder_sequences(places).values():
        tagged = [(p, rows[i]) for p, i in enumerate(members) if i < kept]  # (position, gallery row), in order
        if not tagged:
            continue
        positions = [p for p, _ in tagged]
        for p, i in enumerate(members):
            if i < kept:
                continue
            q = i - kept
            window = tagged[bisect_left(positions, p - MAX_SEQUENCE_GAP) : bisect_right(positions, p + MAX_SEQUENCE_GAP)]
            near = sorted(
                (abs(position - p), g)
                for position, g in window
                if g != self_rows[q] and _same_event(queries.places[q], gallery.places[g])
            )[:NEIGHBOURS]
            if not near:
                continue
            weights = 1.0 / (1.0 + np.arange(len(near)))
            votes = weights @ gallery.labels[[g for _, g in near]] / weights.sum()
            out[q] = (votes * len(near) + EVIDENCE_PSEUDO * prior[q]) / (len(near) + EVIDENCE_PSEUDO)
    return out


def _same_event(a: Place, b: Place) -> bool:
    return a.taken is None or b.taken is None or abs(a.taken - b.taken) <= EVENT_SECONDS


def cooc_signal(gallery: Gallery, queries: Queries, self_rows: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Mean over the photo's present tags t of P(tag | t) among the gallery photos, smoothed towards the prior."""
    out = prior.copy()
    for q, present in enumerate(queries.present):
        if not present:
            continue
        together = gallery.together[present].astype(np.float64)
        totals = np.diag(gallery.together)[present].astype(np.float64)
        if self_rows[q] >= 0:  # leave the photo's own tags out
            own = gallery.labels[self_rows[q]]
            together -= own[present][:, None] * own[None, :]
            totals -= own[present]
        out[q] = ((together + COOC_SMOOTHING * prior[q]) / (totals[:, None] + COOC_SMOOTHING)).mean(axis=0)
    return out


def signals_for(gallery: Gallery, queries: Queries, cold_start: bool = False) -> dict[str, np.ndarray]:
    """Every available signal [Q, V] for the queries (a query that is a gallery photo is left out of its evidence).

    `cold_start` (`--history none`): how often the owner uses each tag is ignored: every tag gets the same
    prior, in the history signal and wherever the other signals fall back on the prior."""
    self_rows = np.array([gallery.row_of(key) for key in queries.keys], dtype=np.int64)
    prior = prior_signal(gallery, queries, self_rows)
    if cold_start:
        prior = np.repeat(prior.mean(axis=1, keepdims=True), prior.shape[1], axis=1)
    signals = {"knn": knn_signal(gallery, queries, self_rows, prior), "history": prior}
    signals["neighbours"] = neighbour_signal(gallery, queries, self_rows, prior)
    signals["cooc"] = cooc_signal(gallery, queries, self_rows, prior)
    for name, values in queries.outputs.items():
        values = np.asarray(values, dtype=np.float64)
        signals[name] = np.where(np.isnan(values), prior, values)  # no opinion: the prior
    return signals


# ------------------------------------------------------------------ the blend
def ranked_scores(
    blend: "Blend", gallery: Gallery, signals: dict[str, np.ndarray], present: Sequence[Sequence[int]]
) -> np.ndarray:
    """What suggest ranks [Q, V]: the blend's calibrated probabilities, less the tags that exclude a better one."""
    return without_exclusive(blend.score(signals, present), gallery.apart, present)


def without_exclusive(scores: np.ndarray, apart: np.ndarray, present: Sequence[Sequence[int]]) -> np.ndarray:
    """Scores where a tag that the owner never puts on a photo together with a better-scored tag (or a tag the
    photo has) scores 0, unless both score at least STRONG (the photo's own tags count as strong); tags under
    EXCLUSIVE_FLOOR keep their scores."""
    out = np.array(scores, dtype=np.float64, copy=True)
    if not apart.any():
        return out
    depth = min(EXCLUSIVE_DEPTH, out.shape[1])
    order = np.argsort(-out, axis=1, kind="stable")[:, :depth]
    for q in range(len(out)):
        kept = list(present[q])
        for j in order[q]:
            score = out[q, j]
            if score < EXCLUSIVE_FLOOR:
                break
            conflicts = [i for i in kept if apart[i, j]]
            if conflicts and not (score >= STRONG and all(i in present[q] or out[q, i] >= STRONG for i in conflicts)):
                out[q, j] = 0.0
            else:
                kept.append(int(j))
    return out


@dataclass
class Blend:
    """Weights per mode: {"untagged": {signal: w, ..., "bias": b}, "partial": {...}} and how they were fitted."""

    weights: dict[str, dict[str, float]]
    fitted_on: dict = field(default_factory=dict)  # photos, pairs per mode; empty for defaults
    # per mode {"slope", "intercept", "pairs"}: p = sigmoid(slope * z + intercept) on the blend's logit z,
    # fitted with the weights on the same held-out photos (fit_blend); none: the identity
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def defaults(cls, available: Sequence[str]) -> "Blend":
        """DEFAULT_WEIGHTS for the signals `available` (the personal table when a personal model is there)."""
        table = DEFAULT_WEIGHTS["personal" if {"probe", "personal"} & set(available) else "owner"]
        return cls({mode: _restricted(table[mode], available) for mode in MODES})

    def mode_of(self, present: Sequence[int]) -> str:
        return "partial" if present else "untagged"

    def logits(self, signals: dict[str, np.ndarray], mode: str) -> np.ndarray:
        """The blend's logit z = b + sum_s w_s * logit(s) of `mode`, before calibration."""
        weights = self.weights[mode]
        z = weights.get("bias", 0.0)
        for name, w in weights.items():
            if name != "bias":
                z = z + w * logit(signals[name])
        return np.asarray(z, dtype=np.float64)

    def calibrated(self, z: np.ndarray, prior: np.ndarray, mode: str) -> np.ndarray:
        """Probabilities from blend logits and the tags' priors (the history signal) through the mode's
        calibration (fit_blend's _calibration_map)."""
        cal = self.calibration.get(mode) or {}
        evidence = cal.get("evidence", 1.0)
        u = evidence * z + (1 - evidence) * logit(prior) if evidence < 1 else z
        u = cal.get("slope", 1.0) * u + cal.get("intercept", 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(u, -30, 30)))

    def score(self, signals: dict[str, np.ndarray], present: Sequence[Sequence[int]]) -> np.ndarray:
        """Blended, calibrated probabilities [Q, V]; a photo's present tags score 0."""
        n, vocabulary = signals["history"].shape
        out = np.zeros((n, vocabulary))
        for mode in MODES:
            rows = [q for q in range(n) if self.mode_of(present[q]) == mode]
            if rows:
                names = [name for name in self.weights[mode] if name != "bias"]
                z = self.logits({name: signals[name][rows] for name in names}, mode)
                out[rows] = self.calibrated(z, signals["history"][rows], mode)
        for q, tags in enumerate(present):
            out[q, list(tags)] = 0.0
        return out

    def score_unused(self, general: np.ndarray, photos: int, present: Sequence[Sequence[int]]) -> np.ndarray:
        """Blended probabilities [Q, G] of tags the owner never used (`--new-tags`), from the general tagger's
        probabilities: every other signal sits at the prior of a tag on none of the `photos` tagged photos."""
        unused_prior = PRIOR_PHOTOS * PRIOR_RATE / (photos + PRIOR_PHOTOS)
        unused = logit(np.full(1, unused_prior))[0]
        out = np.zeros(general.shape)
        for q, tags in enumerate(present):
            weights = self.weights[self.mode_of(tags)]
            rest = sum(w for name, w in weights.items() if name not in ("bias", "general"))
            z = weights.get("bias", 0.0) + rest * unused + weights.get("general", 0.0) * logit(general[q])
            out[q] = self.calibrated(z, np.full(z.shape, unused_prior), self.mode_of(tags))
        return out

    def sources(self, signals: dict[str, np.ndarray], row: int, tag: int, mode: str, margin: float = 0.1) -> list[str]:
        """The signals that raised this tag above where its prior alone would put it, strongest first
        ("history" when none did: the owner's habit alone)."""
        weights = self.weights[mode]
        base = logit(signals["history"][row, tag])
        lifts = {
            name: w * (logit(signals[name][row, tag]) - base)
            for name, w in weights.items()
            if name not in ("bias", "history") and w > 0
        }
        chosen = sorted((name for name, lift in lifts.items() if lift > margin), key=lambda name: -lifts[name])
        return chosen or ["history"]  # nothing about this photo raised it: the owner's habit alone

    def to_json(self) -> dict:
        return {"weights": self.weights, "fitted_on": self.fitted_on, "calibration": self.calibration}

    def describe(self, mode: str = "untagged") -> str:
        weights = self.weights[mode]
        return ", ".join(f"{name} {w:+.2f}" for name, w in weights.items() if name != "bias")

    @classmethod
    def from_json(cls, data: dict) -> "Blend":
        weights = {mode: {k: float(v) for k, v in data["weights"][mode].items()} for mode in MODES}
        # a blend saved before calibration: the identity map
        return cls(weights, dict(data.get("fitted_on", {})), dict(data.get("calibration", {})))


def _restricted(weights: dict[str, float], available: Sequence[str]) -> dict[str, float]:
    return {name: w for name, w in weights.items() if name == "bias" or name in available}


def support_of(gallery: Gallery, queries: Queries) -> np.ndarray:
    """[Q, V] how many gallery photos carry each tag, each query's own photo left out."""
    self_rows = np.array([gallery.row_of(key) for key in queries.keys], dtype=np.int64)
    support = np.repeat(gallery.counts[None, :].astype(np.float64), len(self_rows), axis=0)
    inside = self_rows >= 0
    support[inside] -= gallery.labels[self_rows[inside]]
    return support


def fit_blend(
    signals: dict[str, np.ndarray],
    truth: np.ndarray,
    present: Sequence[Sequence[int]],
    support: Optional[np.ndarray] = None,
) -> Blend:
    """Fit both modes' weights and calibration maps on held-out photos: `signals` [Q, V] each, `truth` [Q, V]
    0/1 (their tags, present ones excluded from the pairs). Photos with present tags fit "partial", the others
    "untagged". `support` [Q, V] (support_of): a tag no other tagged photo carries is left out of the pairs:
    left out, a photo's one-off tags would teach the blend that rare tags are likely (they are its own), while
    every tag suggest ranks is on at least one tagged photo."""
    available = list(signals)
    blend = Blend.defaults(available)
    fitted_on = {}
    for mode in MODES:
        rows = [q for q in range(len(truth)) if blend.mode_of(present[q]) == mode and truth[q].any()]
        names = [n for n in blend.weights[mode] if n != "bias"]
        mask = np.ones((len(rows), truth.shape[1]), dtype=bool)
        for r, q in enumerate(rows):
            mask[r, list(present[q])] = False
        if support is not None:
            mask &= support[rows] > 0
        if len(rows) >= MIN_FIT_PHOTOS:
            features = np.stack([logit(signals[n][rows])[mask] for n in names], axis=1)
            start = np.array([blend.weights[mode][n] for n in names] + [blend.weights[mode]["bias"]])
            solved = _logistic(features, truth[rows][mask].astype(np.float64), start)
            fitted = {n: round(float(w), 4) for n, w in zip(names, solved[:-1])}
            blend.weights[mode] = {**fitted, "bias": round(float(solved[-1]), 4)}
            fitted_on[mode] = {"photos": len(rows), "pairs": int(mask.sum())}
        if rows:
            z = blend.logits({n: signals[n][rows] for n in names}, mode)
            blend.calibration[mode] = _calibration_map(z, signals["history"][rows], truth[rows], mask)
    blend.fitted_on = fitted_on
    return blend


def _calibration_map(z: np.ndarray, prior: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """How far the blend's logit z is trusted over the tag's prior, and the map fitted on top (Blend.calibrated).

    evidence = (H + 1) / (H + 1 + CALIBRATION_PRIOR_PHOTOS) for H held-out photos with a tag another photo
    carries: with one tagged photo nothing was held out and the score stays near the prior (a tag seen once is
    weak evidence); with hundreds it is the blend's. Then p = sigmoid(slope * u + intercept) on the mixed logit
    u, fitted on each held-out photo's CALIBRATION_TOP best-scored pairs and pulled towards the identity by
    CALIBRATION_SHRINK pairs (a few held-out photos barely move it, a few hundred set it)."""
    held_out = int(mask.any(axis=1).sum())
    evidence = (held_out + 1) / (held_out + 1 + CALIBRATION_PRIOR_PHOTOS)
    u = np.where(mask, evidence * z + (1 - evidence) * logit(prior), -np.inf)
    top = np.argsort(-u, axis=1, kind="stable")[:, :CALIBRATION_TOP]
    chosen = np.take_along_axis(u, top, axis=1)
    kept = np.isfinite(chosen)
    x, y = chosen[kept], np.take_along_axis(truth, top, axis=1)[kept].astype(np.float64)
    slope, intercept = 1.0, 0.0
    if len(x):
        slope, intercept = _logistic(x[:, None], y, np.array([1.0, 0.0]), pull=np.array(CALIBRATION_SHRINK))
    return {
        "evidence": round(evidence, 4),
        "slope": round(float(slope), 4),
        "intercept": round(float(intercept), 4),
        "pairs": int(len(x)),
    }


def _logistic(x: np.ndarray, y: np.ndarray, prior_weights: np.ndarray, iterations: int = 30, pull=None) -> np.ndarray:
    """Logistic regression by damped Newton steps with an L2 pull towards `prior_weights` (last = bias): `pull`
    per weight, by default SHRINK on the weights and none on the bias."""
    design = np.hstack([x, np.ones((len(x), 1))])
    if pull is None:
        pull = np.full(design.shape[1], SHRINK)
        pull[-1] = 1e-6

    def loss(w: np.ndarray) -> float:
        z = design @ w
        return float(np.logaddexp(0.0, z).sum() - y @ z + 0.5 * (pull * (w - prior_weights) ** 2).sum())

    w = prior_weights.astype(np.float64).copy()
    current = loss(w)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
        gradient = design.T @ (p - y) + pull * (w - prior_weights)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(pull)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-4 and loss(w - scale * step) > current:  # halve until the loss goes down
            scale /= 2
        if scale <= 1e-4:
            break
        w -= scale * step
        current = loss(w)
        if np.abs(scale * step).max() < 1e-6:
            break
    return w
