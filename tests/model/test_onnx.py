"""onnxruntime and PyTorch agree to 1e-4 on the exported inference graph."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from phototag.model.altreco import ALTReco, GeneralReadout  # noqa: E402
from phototag.model.general import packaged_vocabulary  # noqa: E402
from phototag.model.onnx import (  # noqa: E402
    _Probabilities,
    export_backbone,
    export_general,
    export_personal,
    max_abs_difference,
)


def test_backbone_graph_matches_torch_on_real_photos(backbone, tmp_path, classified_photos, to_tensor):
    path = export_backbone(backbone, tmp_path / "backbone.onnx")
    images = torch.stack([to_tensor(p) for p, _ in classified_photos[:3]])  # a batch size other than the export's
    assert max_abs_difference(path, backbone.trunk, {"images": images}) < 1e-4


def test_general_and_personal_heads_match_torch(backbone, tmp_path):
    readout = GeneralReadout(backbone.head, backbone.classifier, packaged_vocabulary().aggregation_matrix()).eval()
    path = export_general(readout, (320, 7, 7), tmp_path / "general.onnx")
    features = torch.rand(5, 320, 7, 7) * 4
    assert max_abs_difference(path, readout, {"features": features}) < 1e-4

    torch.manual_seed(0)
    heads = ALTReco(40, 30, hidden=16).eval()
    path = export_personal(heads, (320, 7, 7), 40, tmp_path / "personal.onnx")
    inputs = {"features": features, "history": torch.rand(5, 40)}
    assert max_abs_difference(path, _Probabilities(heads).eval(), inputs) < 1e-4


def test_auto_device_measures_once_and_remembers(backbone):
    import json

    from phototag.model.features import _choice_file, choose_device, onnx_path

    if torch.cuda.is_available():
        pytest.skip("auto picks CUDA on this machine")
    chosen = choose_device("lite0", backbone)
    assert chosen in ("cpu", "onnx")
    assert onnx_path("lite0").exists()  # exported once into the (per-test) cache
    remembered = json.loads(_choice_file().read_text(encoding="utf-8"))
    (entry,) = remembered.values()
    assert entry["device"] == chosen and set(entry["seconds_per_8"]) == {"cpu", "onnx"}
    stamp = _choice_file().stat().st_mtime_ns
    assert choose_device("lite0", backbone) == chosen
    assert _choice_file().stat().st_mtime_ns == stamp  # not measured again
