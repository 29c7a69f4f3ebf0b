"""Nearest gallery photos over big galleries (issue 23, item 5): numpy's exact search up to EXACT_UP_TO, faiss
above (an IVF index that passed its recall check on the gallery, else faiss's exact search), and without faiss
the exact search whatever the size."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from phototag.model import nearest
from phototag.model.ranking import Ranker
from phototag.model.signals import Gallery, Place, Queries, normalised


def _library(photos: int, cluster: int, spread: float, seed: int = 0, tags: int = 40):
    """Photos in events (clusters of `cluster` look-alikes), each event with its own three tags."""
    rng = np.random.default_rng(seed)
    events = max(1, photos // cluster)
    centres = rng.standard_normal((events, 64))
    event = rng.integers(0, events, photos)
    vectors = normalised(centres[event] + spread * rng.standard_normal((photos, 64)))
    event_tags = rng.integers(0, tags, (events, 3))
    labels = np.zeros((photos, tags), np.float32)
    labels[np.arange(photos)[:, None], event_tags[event]] = 1.0
    return vectors, labels


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))


def test_small_galleries_are_searched_exactly_and_all_rows_come_back_when_k_covers_them():
    vectors, _ = _library(300, 10, 0.5)
    search = nearest.NeighbourSearch(vectors)
    assert search.exact
    rows, sims = search.search(vectors[:5], 12)
    assert rows.shape == sims.shape == (5, 12)
    best = np.argsort(-(vectors[:5] @ vectors.T), axis=1)[:, :12]
    assert all(set(r) == set(b) for r, b in zip(rows, best))
    rows, sims = search.search(vectors[:2], 1000)  # more than there are: every row, in gallery order
    assert rows.shape == (2, 300) and (rows[0] == np.arange(300)).all()
    assert np.allclose(sims, vectors[:2] @ vectors.T)


def test_an_ivf_index_finds_the_exact_neighbours_of_a_clustered_gallery():
    pytest.importorskip("faiss")
    vectors, _ = _library(6000, 100, 0.6)
    queries = normalised(vectors[:400] + 0.05 * np.random.default_rng(1).standard_normal((400, 64)))
    search = nearest.NeighbourSearch(vectors, exact_up_to=1000)
    assert not search.exact
    rows, _ = search.search(queries, 50)
    assert type(search._index).__name__ == "IndexIVFFlat"  # it passed its recall check
    truth, _ = nearest.exact_search(vectors, queries, 50)
    assert _recall(rows, truth) >= 0.95
    again, _ = nearest.NeighbourSearch(vectors, exact_up_to=1000).search(queries, 50)
    assert (again == rows).all()  # the same gallery in the same order: the same index and answers


def test_a_pickled_search_carries_the_index_built_here():
    """suggest --ray sends the recommender (its gallery's search with it) to each ranking actor: the copy searches
    the very faiss index built on the driver, and one not built yet stays unbuilt."""
    import pickle

    pytest.importorskip("faiss")
    vectors, _ = _library(6000, 100, 0.6)
    search = nearest.NeighbourSearch(vectors, exact_up_to=1000)
    assert pickle.loads(pickle.dumps(search))._index is None
    search.build()
    copy = pickle.loads(pickle.dumps(search))
    assert type(copy._index).__name__ == type(search._index).__name__ and copy._index.nprobe == search._index.nprobe
    for got, expected in zip(copy.search(vectors[:50], 50), search.search(vectors[:50], 50)):
        assert np.array_equal(got, expected)


def test_a_diffuse_gallery_that_fails_the_check_is_searched_exactly_by_faiss():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    vectors = normalised(rng.standard_normal((3000, 64)))  # no structure: an index would miss most neighbours
    search = nearest.NeighbourSearch(vectors, exact_up_to=1000)
    rows, _ = search.search(vectors[:100], 50)
    assert type(search._index).__name__ == "IndexFlatIP"
    truth, _ = nearest.exact_search(vectors, vectors[:100], 50)
    assert _recall(rows, truth) == 1.0


def _suggest(vectors, labels, photos: int, present_share: float, monkeypatch, exact_up_to: int):
    """Top-5 tags of the kNN signal, and the top-5 of the ranking blend, for the last `photos` photos."""
    from phototag.model.ranking import Blend
    from phototag.model.signals import signals_for

    monkeypatch.setattr(nearest, "EXACT_UP_TO", exact_up_to)
    rng = np.random.default_rng(3)
    gallery_rows = len(vectors) - photos
    places = [Place(f"event{i // 50}", f"{i}.jpg") for i in range(len(vectors))]
    gallery = Gallery(labels[:gallery_rows], vectors[:gallery_rows], places[:gallery_rows], list(range(gallery_rows)))
    present = [
        [int(np.flatnonzero(labels[i])[0])] if rng.random() < present_share else []
        for i in range(gallery_rows, len(vectors))
    ]
    general = {"general": np.full((photos, labels.shape[1]), np.nan)}  # no general tagger here: no opinion
    keys = list(range(gallery_rows, len(vectors)))
    queries = Queries(vectors[gallery_rows:], places[gallery_rows:], keys, present, general)
    knn = signals_for(gallery, queries, only=["knn"])["knn"]
    scores, _ = Ranker(Blend.defaults(["general"])).score(gallery, queries)
    kind = type(gallery.neighbour_search()._index).__name__
    return np.argsort(-knn, axis=1)[:, :5], np.argsort(-scores, axis=1)[:, :5], knn, kind


@pytest.mark.parametrize("present_share", [0.0, 0.5])
def test_the_index_gives_the_same_suggestions_as_exact_search(monkeypatch, present_share):
    pytest.importorskip("faiss")
    vectors, labels = _library(6400, 100, 0.6, seed=4)
    exact_knn, exact_top, exact_values, kind = _suggest(vectors, labels, 400, present_share, monkeypatch, 100_000)
    assert kind == "NoneType"  # numpy's exact search
    index_knn, index_top, index_values, kind = _suggest(vectors, labels, 400, present_share, monkeypatch, 1000)
    assert kind == "IndexIVFFlat"
    same = np.mean([set(a) == set(b) for a, b in zip(exact_top, index_top)])
    assert same >= 0.95
    assert np.mean([set(a) == set(b) for a, b in zip(exact_knn, index_knn)]) >= 0.95
    assert np.abs(exact_values - index_values).max() < 0.05


def test_without_faiss_a_big_gallery_is_searched_exactly_and_a_note_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if faiss-cpu were not installed
    vectors, _ = _library(3000, 100, 0.6)
    search = nearest.NeighbourSearch(vectors, exact_up_to=1000)
    assert search.exact
    rows, sims = search.search(vectors[:50], 50)
    truth, truth_sims = nearest.exact_search(vectors, vectors[:50], 50)
    assert (rows == truth).all() and np.array_equal(sims, truth_sims)
    assert nearest.index_note(nearest.EXACT_UP_TO) is None
    note = nearest.index_note(nearest.EXACT_UP_TO + 1)
    assert "phototag[big]" in note and "\n" not in note
