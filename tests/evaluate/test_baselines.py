"""Baselines on small hand-made cases."""

import numpy as np

from phototag.evaluate.baselines import embeddings, knn_label_transfer, library_most_frequent, owner_most_frequent


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
