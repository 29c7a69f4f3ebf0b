"""Training tensors from a real scanned library: labels, vocabulary, hierarchy, leave-one-out histories."""

from __future__ import annotations

import numpy as np
import torch

from phototag.cli.common import RunLog
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.library.scan import scan_library
from phototag.train.data import build_examples, choose_vocabulary, hierarchy_map, owner_histories
from tests.photos import make_jpeg, write_sidecar


def _library(tmp_path, photos):
    root = tmp_path / "lib"
    for i, (rel, tags, hierarchical) in enumerate(photos):
        image = make_jpeg(root / rel, color=(40 * i % 255, 90, 200))
        write_sidecar(image.with_suffix(".xmp"), subjects=tags, hierarchical=hierarchical)
    index = Index(tmp_path / "index.sqlite", root)
    scan_library(index, RunLog("test"))
    return index


def _fake_features(photos):
    return {p.fingerprint: torch.full((4, 2, 2), float(i)) for i, p in enumerate(photos)}


def test_a_photos_own_tags_never_feed_its_history(tmp_path):
    index = _library(
        tmp_path,
        [
            ("a.jpg", ["cat", "dog"], []),
            ("b.jpg", ["cat"], []),
            ("c.jpg", ["Cat", "tree"], []),
            ("d.jpg", ["tree", "cat"], []),
        ],
    )
    photos = index.photos()
    history = TagHistory(photos)
    vocabulary = choose_vocabulary(history, min_count=1)
    assert vocabulary == ["cat", "tree", "dog"]  # most used first; 'Cat' merged into 'cat'
    examples = build_examples(photos, history, history, vocabulary, _fake_features(photos))
    by_name = {p.path.name: i for i, p in enumerate(examples.photos)}
    # counts: cat 4, tree 2, dog 1. Photo a (cat, dog) leaves itself out: cat 3, tree 2, dog 0 -> / 3
    a = examples.histories[by_name["a.jpg"]]
    assert np.allclose(a, [1.0, 2 / 3, 0.0])
    assert examples.labels[by_name["a.jpg"]].tolist() == [1.0, 0.0, 1.0]
    # photo b (cat): cat 3, tree 2, dog 1
    assert np.allclose(examples.histories[by_name["b.jpg"]], [1.0, 2 / 3, 1 / 3])
    # the only photo with 'dog' sees no 'dog' in its history, every other photo does
    for name, row in by_name.items():
        assert (examples.histories[row, 2] > 0) == (name != "a.jpg")
    # without leave-one-out the history is the owner's full one
    full = build_examples(photos, history, history, vocabulary, _fake_features(photos), leave_one_out=False)
    assert np.allclose(full.histories[by_name["a.jpg"]], [1.0, 0.5, 0.25])
    owners, stacked = owner_histories(history, vocabulary)
    assert owners == ["me"] and np.allclose(stacked[0], [1.0, 0.5, 0.25])


def test_history_from_other_photos_is_not_reduced(tmp_path):
    """A held-out photo's history comes from the training part: nothing of it is in there to leave out."""
    index = _library(tmp_path, [("a.jpg", ["cat"], []), ("b.jpg", ["cat", "dog"], []), ("c.jpg", ["dog"], [])])
    photos = index.photos()
    train = [p for p in photos if p.path.name != "c.jpg"]
    test = [p for p in photos if p.path.name == "c.jpg"]
    everything, train_history = TagHistory(photos), TagHistory(train)
    vocabulary = ["cat", "dog"]
    examples = build_examples(test, everything, train_history, vocabulary, _fake_features(photos))
    assert np.allclose(examples.histories[0], [1.0, 0.5])  # train counts cat 2, dog 1
    assert examples.truths == [{"dog"}]


def test_min_count_and_hierarchical_leaves(tmp_path):
    index = _library(
        tmp_path,
        [
            ("a.jpg", [], ["Animals|Cat"]),
            ("b.jpg", ["Cat"], ["Animals|Cat"]),
            ("c.jpg", ["rare"], ["Places|Paris"]),
            ("d.jpg", [], ["Animals|Cat", "Places|Paris"]),
        ],
    )
    history = TagHistory(index.photos())
    vocabulary = choose_vocabulary(history, min_count=2)
    assert vocabulary == ["Cat", "Paris"]  # 'rare' is used once
    assert hierarchy_map(history, vocabulary) == {"Cat": "Animals|Cat", "Paris": "Places|Paris"}
    examples = build_examples(index.photos(), history, history, vocabulary, _fake_features(index.photos()))
    assert [sorted(t) for t in examples.truths] == [["Cat"], ["Cat"], ["Paris"], ["Cat", "Paris"]]
