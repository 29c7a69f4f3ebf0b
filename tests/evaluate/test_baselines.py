"""Baselines on small hand-made cases."""

import numpy as np
import pytest

from phototag.evaluate.baselines import (
    KnnChoice,
    cooccurrence_scores,
    embeddings,
    knn_label_transfer,
    library_most_frequent,
    neighbour_scores,
    owner_most_frequent,
    precision_at,
    tune_knn,
)


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


def test_knn_transfers_tags_of_the_nearest_photos():
    train_emb = embeddings(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]))
    train_labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    test_emb = embeddings(np.array([[1.0, 0.05], [0.0, 2.0]]))
    scores = knn_label_transfer(train_emb, train_labels, test_emb, k=2)
    assert np.argmax(scores[0]) == 0  # both neighbours carry tag 0
    assert np.argmax(scores[1]) == 2
    # with k=1 the first photo only sees its nearest neighbour: tag 1 gets no vote
    single = knn_label_transfer(train_emb, train_labels, test_emb, k=1)
    assert single[0, 1] < 1e-3


def test_embeddings_pool_feature_maps():
    maps = np.ones((2, 3, 4, 4), dtype=np.float32)
    pooled = embeddings(maps)
    assert pooled.shape == (2, 3) and np.allclose(np.linalg.norm(pooled, axis=1), 1.0)


def test_knn_weightings_rank_near_neighbours_higher():
    labels = np.array([[1, 0], [0, 1], [0, 1]])
    train = embeddings(np.array([[1.0, 0.0], [0.7, 0.714], [0.75, 0.66]]))  # cosine 1.0, 0.7, 0.75
    test = embeddings(np.array([[1.0, 0.0]]))
    # plain: two weaker neighbours outvote the nearest one; a sharp weighting lets the nearest win
    assert np.argmax(knn_label_transfer(train, labels, test, k=3, weighting="plain")[0]) == 1
    for sharp in ("cos^8", "softmax 0.05"):
        assert np.argmax(knn_label_transfer(train, labels, test, k=3, weighting=sharp)[0]) == 0


def test_tune_knn_chooses_on_validation_photos():
    rng = np.random.default_rng(0)
    # two classes of photos, 40 each, in two directions with noise: one neighbour may be noisy, many are not
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    classes = rng.integers(0, 2, 80)
    points = embeddings(centres[classes] + 0.6 * rng.standard_normal((80, 3)))
    labels = np.eye(2)[classes]
    fit, val = slice(0, 60), slice(60, 80)
    steps = []
    choice = tune_knn(
        points[fit], labels[fit], points[val], labels[val], ks=(1, 20), weightings=("plain",), advance=steps.append
    )
    assert len(steps) == 2
    assert choice.k in (1, 20) and 0.0 <= choice.val_p5 <= 0.2 + 1e-9  # one tag per photo: P@5 is at most 1/5
    assert choice.describe().startswith(f"k={choice.k}, plain (validation P@5")
    assert tune_knn(points[fit], labels[fit], points[:0], labels[:0]) == KnnChoice(10)  # nothing to choose on


def test_precision_at_counts_hits_in_the_top_k():
    scores = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])
    labels = np.array([[1, 0, 0], [1, 0, 0]])
    assert precision_at(scores, labels, k=1) == 0.5
    assert precision_at(scores, labels, k=3) == pytest.approx(1 / 3)


def test_cooccurrence_ranks_the_tags_seen_with_the_kept_one():
    train = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]])
    scores = cooccurrence_scores(train, np.array([0, 3]))
    assert np.argsort(-scores[0])[1:3].tolist() == [1, 2]  # after the kept tag 0: 1 (twice with it), then 2
    assert np.argmax(np.delete(scores[1], 3)) == 0  # tag 3 never co-occurs: the most frequent other tag
    assert np.all(scores[0] > 0)  # smoothed: no tag is ruled out


def test_neighbour_scores_use_the_tagged_photos_of_the_same_folder():
    train = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]])
    groups = ["a", "a", "b", "c"]
    scores = neighbour_scores(train, groups, ["a", "b", "c"])
    assert np.argmax(scores[0]) == 0 and scores[0, 1] > scores[0, 2]
    assert np.argmax(scores[1]) == 2
    # folder c holds only an untagged photo: the library's frequencies
    assert np.argsort(-scores[2]).tolist() == [0, 1, 2]
