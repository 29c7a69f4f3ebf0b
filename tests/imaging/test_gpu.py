"""GPU decoding: the tensor helpers are checked on CPU tensors everywhere; the decoder itself
only on a machine with CUDA (skipped elsewhere)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from phototag.imaging.decode import fit_square, load_rgb
from phototag.imaging.gpu import center_square, orient, resize_squares

from .conftest import (
    INVERSE_OF_ORIENTATION,
    assert_quadrants,
    exif_with_orientation,
    quadrant_image,
    stored_for_orientation,
)


def chw(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


@pytest.mark.parametrize("orientation", sorted(INVERSE_OF_ORIENTATION))
def test_orient_matches_pillow(orientation):
    upright = quadrant_image(64, 48)
    stored = stored_for_orientation(upright, orientation)
    turned = orient(chw(stored), orientation)
    assert torch.equal(turned, chw(upright))


def test_center_square_and_batched_resize_match_pillow():
    images = {0: quadrant_image(640, 480), 1: quadrant_image(480, 640), 2: quadrant_image(300, 200)}
    squares = {index: center_square(chw(image), 0.875) for index, image in images.items()}
    assert squares[0].shape == (3, 420, 420) and squares[1].shape == (3, 420, 420)  # one batch of two
    resized = resize_squares(squares, 112)
    for index, image in images.items():
        assert resized[index].shape == (3, 112, 112) and resized[index].dtype == torch.uint8
        expected = np.asarray(fit_square(image, 112, 0.875)).astype(int)
        got = resized[index].permute(1, 2, 0).numpy().astype(int)
        assert np.mean(np.abs(got - expected)) < 6  # same crop, near-identical filter
        assert_quadrants(Image.fromarray(resized[index].permute(1, 2, 0).numpy()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (nvJPEG)")
def test_gpu_decoder_matches_cpu_path_with_fallbacks(tmp_path):
    from phototag.imaging.gpu import GpuDecoder

    upright = quadrant_image(1600, 1200)
    paths = []
    for orientation in (1, 6, 3, 8):
        path = tmp_path / f"o{orientation}.jpg"
        stored_for_orientation(upright, orientation).save(path, quality=90, exif=exif_with_orientation(orientation))
        paths.append(path)
    upright.convert("CMYK").save(tmp_path / "cmyk.jpg")  # CPU path
    upright.save(tmp_path / "plain.png")  # CPU path
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)  # error
    paths += [tmp_path / "cmyk.jpg", tmp_path / "plain.png", tmp_path / "broken.jpg"]
    for backend in ("torchvision", "auto"):
        batch = GpuDecoder(224, backend=backend).decode(paths)
        assert batch.ok == [0, 1, 2, 3, 4, 5] and list(batch.errors) == [6]
        assert batch.on_gpu == 4 and batch.images.shape == (6, 3, 224, 224)
        for row, index in enumerate(batch.ok):
            got = batch.images[row].permute(1, 2, 0).cpu().numpy()
            assert_quadrants(Image.fromarray(got))
            expected = np.asarray(load_rgb(paths[index], 224, square=True)).astype(int)
            assert np.mean(np.abs(got.astype(int) - expected)) < 8


def test_gpu_routing_and_header_check_on_cpu(tmp_path, upright):
    from phototag.imaging.gpu import _read_plain_jpeg, gpu_candidate

    assert gpu_candidate(Path("a/IMG_1.JPG")) and not gpu_candidate(Path("a/IMG_1.HEIC"))
    upright.save(tmp_path / "o.jpg", exif=exif_with_orientation(6))
    upright.save(tmp_path / "p.jpg", progressive=True)
    upright.convert("CMYK").save(tmp_path / "c.jpg")
    upright.save(tmp_path / "x.png")
    data, orientation = _read_plain_jpeg(tmp_path / "o.jpg", 10**9)
    assert data == (tmp_path / "o.jpg").read_bytes() and orientation == 6
    assert _read_plain_jpeg(tmp_path / "p.jpg", 10**9, allow_progressive=False) == (None, 1)
    assert _read_plain_jpeg(tmp_path / "p.jpg", 10**9)[0] is not None
    assert _read_plain_jpeg(tmp_path / "c.jpg", 10**9) == (None, 1)  # CMYK: CPU path
    assert _read_plain_jpeg(tmp_path / "x.png", 10**9) == (None, 1)
    assert _read_plain_jpeg(tmp_path / "o.jpg", 1000) == (None, 1)  # over the pixel limit
    assert _read_plain_jpeg(tmp_path / "gone.jpg", 10**9) == (None, 1)
