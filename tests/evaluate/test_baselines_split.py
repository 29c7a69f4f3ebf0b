"""Baselines and splits on small hand-made cases."""

import numpy as np
import pytest

from phototag.evaluate.baselines import embeddings, knn_label_transfer, library_most_frequent, owner_most_frequent
from phototag.evaluate.split import split_groups, split_items


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


def test_grouped_split_keeps_groups_whole_and_is_seeded():
    owners = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 10
    mask = split_groups(owners, 0.25, seed=1)
    for owner in set(owners):
        sides = {bool(m) for o, m in zip(owners, mask) if o == owner}
        assert len(sides) == 1
    assert 0 < mask.sum() < len(owners)
    assert (split_groups(owners, 0.25, seed=1) == mask).all()
    # the order of the input does not change which groups are held out
    reversed_mask = split_groups(owners[::-1], 0.25, seed=1)[::-1]
    assert (reversed_mask == mask).all()


def test_photo_split_fraction_and_seed_changes_it():
    items = list(range(100))
    kept, held = split_items(items, items, 0.2, seed=0)
    assert len(held) == 20 and len(kept) == 80 and not set(kept) & set(held)
    _, other = split_items(items, items, 0.2, seed=1)
    assert set(other) != set(held)
    with pytest.raises(ValueError):
        split_groups(items, 1.0, seed=0)


def test_photo_split_keeps_identical_copies_together():
    from phototag.evaluate.experiment import _split_key
    from phototag.library.index import PhotoRow

    def row(pid, fingerprint, folder):
        return PhotoRow(pid, None, b"", f"{folder}/{pid}.jpg", folder, 1, 1, fingerprint, None, None, None, "ok", None)

    photos = [row(i, f"fp{i // 2}", "a" if i < 10 else "b") for i in range(20)]  # pairs of byte-identical copies
    keys = [_split_key(p, None, "photo") for p in photos]
    for seed in range(5):
        kept, held = split_items(photos, keys, 0.3, seed)
        assert not {p.fingerprint for p in kept} & {p.fingerprint for p in held}
    assert {_split_key(p, None, "folder") for p in photos} == {"a", "b"}
