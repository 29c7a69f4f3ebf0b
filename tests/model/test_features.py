"""The feature cache: computed once per photo content, reused without decoding, bad files skipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from photos import make_jpeg

from phototag.cli.common import RunLog
from phototag.model.features import FeatureExtractor, cached_features


def test_features_are_cached_by_content_and_reused_without_decoding(
    tmp_path, example_photo, scanned, backbone, to_tensor
):
    root = tmp_path / "lib"
    cat = example_photo("pets/cat-chelsea.jpg", root / "a" / "cat.jpg")
    example_photo("home/espresso.jpg", root / "b" / "espresso.jpg")
    index = scanned(root)
    photos = index.photos()
    extractor = FeatureExtractor("lite0", "cpu")
    ticks = []
    first = cached_features(index, photos, extractor, RunLog("test", quiet=True), advance=ticks.append, workers=1)
    assert len(first) == 2 and sum(ticks) == 2
    stored = index.connection.execute("SELECT COUNT(*), MIN(dtype), MIN(shape) FROM features").fetchone()
    assert stored == (2, "float16", "[320, 7, 7]")
    with torch.inference_mode():
        expected = backbone.features(to_tensor(cat)[None])[0]
    got = first[next(p.fingerprint for p in photos if p.path.name == "cat.jpg")]
    assert got.dtype == np.float16  # the cache's dtype, as numpy: suggest needs no PyTorch
    assert torch.allclose(torch.from_numpy(got).float(), expected, atol=2e-2, rtol=1e-2)  # float16 storage

    # The photo files are gone: a second run can only succeed from the cache.
    for photo in photos:
        photo.path.unlink()
    second = cached_features(index, photos, extractor, RunLog("test", quiet=True))
    assert second.keys() == first.keys()
    assert all(np.array_equal(second[k], first[k]) for k in first)


def test_undecodable_photo_is_skipped_with_a_reason(tmp_path, example_photo, scanned):
    root = tmp_path / "lib"
    example_photo("pets/cat-chelsea.jpg", root / "cat.jpg")
    broken = make_jpeg(root / "broken.jpg", size=(400, 300))
    index = scanned(root)
    # After the scan the file turns into something no decoder reads (same size, so it looks unchanged).
    broken.write_bytes(b"\xff\xd8" + bytes(broken.stat().st_size - 2))
    runlog = RunLog("test", quiet=True)
    features = cached_features(index, index.photos(), FeatureExtractor("lite0", "cpu"), runlog, workers=1)
    assert len(features) == 1
    assert list(runlog.skipped) == [str(broken)]
    assert "\n" not in runlog.skipped[str(broken)]
    assert runlog.exit_code == 3


def _real_batch(to_tensor, classified_photos):
    return torch.stack([to_tensor(path) for path, _ in classified_photos[:4]])


def features_of(extractor: FeatureExtractor, images: torch.Tensor) -> torch.Tensor:
    """The extractor's float16 numpy features as a float32 tensor."""
    return torch.from_numpy(extractor.extract(images)).float()


@pytest.mark.slow
def test_onnx_device_gives_the_cpu_features(to_tensor, classified_photos):
    images = _real_batch(to_tensor, classified_photos)
    cpu = features_of(FeatureExtractor("lite0", "cpu"), images)
    onnx = features_of(FeatureExtractor("lite0", "onnx"), images)  # exports the graph into the test cache
    assert onnx.dtype == torch.float32 and onnx.shape == cpu.shape
    assert torch.allclose(onnx, cpu, atol=1e-2, rtol=1e-3)  # both rounded to float16 for the cache


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs on the GPU machine)")
def test_cuda_features_agree_with_cpu_within_fp16_tolerance(to_tensor, classified_photos, backbone):
    from phototag.model.altreco import GeneralReadout
    from phototag.model.general import packaged_vocabulary

    images = _real_batch(to_tensor, classified_photos)
    cpu = features_of(FeatureExtractor("lite0", "cpu"), images)
    cuda = features_of(FeatureExtractor("lite0", "cuda"), images)
    assert (cuda - cpu).abs().max() < 0.1 * cpu.abs().max()
    readout = GeneralReadout(backbone.head, backbone.classifier, packaged_vocabulary().aggregation_matrix()).eval()
    with torch.inference_mode():
        assert (readout(cuda) - readout(cpu)).abs().max() < 0.02  # general-tag probabilities


