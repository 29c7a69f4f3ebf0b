"""onnxruntime and PyTorch agree to 1e-4 on the exported inference graph."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

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


@pytest.mark.slow
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


def test_static_padding_is_bit_identical_to_timms_same_padding(backbone, classified_photos, to_tensor):
    from phototag.model.onnx import static_padding

    images = torch.stack([to_tensor(p) for p, _ in classified_photos[:3]])
    fixed = static_padding(backbone.trunk, 224)
    with torch.inference_mode():
        assert torch.equal(fixed(images), backbone.trunk(images))


@pytest.mark.slow
def test_quantized_graph_stays_close_on_photos_it_was_not_calibrated_on(backbone, tmp_path, to_tensor):
    import numpy as np

    from phototag.model.onnx import quantize_backbone, session

    photos = sorted((EXAMPLES / "library").rglob("*.jpg"))
    calibration, held_out = photos[0::2], photos[1::2]
    float_graph = export_backbone(backbone, tmp_path / "float.onnx")
    int8_graph = quantize_backbone(float_graph, tmp_path / "int8.onnx", (to_tensor(p).numpy() for p in calibration))
    assert int8_graph.stat().st_size < float_graph.stat().st_size / 3  # int8 weights
    images = np.stack([to_tensor(p).numpy() for p in held_out])
    exact = session(float_graph).run(None, {"images": images})[0].reshape(len(images), -1)
    approx = session(int8_graph).run(None, {"images": images})[0].reshape(len(images), -1)
    cosine = (exact * approx).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(approx, axis=1)
    assert cosine.mean() > 0.93 and cosine.min() > 0.85, cosine
