"""The propagation signal (issue 21 item 3): tags spread over the similarity graph of the tagged photos and the
queries together, so that untagged photos pass a tagged photo's tags on to the photos near them."""

from __future__ import annotations

import numpy as np

from phototag.model.ranking import Blend, load_blend
from phototag.model.signals import (
    REGISTRY,
    Gallery,
    Place,
    Queries,
    available,
    default_signal_names,
    signals_for,
)


def _at(degrees) -> np.ndarray:
    """Unit vectors at these angles in a plane: cosine similarity falls with the angle between two."""
    angles = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _chain():
    """A (tag 0) at 0 degrees and D (tag 1) at 100; untagged B at 30 and C at 60. C is nearer D (40 degrees) than
    A (60), but its nearest photo of all is B, whose nearest is A: A's tag reaches C only through B."""
    gallery = Gallery(np.array([[1, 0], [0, 1]]), _at([0, 100]), [Place("f", "a.jpg"), Place("f", "d.jpg")], ["A", "D"])
    queries = Queries(_at([30, 60]), [Place("f", "b.jpg"), Place("f", "c.jpg")], ["B", "C"], [[], []])
    return gallery, queries


def _random_library(photos: int = 40, tags: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((photos, tags)) < 0.3).astype(np.float32)
    places = [Place("f", f"{i}.jpg") for i in range(photos)]
    return labels, rng.normal(size=(photos, 16)), places


def test_an_untagged_photo_passes_a_tagged_photos_tag_on_to_the_photo_beyond_it():
    gallery, queries = _chain()
    one = {"propagation": {"k": 1}, "knn": {"k": 1}}
    signals = signals_for(gallery, queries, only=["propagation", "knn"], parameters=one)
    c = 1  # C's row
    assert signals["propagation"][c, 0] > signals["propagation"][c, 1]  # A's tag, through B
    assert signals["knn"][c, 1] > signals["knn"][c, 0]  # kNN sees only the tagged photos: D's tag
    # B and C, one cluster, are scored together: both lean to A's tag
    assert (signals["propagation"][:, 0] > signals["propagation"][:, 1]).all()


def test_a_gallery_photo_is_left_out_of_its_own_evidence_exactly():
    """Held out to fit the blend, a tagged photo scores as it would untagged: as the same photo outside the
    gallery (same graph, its tags not among the seeds); its own tags coming back through its neighbours count
    for nothing."""
    labels, embeddings, places = _random_library()
    gallery = Gallery(labels, embeddings, places, list(range(len(labels))))
    held = Queries(embeddings[[5, 5]], [places[5]] * 2, [5, 5], [[], []])
    inside = signals_for(gallery, held, only=["propagation"])["propagation"]
    rest = [i for i in range(len(labels)) if i != 5]
    without = Gallery(labels[rest], embeddings[rest], [places[i] for i in rest], rest)
    outside = signals_for(without, Queries(embeddings[[5]], [places[5]], ["new"], [[]]), only=["propagation"])
    np.testing.assert_allclose(inside[0], outside["propagation"][0], atol=1e-5)
    np.testing.assert_array_equal(inside[0], inside[1])
    assert not np.allclose(inside[0], signals_for(gallery, held, only=[])["history"][0])  # it says something


def test_propagation_is_deterministic_and_the_gallerys_cached_graph_changes_nothing():
    labels, embeddings, places = _random_library(seed=1)
    queries = Queries(embeddings[:7] + 0.1, places[:7], [f"q{i}" for i in range(7)], [[] for _ in range(7)])

    def scores(gallery: Gallery) -> np.ndarray:
        return signals_for(gallery, queries, only=["propagation"])["propagation"]

    gallery = Gallery(labels, embeddings, places, list(range(len(labels))))
    first = scores(gallery)
    assert gallery.graphs  # the gallery's own graph, kept for the next chunk of queries
    np.testing.assert_array_equal(first, scores(gallery))
    np.testing.assert_array_equal(first, scores(Gallery(labels, embeddings, places, list(range(len(labels))))))


