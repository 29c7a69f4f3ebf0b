"""Scores that mean what they say (issue #19): the calibration fitted with the blend, the shrinkage of small
libraries, exclusive tags, and the ECE metric. Pure numpy: no backbone, no photos."""

from __future__ import annotations

import numpy as np
import pytest

from phototag.evaluate.calibration import expected_calibration_error, reliability, top_scores
from phototag.model.ranking import STRONG, Blend, fit_blend, ranked_scores, support_of, without_exclusive
from phototag.model.signals import Gallery, Place, Queries, logit, signals_for


def _ece_top5(scores: np.ndarray, truth: np.ndarray) -> float:
    chosen, hits = top_scores(scores, list(range(truth.shape[1])), [set(np.flatnonzero(t)) for t in truth])
    return expected_calibration_error(chosen, hits)


# ------------------------------------------------------------------ the metric
def test_ece_of_a_confident_ranking_that_is_rarely_right():
    scores = np.full(100, 0.95)
    hits = np.zeros(100)
    hits[:5] = 1
    assert expected_calibration_error(scores, hits) == pytest.approx(0.90)


def test_ece_is_zero_when_each_bin_is_right_as_often_as_it_says_and_bins_weigh_by_count():
    scores = np.array([0.25] * 4 + [0.75] * 4)
    hits = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(scores, hits) == pytest.approx(0.0)
    table = reliability(scores, hits)
    assert [row["count"] for row in table] == [0, 0, 4, 0, 0, 0, 0, 4, 0, 0]
    assert table[2]["right"] == pytest.approx(0.25) and table[0]["score"] is None
    # 3 of 4 at 0.25 right 1 in 3 (off by 1/12), 1 of 4 at 0.95 wrong (off by 0.95)
    assert expected_calibration_error([0.25, 0.25, 0.25, 0.95], [1, 0, 0, 0]) == pytest.approx(0.75 / 12 + 0.25 * 0.95)


def test_ece_counts_a_score_of_one_in_the_top_bin_and_is_zero_for_nothing():
    assert reliability([1.0], [1])[-1]["count"] == 1
    assert expected_calibration_error([], []) == 0.0


# ------------------------------------------------------------------ calibration fitted with the blend
def _synthetic(rng, photos: int, tags: int = 30):
    """Held-out photos whose kNN signal is over-confident about the true probability of each tag."""
    base = rng.uniform(-4.0, 0.0, tags)
    true_logit = base[None, :] + rng.normal(0.0, 1.5, (photos, tags))
    p = 1.0 / (1.0 + np.exp(-true_logit))
    truth = (rng.random((photos, tags)) < p).astype(np.float32)
    rate = 1.0 / (1.0 + np.exp(-base))
    signals = {
        "knn": 1.0 / (1.0 + np.exp(-3.0 * true_logit)),  # right order, far too sure
        "general": np.clip(p + rng.normal(0, 0.2, p.shape), 0.01, 0.99),
        "history": np.repeat(rate[None, :], photos, axis=0),
        "neighbours": np.repeat(rate[None, :], photos, axis=0),
    }
    return signals, truth


def test_the_fitted_blend_is_calibrated_on_new_photos_where_the_defaults_are_not():
    rng = np.random.default_rng(0)
    signals, truth = _synthetic(rng, 400)
    blend = fit_blend(signals, truth, [[] for _ in truth])
    assert blend.calibration["untagged"]["pairs"] == 400 * 5
    assert blend.calibration["untagged"]["evidence"] > 0.99  # hundreds of held-out photos: the blend's own
    fresh, fresh_truth = _synthetic(rng, 400)
    present = [[] for _ in fresh_truth]
    assert _ece_top5(blend.score(fresh, present), fresh_truth) < 0.05
    assert _ece_top5(Blend.defaults(list(fresh)).score(fresh, present), fresh_truth) > 0.1


def test_few_held_out_photos_keep_the_score_near_the_prior():
    rng = np.random.default_rng(1)
    signals, truth = _synthetic(rng, 3)
    blend = fit_blend(signals, truth, [[] for _ in truth])
    assert blend.calibration["untagged"]["evidence"] == pytest.approx(4 / 7, abs=1e-4)
    z = blend.logits(signals, "untagged")
    scores = blend.score(signals, [[] for _ in truth])
    prior = signals["history"]
    # between the blend's own probability and the prior, nearer the prior than the blend's 1/(1+e^-z) would be
    assert np.all(np.abs(logit(scores) - logit(prior)) <= np.abs(z - logit(prior)) + 0.5)


def test_a_handful_of_held_out_photos_leaves_the_map_alone_and_more_fit_it():
    """Leave-one-out on 3 photos that share their tags says those tags are always right (each photo's tags made
    the others' priors): the map must not learn that; with enough photos it is fitted."""
    rng = np.random.default_rng(4)
    small, small_truth = _synthetic(rng, 4)
    small_truth[:, :3] = 1.0  # every held-out photo carries the same three tags
    cal = fit_blend(small, small_truth, [[] for _ in small_truth]).calibration["untagged"]
    assert cal["pairs"] > 0 and (cal["slope"], cal["intercept"]) == (1.0, 0.0)
    big, big_truth = _synthetic(rng, 60)
    cal = fit_blend(big, big_truth, [[] for _ in big_truth]).calibration["untagged"]
    assert (cal["slope"], cal["intercept"]) != (1.0, 0.0)


