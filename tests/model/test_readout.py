"""The backbone's top in numpy (what suggest runs without PyTorch) is the PyTorch top, read from the packaged
safetensors copy of the backbone package's own tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phototag.model.altreco import GeneralReadout as TorchReadout
from phototag.model.backbone import BackboneTop, load_backbone
from phototag.model.evidence import general_readout
from phototag.model.weights import WeightsError


@pytest.mark.parametrize("name", ["lite0", pytest.param("lite2", marks=pytest.mark.slow)])
def test_numpy_top_agrees_with_the_pytorch_top_of_the_full_model(name, to_tensor, classified_photos):
    model = load_backbone(name)
    images = torch.stack([to_tensor(path, model.spec.input_size) for path, _ in classified_photos[:4]])
    with torch.inference_mode():
        maps = model.features(images).to(torch.float16)  # as cached
        theirs = TorchReadout(model.head, model.classifier, general_readout(name).aggregation.T).eval()
        head = theirs.shared(maps.float()).mean(dim=(2, 3))
        general = theirs(maps)
    ours = general_readout(name)
    assert np.abs(ours.head(maps.numpy()) - head.numpy()).max() < 1e-5
    assert np.abs(ours(maps.numpy()) - general.numpy()).max() < 1e-5
    assert general.numpy().max() > 0.3  # real photos: a confident tag, so the comparison is not of near-zeros


def test_packaged_top_holds_the_backbone_packages_tensors_exactly():
    for name in ("lite0", "lite2"):
        top, model = BackboneTop(name), load_backbone(name)
        for ours, theirs in zip(top.head.state_dict().values(), model.head.state_dict().values()):
            assert torch.equal(ours, theirs)
        assert torch.equal(top.classifier.weight, model.classifier.weight)
        assert torch.equal(top.classifier.bias, model.classifier.bias)


def test_a_changed_top_file_stops_with_a_checksum_error(tmp_path, monkeypatch):
    import shutil

    from phototag.model import readout
    from phototag.model.weights import weights_dir

    copy = tmp_path / "weights"
    shutil.copytree(weights_dir(), copy)
    target = copy / "backbone-lite0-top.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    monkeypatch.setenv("PHOTOTAG_WEIGHTS_DIR", str(copy))
    readout.load_top.cache_clear()
    try:
        with pytest.raises(WeightsError, match="checksum mismatch"):
            readout.load_top("lite0")
    finally:
        readout.load_top.cache_clear()
