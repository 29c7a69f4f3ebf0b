"""The packaged general vocabulary: built from ImageNet + WordNet, reproducible, checksum-protected."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from phototag.model.general import (
    WORDNET_DIR,
    build_general_vocabulary,
    packaged_vocabulary,
    vocabulary_to_json,
)
from phototag.model.weights import WeightsError, packaged_path, read_packaged_json, weights_dir


def test_packaged_vocabulary_is_large_and_has_everyday_tags():
    vocab = packaged_vocabulary()
    assert len(vocab) >= 400
    names = set(vocab.names)
    for tag in ("dog", "cat", "bird", "beach", "mountain", "food", "car", "flower", "building", "boat", "fruit"):
        assert tag in names, tag
    assert all(classes for classes in vocab.classes)
    # Every ImageNet class contributes to at least one tag; abstract hypernyms are not tags.
    covered = {c for classes in vocab.classes for c in classes}
    assert len(covered) == 1000
    assert not names & {"entity", "physical entity", "artifact", "instrumentality", "placental", "chordate"}


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").exists(), reason="Debian wordnet-base is not installed")
def test_packaged_file_is_what_the_build_rule_gives():
    rebuilt = vocabulary_to_json(build_general_vocabulary())
    assert rebuilt == read_packaged_json("general_vocab.json")


def test_dog_is_the_sum_of_the_dog_classes():
    vocab = packaged_vocabulary()
    matrix = torch.from_numpy(vocab.aggregation_matrix())
    dog = vocab.names.index("dog")
    probabilities = torch.softmax(torch.randn(3, 1000), dim=1)
    general = probabilities @ matrix.t()
    dog_classes = list(vocab.classes[dog])
    assert len(dog_classes) >= 100  # the ImageNet dog breeds
    assert torch.allclose(general[:, dog], probabilities[:, dog_classes].sum(dim=1))
    assert float(general.max()) <= 1.0 + 1e-6


def test_packaged_file_checksum_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    copy = tmp_path / "weights"
    shutil.copytree(weights_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("PHOTOTAG_WEIGHTS_DIR", str(copy))
    assert packaged_path("general_vocab.json").parent == copy
    data = json.loads((copy / "general_vocab.json").read_text(encoding="utf-8"))
    data["tags"][0]["name"] = "tampered"
    (copy / "general_vocab.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(WeightsError, match="checksum mismatch for packaged model file .*general_vocab.json"):
        packaged_path("general_vocab.json")
    (copy / "manifest.json").unlink()
    with pytest.raises(WeightsError, match="manifest not found"):
        packaged_path("general_vocab.json")


def test_every_file_in_the_manifest_verifies():
    from phototag.model.weights import manifest

    files = manifest()["files"]
    assert {"general_vocab.json", "MODEL_CARD.md"} <= set(files)
    for name in files:
        assert packaged_path(name).is_file()