def test_a_blend_saved_with_its_calibration_loads_with_it_and_an_older_one_without():
    rng = np.random.default_rng(2)
    signals, truth = _synthetic(rng, 60)
    blend = fit_blend(signals, truth, [[] for _ in truth])
    again = Blend.from_json(blend.to_json())
    present = [[] for _ in truth]
    assert np.allclose(again.score(signals, present), blend.score(signals, present))
    old = Blend.from_json({"weights": blend.weights})  # saved before issue #19: the identity map
    z = old.logits(signals, "untagged")
    assert np.allclose(old.score(signals, present), 1.0 / (1.0 + np.exp(-z)))


# ------------------------------------------------------------------ one tagged photo
def _library(labels: np.ndarray, queries: int, rng) -> tuple[Gallery, Queries]:
    g = len(labels)
    gallery = Gallery(labels, rng.normal(size=(g, 8)), [Place("a", f"{i:03d}.jpg") for i in range(g)], list(range(g)))
    places = [Place("a", f"{g + i:03d}.jpg") for i in range(queries)]  # in the same folder, next in line
    keys = [100 + i for i in range(queries)]
    photos = Queries(rng.normal(size=(queries, 8)), places, keys, [[] for _ in range(queries)])
    return gallery, photos


def test_one_tagged_photo_gives_no_tag_a_score_of_one_half():
    rng = np.random.default_rng(3)
    gallery, photos = _library(np.ones((1, 5), dtype=np.float32), 20, rng)
    held_out = Queries(gallery.embeddings, gallery.places, gallery.keys, [[]])
    blend = fit_blend(signals_for(gallery, held_out), gallery.labels, [[]], support_of(gallery, held_out))
    assert blend.calibration["untagged"]["pairs"] == 0  # nothing another photo supports: nothing to fit
    scores = ranked_scores(blend, gallery, signals_for(gallery, photos), photos.present)
    assert scores.max() < 0.5
    assert scores.max() < 0.2  # about how often a tag of one photo is on another one (feedme-dev: 0.1)


def test_a_tag_only_on_the_held_out_photo_is_left_out_of_the_fit():
    labels = np.array([[1, 1, 0], [1, 0, 1]], dtype=np.float32)
    rng = np.random.default_rng(4)
    gallery, _ = _library(labels, 0, rng)
    held_out = Queries(gallery.embeddings, gallery.places, gallery.keys, [[], []])
    assert support_of(gallery, held_out).tolist() == [[1, 0, 1], [1, 1, 0]]


# ------------------------------------------------------------------ tags that exclude each other
def test_tags_never_together_are_not_offered_together_unless_both_are_strong():
    labels = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1], [0, 1, 0]], dtype=np.float32)
    gallery = Gallery(labels, np.eye(4), [Place("a", f"{i}.jpg") for i in range(4)], list(range(4)))
    assert gallery.apart[0, 1] and gallery.apart[1, 0] and not gallery.apart[0, 2] and not gallery.apart[0, 0]
    scores = np.array([[0.45, 0.40, 0.30], [0.80, STRONG + 0.05, 0.30], [0.40, 0.45, 0.30], [0.45, 0.40, 0.30]])
    out = without_exclusive(scores, gallery.apart, [[], [], [], [2]])
    assert out[0].tolist() == [0.45, 0.0, 0.30]  # the weaker of the two places goes
    assert out[1].tolist() == scores[1].tolist()  # both strong: both stay
    assert out[2].tolist() == [0.0, 0.45, 0.30]
    out = without_exclusive(np.array([[0.45, 0.40, 0.0]]), gallery.apart, [[1]])  # the photo has tag 1 already
    assert out[0, 0] == 0.0


def test_a_tag_used_once_excludes_nothing():
    labels = np.array([[1, 0], [0, 1], [0, 1]], dtype=np.float32)
    gallery = Gallery(labels, np.eye(3), [Place("a", f"{i}.jpg") for i in range(3)], list(range(3)))
    assert not gallery.apart.any()


def test_two_leaves_of_one_branch_never_together_exclude_each_other_even_when_used_once():
    labels = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], dtype=np.float32)
    branches = ["Places|Spain", "Places|Spain", None, "Places|France"]
    gallery = Gallery(labels, np.eye(2), [Place("a", f"{i}.jpg") for i in range(2)], [0, 1], branches)
    assert gallery.apart[0, 1] and gallery.apart[1, 0]
    assert not gallery.apart[0, 3] and not gallery.apart[0, 2]  # another branch; a flat tag used with both
    out = without_exclusive(np.array([[0.45, 0.40, 0.6, 0.1]]), gallery.apart, [[]])
    assert out[0].tolist() == [0.45, 0.0, 0.6, 0.1]
