"""One ranking from every signal the library has: a calibrated blend fitted on the owner's own photos (issue #11).

The signals (phototag.model.signals: kNN, probe, personal model, general model, neighbours, co-occurrence, history)
each score every tag of the owner's vocabulary for a photo, as a probability-like value in [0, 1]; the registry
there declares each one once.

The blend is a logistic regression on the signals' logits, one set of weights for untagged photos and one
for partly tagged ones (which also have `cooc`):  p = sigmoid(b + sum_s w_s * logit(s)).
It is fitted on held-out photos of the library (finetune's validation photos, or the tagged photos one at a
time left out when there is no personal model), pulled towards the default weights (weights/default_blend.json)
by an L2 penalty so that a small library stays close to the defaults. Its outputs are probabilities on this
owner's photos, so one threshold (`--min-score`) means the same on every photo. A signal with no opinion on a
tag (the personal model never learnt it) gives the tag's prior there.

Numpy only; the caller computes embeddings, model outputs and the general mapping.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from phototag.model.signals import MODES, PRIOR, REGISTRY, Gallery, Queries, logit, parameters_of, signals_for

# Two tags the owner never puts on the same photo (two places of one branch, two exclusive categories) are
# offered together only when both score at least STRONG; the weaker one is dropped otherwise. Tags under
# EXCLUSIVE_FLOOR are left alone: no threshold shows them, and dropping them only cost P@5 (openclipart owner,
# 300 tagged: 0.346 against 0.356 with no exclusion, the same offers at --min-score 0.5).
STRONG = 0.8
EXCLUSIVE_FLOOR = 0.3
EXCLUSIVE_DEPTH = 20  # a photo's best-scored tags looked at for exclusions
SHRINK = 20.0  # L2 pull of fitted weights towards the default weights (in units of one held-out photo-tag pair)
MIN_FIT_PHOTOS = 20  # fewer held-out photos: the default weights are used as they are
CALIBRATION_TOP = 5  # the calibration map is fitted on each held-out photo's best-scored tags (what suggest shows)
CALIBRATION_SHRINK = (30.0, 10.0)  # L2 pull of the map's slope and intercept towards the identity, in pairs
CALIBRATION_PRIOR_PHOTOS = 3.0  # held-out photos at which the blend and the tag's prior count the same
# Below this many held-out photos the map stays the identity: each photo's tags are then most of what made the
# other photos' priors, so a fit on them undoes the prior's shrinkage (leave-one-out right 60 % of the time at
# a mean score of 0.27 on one feedme-dev draw of 3 tagged photos; the library's other photos: 19 %).
CALIBRATION_MIN_PHOTOS = 5
MAX_FIT_PHOTOS = 600  # held-out photos used to fit a blend (more change little and cost time)
PERSONAL_OUTPUTS = ("probe", "personal", "general")  # the model outputs of a ranking with a personal model
BLEND_FORMAT = 2  # of a saved blend: 1 weights and calibration only; 2 also each signal's parameters (issue 20)
DEFAULT_BLEND = "default_blend.json"  # in weights/: the default weights, and which library, commit, seeds fitted them


@functools.cache
def default_weights() -> dict[str, dict[str, dict[str, float]]]:
    """{"personal" | "owner": {mode: {signal: w, ..., "bias": b}}} from the packaged data file (checksummed)."""
    from phototag.model.weights import read_packaged_json

    return read_packaged_json(DEFAULT_BLEND)["weights"]


# ------------------------------------------------------------------ the ranker
class Ranker:
    """The ranking as one component: the registry's signals, blended and calibrated (DESIGN.md).

        ranker = Ranker()                                     # or Ranker(saved_blend)
        ranker.fit(gallery, held_out, truth)                  # the blend, fitted on held-out photos
        scores, sources = ranker.score(gallery, queries)      # [Q, V] probabilities; sources(row, tag) -> "knn+cooc"

    suggest and both reviews (phototag.model.recommend.Recommender), finetune and eval's suggest rows
    (phototag.train.ranking, phototag.evaluate.suggest_rows, phototag.app.evaluate.held_out_scores) rank through
    it, so eval measures what suggest ranks by construction."""

    def __init__(self, blend: Optional["Blend"] = None, only: Optional[Sequence[str]] = None, cold_start: bool = False):
        self.blend = blend
        self.only = only  # the signals weighed (None: every registered one the queries have; eval's ablations)
        self.cold_start = cold_start  # --history none: every tag the same prior (signals_for)

    def fit(self, gallery: Gallery, held_out: Queries, truth: np.ndarray) -> "Blend":
        """Fit the blend (weights and calibration) on `held_out` photos, each left out of its own evidence;
        `truth` [Q, V] 0/1 their tags (phototag.model.evidence.held_out_queries makes both)."""
        signals = signals_for(gallery, held_out, only=self.only)
        self.blend = fit_blend(signals, truth, held_out.present, support_of(gallery, held_out), use=self.only)
        return self.blend

    def score(self, gallery: Gallery, queries: Queries) -> tuple[np.ndarray, "Sources"]:
        """What suggest ranks [Q, V] (ranked_scores) and where each score came from."""
        signals = signals_for(gallery, queries, cold_start=self.cold_start, only=self.only)
        scores = ranked_scores(self.blend, gallery, signals, queries.present)
        return scores, Sources(self.blend, signals, queries.present)


class Sources:
    """The signals that raised a tag for a photo of a Ranker.score, strongest first: sources(row, tag)."""

    def __init__(self, blend: "Blend", signals: dict[str, np.ndarray], present: Sequence[Sequence[int]]):
        self.blend, self.signals, self.present = blend, signals, present

    def __call__(self, row: int, tag: int) -> str:
        return "+".join(self.blend.sources(self.signals, row, tag, self.blend.mode_of(self.present[row])))


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
    # how the signals were computed beyond their parameters: {"general_by_meaning": bool} (GeneralMapping)
    settings: dict = field(default_factory=dict)

    @classmethod
    def defaults(cls, available: Sequence[str]) -> "Blend":
        """The default weights of the registered signals `available` (the personal table when a personal model
        is there); a signal the table does not know takes its registry default weight in its modes."""
        table = default_weights()["personal" if {"probe", "personal"} & set(available) else "owner"]
        known = {name for weights in table.values() for name in weights}
        weights = {}
        for mode in MODES:
            weights[mode] = {name: w for name, w in table[mode].items() if name == "bias" or name in available}
            weights[mode] |= {
                name: signal.default_weight
                for name, signal in REGISTRY.items()
                if name in available and name not in known and mode in signal.modes
            }
        return cls(weights)

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
        n, vocabulary = signals[PRIOR].shape
        out = np.zeros((n, vocabulary))
        for mode in MODES:
            rows = [q for q in range(n) if self.mode_of(present[q]) == mode]
            if rows:
                names = [name for name in self.weights[mode] if name != "bias"]
                z = self.logits({name: signals[name][rows] for name in names}, mode)
                out[rows] = self.calibrated(z, signals[PRIOR][rows], mode)
        for q, tags in enumerate(present):
            out[q, list(tags)] = 0.0
        return out

    def score_unused(self, general: np.ndarray, photos: int, present: Sequence[Sequence[int]]) -> np.ndarray:
        """Blended probabilities [Q, G] of tags the owner never used (`--new-tags`), from the general tagger's
        probabilities: every other signal sits at the prior of a tag on none of the `photos` tagged photos."""
        prior = REGISTRY[PRIOR].parameters
        unused_prior = prior["prior_photos"] * prior["prior_rate"] / (photos + prior["prior_photos"])
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
        base = logit(signals[PRIOR][row, tag])
        lifts = {
            name: w * (logit(signals[name][row, tag]) - base)
            for name, w in weights.items()
            if name not in ("bias", PRIOR) and w > 0
        }
        chosen = sorted((name for name, lift in lifts.items() if lift > margin), key=lambda name: -lifts[name])
        return chosen or [PRIOR]  # nothing about this photo raised it: the owner's habit alone

    def signals(self) -> list[str]:
        """The signals the blend weighs, in the order of its weights."""
        return list(dict.fromkeys(name for weights in self.weights.values() for name in weights if name != "bias"))

    def to_json(self) -> dict:
        """The saved blend: its format, weights, calibration and the parameters of every signal it weighs."""
        return {
            "format": BLEND_FORMAT,
            "weights": self.weights,
            "fitted_on": self.fitted_on,
            "calibration": self.calibration,
            "signals": parameters_of(self.signals()),
            "settings": self.settings,
        }

    def describe(self, mode: str = "untagged") -> str:
        weights = self.weights[mode]
        return ", ".join(f"{name} {w:+.2f}" for name, w in weights.items() if name != "bias")

    @classmethod
    def from_json(cls, data: dict) -> "Blend":
        weights = {mode: {k: float(v) for k, v in data["weights"][mode].items()} for mode in MODES}
        # a blend saved before calibration: the identity map
        return cls(
            weights,
            dict(data.get("fitted_on", {})),
            dict(data.get("calibration", {})),
            dict(data.get("settings") or {}),
        )


def load_blend(
    data: dict, available: Sequence[str], settings: Optional[dict] = None, what: str = "the personal model's blend"
) -> tuple[Blend, Optional[str]]:
    """A saved blend checked against the registry (phototag.model.signals) for the signals `available` now:
    (the blend, None) when it matches; else the blend to rank with and one line saying what changed.

    A changed parameter or a signal gone (or not available): the default weights, never scores with stale
    parameters. A signal new since it was fitted: the saved blend without it (its calibration holds for the
    signals it was fitted on; adding the signal at a default weight would not be calibrated). Another setting
    (`settings`: the general signal matching by meaning, `--no-embed`): the saved blend, and said so (refitting
    would not help: finetune matches by meaning whenever it can). A blend saved before blends recorded their
    parameters cannot be checked: used as it is, and said so."""
    refit = "run `phototag finetune` again to refit it"
    try:
        blend = Blend.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return Blend.defaults(available), f"{what} cannot be read: ranking with the default weights; {refit}"
    version = data.get("format", 1)
    if not isinstance(version, int) or version > BLEND_FORMAT:
        return Blend.defaults(available), f"{what} was saved by a newer phototag: ranking with the default weights"
    gone = [name for name in blend.signals() if name not in REGISTRY or name not in available]
    if gone:
        return Blend.defaults(available), (
            f"{what} weighs signal(s) this ranking does not have ({', '.join(gone)}): "
            f"ranking with the default weights; {refit}"
        )
    if version < 2:
        return blend, f"{what} predates saved signal parameters, so it cannot be checked against this version; {refit}"
    changed = _changed_parameters(data.get("signals") or {}, blend.signals())
    if changed:
        return Blend.defaults(available), (
            f"{what} was fitted with other signal parameters ({'; '.join(changed)}): "
            f"ranking with the default weights; {refit}"
        )
    new = [
        name
        for name in available
        if any(mode in REGISTRY[name].modes and name not in blend.weights[mode] for mode in MODES)
    ]
    if new:
        return blend, f"{what} was fitted before signal(s) {', '.join(new)} existed: ranking without them; {refit}"
    other = [
        f"{key} {blend.settings[key]} -> {value}"
        for key, value in (settings or {}).items()
        if key in blend.settings and blend.settings[key] != value
    ]
    if other:
        return blend, f"{what} was fitted with other settings ({'; '.join(other)}): its scores may be a little off"
    return blend, None


def _changed_parameters(saved: dict, names: Sequence[str]) -> list[str]:
    """'knn k 50 -> 10' for each parameter of the signals `names` that differs between `saved` and the code."""
    changed = []
    for name, now in parameters_of(names).items():
        before = saved.get(name) or {}
        for key in sorted(set(now) | set(before)):
            if before.get(key) != now.get(key):
                changed.append(f"{name} {key} {before.get(key, 'none')} -> {now.get(key, 'none')}")
    return changed


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
    use: Optional[Sequence[str]] = None,
) -> Blend:
    """Fit both modes' weights and calibration maps on held-out photos: `signals` [Q, V] each, `truth` [Q, V]
    0/1 (their tags, present ones excluded from the pairs). Photos with present tags fit "partial", the others
    "untagged". `support` [Q, V] (support_of): a tag no other tagged photo carries is left out of the pairs:
    left out, a photo's one-off tags would teach the blend that rare tags are likely (they are its own), while
    every tag suggest ranks is on at least one tagged photo. `use`: the signals weighed (default: all of
    `signals`; eval's ablations leave some out, the prior is still what every signal falls back on)."""
    available = [name for name in signals if use is None or name in use]
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
        if len(rows) >= MIN_FIT_PHOTOS and names:
            features = np.stack([logit(signals[n][rows])[mask] for n in names], axis=1)
            start = np.array([blend.weights[mode][n] for n in names] + [blend.weights[mode]["bias"]])
            solved = _logistic(features, truth[rows][mask].astype(np.float64), start)
            fitted = {n: round(float(w), 4) for n, w in zip(names, solved[:-1])}
            blend.weights[mode] = {**fitted, "bias": round(float(solved[-1]), 4)}
            fitted_on[mode] = {"photos": len(rows), "pairs": int(mask.sum())}
        if rows:
            z = blend.logits({n: signals[n][rows] for n in names}, mode)
            blend.calibration[mode] = _calibration_map(z, signals[PRIOR][rows], truth[rows], mask)
    blend.fitted_on = fitted_on
    return blend


def _calibration_map(z: np.ndarray, prior: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """How far the blend's logit z is trusted over the tag's prior, and the map fitted on top (Blend.calibrated).

    evidence = (H + 1) / (H + 1 + CALIBRATION_PRIOR_PHOTOS) for H held-out photos with a tag another photo
    carries: with one tagged photo nothing was held out and the score stays near the prior (a tag seen once is
    weak evidence); with hundreds it is the blend's. Then p = sigmoid(slope * u + intercept) on the mixed logit
    u, fitted on each held-out photo's CALIBRATION_TOP best-scored pairs and pulled towards the identity by
    CALIBRATION_SHRINK pairs (a few held-out photos barely move it, a few hundred set it); with fewer than
    CALIBRATION_MIN_PHOTOS held-out photos the map is the identity."""
    held_out = int(mask.any(axis=1).sum())
    evidence = (held_out + 1) / (held_out + 1 + CALIBRATION_PRIOR_PHOTOS)
    u = np.where(mask, evidence * z + (1 - evidence) * logit(prior), -np.inf)
    top = np.argsort(-u, axis=1, kind="stable")[:, :CALIBRATION_TOP]
    chosen = np.take_along_axis(u, top, axis=1)
    kept = np.isfinite(chosen)
    x, y = chosen[kept], np.take_along_axis(truth, top, axis=1)[kept].astype(np.float64)
    slope, intercept = 1.0, 0.0
    if len(x) and held_out >= CALIBRATION_MIN_PHOTOS:
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
