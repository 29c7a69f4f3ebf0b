"""Metrics checked against cases computed by hand."""

import numpy as np
import pytest

from phototag.metrics import evaluate_rankings, evaluate_scores, photo_metrics, rank_scores


def test_one_photo_by_hand():
    # truth {a, c, e}; ranking a x c y z e ...: hits at ranks 1, 3, 6
    m = photo_metrics(["a", "x", "c", "y", "z", "e", "q"], {"a", "c", "e"}, ks=(1, 3, 5, 10))
    assert m["P@1"] == 1.0 and m["R@1"] == pytest.approx(1 / 3) and m["Acc@1"] == 1.0
    assert m["P@3"] == pytest.approx(2 / 3) and m["R@3"] == pytest.approx(2 / 3)
    assert m["P@5"] == pytest.approx(2 / 5) and m["R@5"] == pytest.approx(2 / 3)
    # only 7 tags ranked: P@10 still divides by 10 (a short list is not rewarded)
    assert m["P@10"] == pytest.approx(3 / 10) and m["R@10"] == 1.0 and m["Acc@10"] == 1.0
    # AP = (1/1 + 2/3 + 3/6) / 3
    assert m["AP"] == pytest.approx((1 + 2 / 3 + 0.5) / 3)


def test_miss_and_never_ranked_tag():
    m = photo_metrics(["x", "y", "a"], {"a", "b"}, ks=(1, 3))
    assert m["P@1"] == 0.0 and m["Acc@1"] == 0.0
    assert m["P@3"] == pytest.approx(1 / 3) and m["Acc@3"] == 1.0 and m["R@3"] == 0.5
    # b never ranked: it counts as a miss in AP
    assert m["AP"] == pytest.approx((1 / 3) / 2)


def test_per_photo_and_per_owner_means_differ():
    rankings = [["a"], ["a"], ["a"], ["b"]]
    truths = [{"a"}, {"a"}, {"a"}, {"a"}]
    owners = ["big", "big", "big", "small"]
    ev = evaluate_rankings(rankings, truths, owners, ks=(1,))
    assert ev.per_photo["P@1"] == pytest.approx(0.75)  # 3 of 4 photos
    assert ev.per_owner["P@1"] == pytest.approx(0.5)  # owner means 1.0 and 0.0
    assert ev.photos == 4 and ev.owners == 2


def test_scores_rank_with_stable_ties():
    scores = np.array([[0.1, 0.9, 0.9, 0.0]])
    assert rank_scores(scores, 3).tolist() == [[1, 2, 0]]
    ev = evaluate_scores(scores, ["a", "b", "c", "d"], [{"c"}], ks=(1, 3))
    assert ev.per_photo["P@1"] == 0.0 and ev.per_photo["P@3"] == pytest.approx(1 / 3)
    assert ev.per_photo["mAP"] == pytest.approx(0.5)


def test_photo_without_truth_is_refused():
    with pytest.raises(ValueError):
        photo_metrics(["a"], set())
