"""The ranking's signal registry (issue 20, item 1): each signal declared once, and everything that lists
signals (signals_for, the blend's defaults, suggest's sources, eval's rows, the README's table, the review
page's colours) iterating over it. A toy signal registered in a test reaches all of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from photos import make_jpeg, write_sidecar

from phototag.model.ranking import Blend
from phototag.model.signals import (
    REGISTRY,
    Gallery,
    Place,
    Queries,
    Signal,
    registered,
    signal_css,
    signal_names,
    signal_table,
    signals_for,
)

REPO = Path(__file__).resolve().parents[2]


def _toy_values(gallery, queries, self_rows, prior, strength=0.99):
    """The toy signal: a photo whose file name starts with "toy" has the vocabulary's first tag."""
    out = prior.copy()
    for q, place in enumerate(queries.places):
        if place.name.startswith("toy"):
            out[q, 0] = strength
    return out


TOY = Signal(
    "toy",
    "the file name",
    "the first tag, for photos named toy*",
    "toy",
    "a toy",
    "#123456",
    1.0,
    _toy_values,
    {"strength": 0.99},
)


def _small(photos: int = 4, tags: int = 3):
    rng = np.random.default_rng(0)
    labels = (rng.random((photos, tags)) < 0.5).astype(np.float32)
    places = [Place("f", f"{i}.jpg") for i in range(photos)]
    gallery = Gallery(labels, rng.normal(size=(photos, 8)), places, list(range(photos)))
    queries = Queries(rng.normal(size=(2, 8)), [Place("f", "toy.jpg"), Place("f", "other.jpg")], ["a", "b"], [[], []])
    return gallery, queries


def test_the_signal_names_are_the_registry_and_every_signal_says_what_it_is():
    assert signal_names() == tuple(REGISTRY)
    assert {"knn", "propagation", "probe", "personal", "general", "history", "neighbours", "cooc"} == set(
        signal_names()
    )
    for signal in REGISTRY.values():
        assert signal.label and signal.meaning and signal.says and signal.reads and signal.colour.startswith("#")
    assert REGISTRY["knn"].parameters["k"] == 50 and REGISTRY["cooc"].modes == ("partial",)


def test_a_registered_signal_is_computed_and_blended_and_leaves_when_the_test_ends():
    gallery, queries = _small()
    with registered(TOY):
        signals = signals_for(gallery, queries)
        assert signals["toy"][0, 0] == 0.99 and np.array_equal(signals["toy"][1], signals["history"][1])
        blend = Blend.defaults(list(signals))
        # the default table predates it: it takes its registry default weight, in each of its modes
        assert blend.weights["untagged"]["toy"] == blend.weights["partial"]["toy"] == 1.0
        assert blend.sources(signals, 0, 0, "untagged")[0] == "toy"
        assert "toy" not in signals_for(gallery, queries, only=["knn"])
    assert "toy" not in signal_names() and "toy" not in signals_for(gallery, queries)


def test_the_readme_table_and_the_review_page_colours_are_made_from_the_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert signal_table() in readme
    css = signal_css()
    for name, signal in REGISTRY.items():
        assert f".chip.src-{name} {{ border-left-color: {signal.colour}; }}" in css
    # the static style sheet names no signal: its colours are only in the registry
    style = (REPO / "phototag" / "web" / "static" / "style.css").read_text(encoding="utf-8")
    assert not any(f"src-{name}" in style for name in REGISTRY)
    with registered(TOY):
        assert ".chip.src-toy { border-left-color: #123456; }" in signal_css()
        assert "| `toy` | the first tag, for photos named toy* |" in signal_table()


def test_a_toy_signal_shows_in_suggests_sources_and_the_table_labels(tmp_path, scanned, backbone):
    from phototag.cli.common import source_label, source_meanings
    from tests.model.test_recommend import suggestions_for

    root = tmp_path / "lib"
    for i, tag in enumerate(["snow", "snow", "snow", "beach", "beach"]):
        photo = make_jpeg(root / f"{i}.jpg", color=(40 * i, 100, 150))
        write_sidecar(photo.with_suffix(".xmp"), subjects=[tag])
    make_jpeg(root / "toy.jpg", color=(128, 128, 128))
    index = scanned(root)
    with registered(TOY):
        _, results = suggestions_for(index, backbone, embeddings=False)
        snow = [s for s in results["toy.jpg"].suggestions if s.tag == "snow"]
        assert snow and snow[0].source.split("+")[0] == "toy"
        assert source_label("toy+knn") == "toy+kNN" and source_meanings()["toy"] == "a toy"
    _, results = suggestions_for(index, backbone, embeddings=False)
    assert all("toy" not in s.source for s in results["toy.jpg"].suggestions)


def test_a_toy_signal_takes_part_in_evals_suggest_rows_and_its_ablations(tmp_path, backbone):
    from phototag.app.evaluate import EvalConfig, run_eval
    from phototag.evaluate.result import Ablation
    from phototag.reporting import CollectingReporter
    from tests.train.small_library import scanned_with_random_features

    photos, features = scanned_with_random_features(tmp_path / "lib")
    with registered(TOY):
        config = EvalConfig(
            owner_from="folder",
            min_count=2,
            seed=1,
            rows=("knn", "suggest_owner"),
            ablations=(Ablation(("toy",)), Ablation(("toy", "history"), only=True)),
        )
        result = run_eval(photos, features, config, CollectingReporter(), backbone=backbone.spec.name)
    rows = [row["method"] for row in result.to_json()["rows"]]
    assert rows == ["knn", "suggest_owner", "suggest_owner without toy", "suggest_owner with only toy,history"]
    assert "toy" in result.training["suggest_owner"]["blend"][0]["weights"]["untagged"]
    assert "toy" not in result.training["suggest_owner without toy"]["blend"][0]["weights"]["untagged"]
    only = result.training["suggest_owner with only toy,history"]["blend"][0]
    assert set(only["weights"]["untagged"]) == {"toy", "history", "bias"} and set(only["signals"]) == {"toy", "history"}
    with pytest.raises(ValueError, match="--without: no signal toy"):  # gone with the test's registration
        EvalConfig(ablations=(Ablation(("toy",)),))
