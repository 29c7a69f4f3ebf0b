"""Baselines on small hand-made cases: the frequency rows, and the rows that are one registered signal alone."""

from dataclasses import replace

import numpy as np
import pytest

from phototag.evaluate.baselines import (
    TUNING,
    Evidence,
    Tuned,
    embeddings,
    library_most_frequent,
    owner_most_frequent,
    precision_at,
    signal_alone,
    signal_rows,
    signal_scores,
    tune_signal,
    tuning_steps,
)
from phototag.model.signals import REGISTRY, Gallery, Place, Queries, knn_signal, registered, signals_for


def test_library_most_frequent_ranks_by_training_counts():
    train = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0]])  # counts 3, 1, 1
    scores = library_most_frequent(train, 2)
    assert scores.shape == (2, 3)
    assert np.argmax(scores[0]) == 0 and scores[0, 1] == scores[0, 2]


def test_owner_most_frequent_follows_history_and_breaks_ties_by_library():
    train = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 0]])  # library prefers tag 2 over tag 1
    histories = np.array([[1.0, 0.5, 0.5]])  # owner: tag 0 first, then a tie
    order = np.argsort(-owner_most_frequent(histories, train)[0], kind="stable")
    assert order.tolist() == [0, 2, 1]


def test_embeddings_pool_feature_maps():
    maps = np.ones((2, 3, 4, 4), dtype=np.float32)
    pooled = embeddings(maps)
    assert pooled.shape == (2, 3) and np.allclose(np.linalg.norm(pooled, axis=1), 1.0)


def test_precision_at_counts_hits_in_the_top_k():
    scores = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])
    labels = np.array([[1, 0, 0], [1, 0, 0]])
    assert precision_at(scores, labels, k=1) == 0.5
    assert precision_at(scores, labels, k=3) == pytest.approx(1 / 3)


def _two_looks(photos: int, seed: int = 0, tags: int = 2):
    """Photos of two looks (directions with noise), one tag per look, one folder per photo."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    classes = rng.integers(0, 2, photos)
    points = embeddings(centres[classes] + 0.6 * rng.standard_normal((photos, 3)))
    labels = np.eye(tags)[classes]
    return points, labels


def _gallery(points, labels, first_key: int = 0) -> Gallery:
    places = [Place(f"f{i}", f"{i}.jpg") for i in range(len(points))]
    return Gallery(labels, points, places, list(range(first_key, first_key + len(points))))


def _queries(points, present=None, first_key: int = 1000) -> Queries:
    places = [Place(f"q{i}", f"{i}.jpg") for i in range(len(points))]
    present = present if present is not None else [[] for _ in points]
    return Queries(points, places, list(range(first_key, first_key + len(points))), present)


def test_a_signal_row_is_the_registered_signal_itself():
    points, labels = _two_looks(40)
    gallery, queries = _gallery(points[:30], labels[:30]), _queries(points[30:])
    parameters = {**REGISTRY["knn"].parameters, "k": 3, "temperature": 0.2}
    alone = signal_alone("knn", gallery, queries, parameters)
    self_rows = np.full(10, -1)
    prior = signals_for(gallery, queries, only=[])["history"]
    assert np.array_equal(alone, knn_signal(gallery, queries, self_rows, prior, **parameters))
    # the registered parameters unless told otherwise, and the present tag ranked last
    assert np.array_equal(signal_alone("knn", gallery, queries), signals_for(gallery, queries, only=["knn"])["knn"])
    kept = signal_alone("knn", gallery, _queries(points[30:], [[0]] * 10))
    assert np.all(kept[:, 0] == -np.inf) and np.all(np.isfinite(kept[:, 1]))


def test_a_changed_registered_signal_changes_its_eval_row():
    """One definition: the knn row follows whatever the registry's knn signal is."""
    points, labels = _two_looks(40)
    evidence = Evidence(
        _gallery(points[:20], labels[:20]),
        _queries(points[20:30]),
        labels[20:30],
        _gallery(points[:30], labels[:30]),
        _queries(points[30:]),
    )
    grids = {"knn": {"k": (1, 5)}}
    scores, tuned = signal_scores(["knn"], evidence, grids)
    assert tuned["knn"].parameters["k"] in (1, 5) and tuned["knn"].val_p5 > 0.15  # the looks are told apart

    def the_other_tag(gallery, queries, self_rows, prior, **parameters):  # the knn signal, turned upside down
        return 1.0 - knn_signal(gallery, queries, self_rows, prior, **parameters)

    with registered(replace(REGISTRY["knn"], compute=the_other_tag)):
        flipped, _ = signal_scores(["knn"], evidence, {"knn": {"k": (tuned["knn"].parameters["k"],)}})
    assert np.argmax(flipped["knn"], axis=1).tolist() == np.argmin(scores["knn"], axis=1).tolist()
    # a parameter the registry changes reaches the row too (kept_bonus only matters for a photo with a tag)
    with registered(replace(REGISTRY["knn"], parameters={**REGISTRY["knn"].parameters, "k": 2})):
        _, untuned = signal_scores(["knn"], evidence, {"knn": {"temperature": (0.05,)}})
    assert untuned["knn"].parameters["k"] == 2


