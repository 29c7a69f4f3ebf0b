"""The eval protocols on small hand-made cases: which tag a photo keeps, which photos have tagged neighbours."""

import numpy as np

from phototag.evaluate.protocols import keep_one_tag, partial_rows, rank_kept_last, with_tagged_neighbours
from phototag.metrics import rank_scores
from phototag.model.signals import REGISTRY, Gallery, Place, Queries, neighbours_of, signals_for


def test_each_photo_keeps_one_of_its_own_tags_seeded():
    labels = np.array([[1, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 1]] * 20)
    kept = keep_one_tag(labels, seed=0)
    assert all(labels[i, k] == 1 for i, k in enumerate(kept) if i % 4 != 2)
    assert all(kept[2::4] == -1)  # no tag, nothing kept
    assert kept.tolist() == keep_one_tag(labels, seed=0).tolist()
    assert kept.tolist() != keep_one_tag(labels, seed=1).tolist()
    assert len(set(kept[0::4].tolist())) == 3  # at random among the photo's tags, not always the first


def test_the_partial_protocol_scores_photos_with_two_tags_each_keeping_one():
    labels = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]])
    scored, kept = partial_rows(labels, seed=0)
    assert scored == [0, 3] and all(labels[row, tag] == 1 for row, tag in zip(scored, kept))
    assert kept.tolist() == keep_one_tag(labels, seed=0)[[0, 3]].tolist()


def test_the_kept_tag_ranks_last():
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.3]])
    ranked = rank_scores(rank_kept_last(scores, np.array([0, 1])), 3)
    assert ranked[:, -1].tolist() == [0, 1]
    assert scores[0, 0] == 0.9  # the input is left as it was


def test_photos_with_tagged_neighbours_are_those_the_neighbours_signal_has_something_to_say_about():
    # one definition of a photo's neighbours: the neighbours signal's (same folder sequence, its event window)
    day = 86400.0
    train = [
        Place("a", "IMG_1.jpg", 0.0),
        Place("b", "IMG_1.jpg"),  # no vocabulary tag
        Place("c", "IMG_1.jpg", 0.0),
        Place("e", "IMG_1.jpg"),
    ]
    test = [
        Place("a", "IMG_2.jpg", 3600.0),  # the next photo of a tagged one, an hour later
        Place("b", "IMG_2.jpg"),  # its folder's photo has no vocabulary tag
        Place("c", "IMG_2.jpg", 10 * day),  # same folder, but ten days later: another event
        Place("d", "IMG_1.jpg", 0.0),  # another folder, same time as a tagged photo: not a neighbour
        Place("a", "IMG_3.jpg", 3 * day),  # the tagged photo's folder, three days on
    ]
    labels = np.array([[1, 0], [0, 0], [0, 1], [1, 0]])
    gallery = Gallery(labels, np.eye(4, 3), train, list(range(4)))
    queries = Queries(np.eye(5, 3), test, list(range(10, 15)), [[] for _ in test])
    assert with_tagged_neighbours(gallery, queries).tolist() == [True, False, False, False, False]
    near = neighbours_of(
        gallery,
        queries,
        np.full(5, -1),
        **{k: v for k, v in REGISTRY["neighbours"].parameters.items() if k != "evidence"},
    )
    assert near[0] == [0] and near[1] == [1]  # the untagged photo is a neighbour; it just says nothing
    # the neighbours signal moves exactly where the protocol says it has evidence
    prior = signals_for(gallery, queries, only=[])["history"]
    moved = ~np.isclose(signals_for(gallery, queries, only=["neighbours"])["neighbours"], prior).all(axis=1)
    assert moved.tolist()[0] and not any(moved.tolist()[2:])
