"""The batched decode pipeline: worker processes, order, failures, and the GPU-decoder routing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from photos import make_jpeg
from PIL import Image

from phototag.imaging.pipeline import PhotoDataset, batches


def library(tmp_path, example_photo):
    paths = [
        example_photo("pets/cat-chelsea.jpg", tmp_path / "a.jpg"),
        make_jpeg(tmp_path / "b.jpg", size=(640, 480)),
        tmp_path / "c.png",
        tmp_path / "d.jpg",
        example_photo("home/espresso.jpg", tmp_path / "e.jpg"),
    ]
    Image.new("RGB", (300, 200), (10, 200, 30)).save(paths[2])
    paths[3].write_bytes(b"not a photo at all")
    return paths


def test_batches_keep_positions_and_report_failures(tmp_path, example_photo):
    paths = library(tmp_path, example_photo)
    seen, failed = {}, {}
    for batch in batches(paths, 224, batch_size=2, workers=2):
        assert batch.images.dtype == np.uint8 and batch.images.shape[1:] == (3, 224, 224)
        seen.update(zip(batch.indices, batch.images))
        failed.update(batch.failed)
    assert sorted(seen) == [0, 1, 2, 4] and list(failed) == [3]
    for i in seen:
        assert np.array_equal(seen[i], PhotoDataset(paths, 224)[i][1])  # workers decode exactly like in-process


def test_gpu_decoder_routing_keeps_positions(tmp_path, example_photo):
    """The routing through a GpuDecoder, run with torchvision's decoder on the CPU (no GPU needed)."""
    pytest.importorskip("torchvision")
    from phototag.imaging.gpu import GpuDecoder

    paths = library(tmp_path, example_photo)
    decoder = GpuDecoder(224, device="cpu", backend="torchvision")
    seen, failed = {}, {}
    for batch in batches(paths, 224, batch_size=2, workers=1, gpu_decoder=decoder):
        seen.update(zip(batch.indices, batch.images))
        failed.update(batch.failed)
    assert sorted(seen) == [0, 1, 2, 4] and list(failed) == [3]
    for i in seen:  # the same picture as the CPU path, up to resampling differences
        cpu = torch.from_numpy(PhotoDataset(paths, 224)[i][1]).float()
        assert (torch.as_tensor(seen[i]).float() - cpu).abs().mean() < 4.0
