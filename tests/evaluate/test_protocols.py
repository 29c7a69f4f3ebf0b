"""The eval protocols on small hand-made cases: which tag a photo keeps, which photos have tagged neighbours."""

import numpy as np

from phototag.evaluate.protocols import event_groups, keep_one_tag, rank_kept_last, with_tagged_neighbours
from phototag.metrics import rank_scores


def test_each_photo_keeps_one_of_its_own_tags_seeded():
    labels = np.array([[1, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 1]] * 20)
    kept = keep_one_tag(labels, seed=0)
    assert all(labels[i, k] == 1 for i, k in enumerate(kept) if i % 4 != 2)
    assert all(kept[2::4] == -1)  # no tag, nothing kept
    assert kept.tolist() == keep_one_tag(labels, seed=0).tolist()
    assert kept.tolist() != keep_one_tag(labels, seed=1).tolist()
    assert len(set(kept[0::4].tolist())) == 3  # at random among the photo's tags, not always the first


def test_the_kept_tag_ranks_last():
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.3]])
    ranked = rank_scores(rank_kept_last(scores, np.array([0, 1])), 3)
    assert ranked[:, -1].tolist() == [0, 1]
    assert scores[0, 0] == 0.9  # the input is left as it was


def test_photos_with_tagged_neighbours_share_a_folder_or_a_day_with_a_tagged_training_photo():
    from types import SimpleNamespace as Photo

    train = [
        Photo(folder="a", taken="2023-05-14T09:00:00"),
        Photo(folder="b", taken=None),
        Photo(folder="c", taken="2023-06-01"),
    ]
    test = [
        Photo(folder="a", taken=None),  # same folder as a tagged photo
        Photo(folder="b", taken="2023-07-01T10:00:00"),  # its folder's photo has no vocabulary tag
        Photo(folder="d", taken="2023-05-14T18:30:00"),  # another folder, same day as a tagged photo
        Photo(folder="d", taken=None),
    ]
    labels = np.array([[1, 0], [0, 0], [0, 1]])
    mask = with_tagged_neighbours(labels, [event_groups(p) for p in train], [event_groups(p) for p in test])
    assert mask.tolist() == [True, False, True, False]