def test_with_no_tagged_photo_or_far_from_every_one_it_is_the_prior():
    empty = Gallery(np.zeros((0, 3)), np.zeros((0, 2)), [], [])
    queries = Queries(_at([0, 10]), [Place("f", "a.jpg"), Place("f", "b.jpg")], ["a", "b"], [[], []])
    signals = signals_for(empty, queries, only=["propagation"])
    np.testing.assert_array_equal(signals["propagation"], signals["history"])
    # photos facing away from every tagged photo (cosine <= 0) and each other: nothing reaches them
    gallery = Gallery(np.array([[1.0, 0.0, 0.0]]), _at([0]), [Place("f", "t.jpg")], ["t"])
    away = Queries(_at([180]), [Place("f", "x.jpg")], ["x"], [[]])
    signals = signals_for(gallery, away, only=["propagation"])
    np.testing.assert_allclose(signals["propagation"], signals["history"])


def test_few_tagged_photos_are_weak_evidence():
    """Shrunk towards the prior as kNN is: one tagged photo next door counts no more than kNN's one vote (against
    EVIDENCE_PSEUDO pseudo-photos at the prior), ten count more."""
    one = Gallery(np.array([[1.0, 0.0]]), _at([0]), [Place("f", "t.jpg")], ["t"])
    places = [Place("f", f"{i}.jpg") for i in range(10)]
    ten = Gallery(np.tile([[1.0, 0.0]], (10, 1)), _at(np.linspace(-2, 2, 10)), places, list(range(10)))
    query = Queries(_at([1]), [Place("f", "q.jpg")], ["q"], [[]])
    weak = signals_for(one, query, only=["propagation", "knn"])
    strong = signals_for(ten, query, only=["propagation", "knn"])
    assert weak["history"][0, 0] < weak["propagation"][0, 0] <= weak["knn"][0, 0] + 1e-9
    assert weak["knn"][0, 0] < 0.5 < strong["propagation"][0, 0] < 1.0


def test_propagation_is_registered_and_weighed_only_where_asked_for():
    """Measured and not kept in the default ranking (BENCHMARKS.md): registered, in the blend and suggest's
    sources where a ranking names it, never computed by default, so a saved blend without it stays valid."""
    signal = REGISTRY["propagation"]
    assert signal.compute is not None and set(signal.parameters) >= {"k", "alpha", "steps", "evidence"}
    assert not signal.by_default and "propagation" not in default_signal_names()
    assert "propagation" not in available(["general"]) and "propagation" in available(["general"], ["propagation"])
    gallery, queries = _chain()
    assert "propagation" not in signals_for(gallery, queries)
    signals = signals_for(gallery, queries, only=["propagation"], parameters={"propagation": {"k": 1}})
    blend = Blend({mode: {"propagation": 1.0, "history": 0.0, "bias": 0.0} for mode in ("untagged", "partial")})
    assert blend.sources(signals, 1, 0, "untagged") == ["propagation"]  # C's tag 0 came from propagation
    saved = Blend.defaults(available(["general"])).to_json()
    assert load_blend(saved, available(["general"]))[1] is None  # no "fitted before propagation existed"


def test_evals_propagation_row_and_the_blend_with_and_without_it(tmp_path, backbone):
    from phototag.app.evaluate import EvalConfig, run_eval
    from phototag.evaluate.result import Ablation
    from phototag.reporting import CollectingReporter
    from tests.train.small_library import scanned_with_random_features

    photos, features = scanned_with_random_features(tmp_path / "lib")
    with_it = Ablation((*default_signal_names(), "propagation"), only=True)
    config = EvalConfig(
        owner_from="folder",
        min_count=2,
        seed=1,
        rows=("propagation", "suggest_owner"),
        ablations=(with_it, Ablation(("neighbours",))),
    )
    result = run_eval(photos, features, config, CollectingReporter(), backbone=backbone.spec.name).to_json()
    rows = [row["method"] for row in result["rows"]]
    assert rows == ["propagation", "suggest_owner", with_it.key("suggest_owner"), "suggest_owner without neighbours"]
    training = result["splits"][0]["training"]
    assert "propagation" in training[with_it.key("suggest_owner")]["blend"]["weights"]["untagged"]
    for row in ("suggest_owner", "suggest_owner without neighbours"):
        assert "propagation" not in training[row]["blend"]["weights"]["untagged"]