def test_tuning_tries_every_setting_and_keeps_the_best_on_validation():
    points, labels = _two_looks(80)
    gallery, queries = _gallery(points[:60], labels[:60]), _queries(points[60:])
    steps = []
    choice = tune_signal("knn", gallery, queries, labels[60:], {"k": (1, 20), "temperature": (0.05, 1.0)}, steps.append)
    assert len(steps) == 4 == tuning_steps("knn", {"k": (1, 20), "temperature": (0.05, 1.0)})
    assert choice.parameters["k"] in (1, 20) and 0.0 <= choice.val_p5 <= 0.2 + 1e-9  # one tag a photo: P@5 <= 1/5
    for k in (1, 20):
        for temperature in (0.05, 1.0):
            p5 = precision_at(signal_alone("knn", gallery, queries, {"k": k, "temperature": temperature}), labels[60:])
            assert p5 <= choice.val_p5 + 1e-12
    assert choice.parameters["kept_bonus"] == REGISTRY["knn"].parameters["kept_bonus"]  # not tuned: registered
    assert choice.describe().startswith(f"k={choice.parameters['k']}, temperature=")
    nothing = tune_signal("knn", gallery, _queries(points[:0]), labels[:0])  # nothing to choose on
    assert nothing == Tuned("knn", dict(REGISTRY["knn"].parameters))
    assert tuning_steps("knn") == len(TUNING["knn"]["k"]) * len(TUNING["knn"]["temperature"])


def test_the_signal_rows_are_the_tuned_registered_ones():
    assert signal_rows(["library", "knn", "cooc", "neighbours", "A6", "suggest"]) == ["knn", "cooc", "neighbours"]
    for name, grid in TUNING.items():  # every tuned parameter is one of the signal's; its registered value is tried
        assert all(parameter in REGISTRY[name].parameters for parameter in grid)
        assert all(REGISTRY[name].parameters[parameter] in values for parameter, values in grid.items())


def test_cooccurrence_alone_ranks_the_tags_seen_with_the_kept_one():
    labels = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]])
    gallery = _gallery(np.eye(6, 3), labels)
    scores = signal_alone("cooc", gallery, _queries(np.eye(2, 3), [[0], [3]]))
    assert np.argsort(-scores[0])[:2].tolist() == [1, 2]  # tag 1 (twice with the kept tag 0), then 2
    assert scores[0, 0] == -np.inf  # the kept tag itself is never suggested
    assert np.argmax(scores[1]) == 0  # tag 3 never co-occurs: the most frequent other tag
    assert np.all(scores[0, 1:] > 0)  # smoothed: no tag is ruled out


def test_neighbours_alone_uses_the_tagged_photos_next_to_the_photo():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]])
    places = [Place("a", "IMG_1.jpg"), Place("a", "IMG_3.jpg"), Place("a", "IMG_90.jpg"), Place("b", "IMG_1.jpg")]
    gallery = Gallery(labels, np.eye(4, 3), places, [0, 1, 2, 3])
    queries = Queries(np.eye(2, 3), [Place("a", "IMG_2.jpg"), Place("c", "IMG_1.jpg")], [10, 11], [[], []])
    scores = signal_alone("neighbours", gallery, queries, {"neighbours": 2})
    assert np.argmax(scores[0]) == 0 and scores[0, 1] > scores[0, 2]  # IMG_1 and IMG_3, not IMG_90
    assert np.argsort(-scores[1]).tolist() == [0, 2, 1]  # no neighbour: the prior (tag counts 2, 1, 2)


def test_a_tie_on_validation_keeps_the_registered_parameters():
    # one kept tag: co-occurrence ranks by how often each tag went with it, whatever a small smoothing
    labels = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1]])
    gallery = _gallery(np.eye(4, 3), labels)
    queries = _queries(np.eye(2, 3), [[0], [2]])
    truth = np.array([[0, 1, 0], [1, 0, 0]])
    registered_smoothing = REGISTRY["cooc"].parameters["smoothing"]
    choice = tune_signal("cooc", gallery, queries, truth, {"smoothing": (0.1, 0.3, registered_smoothing)})
    assert choice.parameters["smoothing"] == registered_smoothing