@pytest.mark.parametrize("name", ["lite0", pytest.param("lite2", marks=pytest.mark.slow)])
def test_int8_graph_keeps_the_imagenet_answer_and_its_own_cache_key(
    name, tmp_path, example_photo, scanned, backbone, classified_photos, to_tensor
):
    from phototag.model.backbone import load_backbone
    from phototag.model.general import imagenet_names

    model = backbone if name == "lite0" else load_backbone(name)
    size = model.spec.input_size
    images = torch.stack([to_tensor(path, size) for path, _ in classified_photos])
    extractor = FeatureExtractor(name, "onnx-int8")
    int8 = features_of(extractor, images)
    with torch.inference_mode():
        exact = model.features(images)
        top1 = model.imagenet_logits_from_features(int8).argmax(dim=1).tolist()
    cosine = torch.nn.functional.cosine_similarity(int8.flatten(1), exact.flatten(1))
    assert cosine.min() > 0.9, cosine  # close to the float trunk, but not equal: int8 is an approximation
    assert cosine.max() < 0.9999
    names = imagenet_names()
    right = sum(names[i] in expected for i, (_, expected) in zip(top1, classified_photos))
    assert right >= len(classified_photos) - 1, [names[i] for i in top1]

    # int8 features are stored apart: a float run never reads them (and the reverse), nor another backbone's.
    root = tmp_path / "lib"
    example_photo("pets/cat-chelsea.jpg", root / "cat.jpg")
    index = scanned(root)
    cached_features(index, index.photos(), extractor, RunLog("test", quiet=True), workers=1)
    keys = [row[0] for row in index.connection.execute("SELECT backbone FROM features")]
    assert keys == [f"{name}@{size}+int8"]
    cached_features(index, index.photos(), FeatureExtractor(name, "cpu"), RunLog("test", quiet=True), workers=1)
    keys = sorted(row[0] for row in index.connection.execute("SELECT backbone FROM features"))
    assert keys == [f"{name}@{size}", f"{name}@{size}+int8"]


def test_int8_is_refused_clearly_where_no_graph_is_packaged(tmp_path, monkeypatch):
    import json
    import shutil

    from phototag.model.weights import WeightsError, weights_dir

    # A weights folder whose manifest has no Lite2 graph (as an older package had): the refusal names the way out.
    shutil.copytree(weights_dir(), tmp_path / "weights")
    manifest = json.loads((tmp_path / "weights" / "manifest.json").read_text(encoding="utf-8"))
    del manifest["backbones"]["lite2"]["int8"]
    (tmp_path / "weights" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setenv("PHOTOTAG_WEIGHTS_DIR", str(tmp_path / "weights"))
    with pytest.raises(WeightsError, match="no int8 graph is packaged for backbone lite2"):
        FeatureExtractor("lite2", "onnx-int8")


def test_a_model_trained_on_int8_features_gets_them_again(backbone):
    from phototag.model.features import extractor_for_model

    if torch.cuda.is_available():
        pytest.skip("auto picks CUDA on this machine")
    assert extractor_for_model({"backbone": "lite0", "features": "lite0@224+int8"}).device == "onnx-int8"
    assert extractor_for_model({"backbone": "lite0", "features": "lite0@224"}, device="cpu").device == "cpu"
    assert extractor_for_model({"backbone": "lite0", "features": "lite0@224+int8"}, device="cpu").device == "cpu"


def test_auto_runs_lite2_on_its_int8_graph_without_cuda():
    from phototag.model.features import INT8, will_measure

    if torch.cuda.is_available():
        pytest.skip("auto picks CUDA on this machine")
    assert FeatureExtractor().backbone == "lite2"  # the default backbone
    assert FeatureExtractor("lite2", "auto").device == INT8
    assert not will_measure("lite2")  # nothing to time first: the person is not told to wait


@pytest.mark.slow  # exports and times Lite2's float graph (the user cache of the test session)
def test_a_lite2_model_trained_on_float_features_gets_float_again():
    from phototag.model.features import extractor_for_model, will_measure

    if torch.cuda.is_available():
        pytest.skip("auto picks CUDA on this machine")
    extractor = extractor_for_model({"backbone": "lite2", "features": "lite2@260"})
    assert extractor.device in ("cpu", "onnx") and extractor.key == "lite2@260"
    assert not will_measure("lite2", {"backbone": "lite2", "features": "lite2@260"})  # timed once, remembered
    assert extractor_for_model({"backbone": "lite2", "features": "lite2@260+int8"}).key == "lite2@260+int8"


def test_feature_store_round_trip_leaves_damaged_rows_out(tmp_path):
    import numpy as np

    from phototag.library import feature_store
    from phototag.library.index import Index

    with Index(tmp_path / "index.db", tmp_path) as index:
        arrays = {f"fp{i}": np.full((2, 3), i, dtype=np.float16) for i in range(3)}
        feature_store.put_many(index, arrays, "lite0@224")
        with index.write() as db:
            db.execute("UPDATE features SET data = X'00' WHERE fingerprint = 'fp1'")  # a torn row
        found = feature_store.get_many(index, ["fp0", "fp1", "fp2", "fp9"], "lite0@224")
        assert sorted(found) == ["fp0", "fp2"]
        assert found["fp2"].dtype == np.float16 and np.array_equal(found["fp2"], arrays["fp2"])
        assert feature_store.get_many(index, ["fp0"], "lite0@224+int8") == {}  # another kind of features
