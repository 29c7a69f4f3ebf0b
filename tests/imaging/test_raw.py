"""RAW decoding on a real DNG made here (checked with LibRaw and exiftool) and on the exiftool corpus."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError

from .conftest import assert_quadrants, quadrant_image, sha256, write_dng

rawpy = pytest.importorskip("rawpy")
TARGET = 224
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora" / "exiftool-keywords"


@pytest.fixture
def dng(tmp_path) -> Path:
    path = tmp_path / "IMG_0001.dng"
    write_dng(path, quadrant_image(), orientation=6)
    return path


def test_made_dng_is_a_real_dng(dng):
    with rawpy.imread(str(dng)) as raw:
        assert raw.sizes.flip == 6
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (480, 640)  # stored in sensor orientation
        assert raw.extract_thumb().format == rawpy.ThumbFormat.JPEG
    shown = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-n", "-validate", "-DNGVersion", "-Orientation", "-PreviewImageLength", str(dng)],
            capture_output=True,
            text=True,
        ).stdout
    )[0]
    assert shown["Validate"] == "0 0 0"  # errors, warnings, minor warnings
    assert shown["DNGVersion"] == "1 4 0 0" and shown["Orientation"] == 6 and shown["PreviewImageLength"] > 0


def test_dng_preview_without_exif_gets_the_raw_orientation(dng):
    image = load_rgb(dng, TARGET)
    assert_quadrants(image)
    assert image.size == (320, 240)  # preview 480x640 drafted to 1/2, then turned upright


def test_preview_with_its_own_exif_orientation_wins(tmp_path):
    path = tmp_path / "own.dng"
    write_dng(path, quadrant_image(), orientation=1, preview_exif=8)  # DNG says 1, preview says 8
    with rawpy.imread(str(path)) as raw:
        assert raw.sizes.flip == 0
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert image.size == (320, 240)


def test_dng_full_decode_is_upright_and_right_coloured(dng):
    image = load_rgb(dng, TARGET, raw_full=True)
    assert image.size == (320, 240)  # half-size demosaic of the 480x640 sensor, turned by LibRaw
    assert_quadrants(image, tolerance=70)


def test_dng_without_preview_uses_sensor_data(tmp_path):
    path = tmp_path / "old.dng"
    write_dng(path, quadrant_image(), orientation=8, preview=False)  # only a 30x40 thumbnail
    image = load_rgb(path, TARGET)
    assert image.size == (320, 240)
    assert_quadrants(image, tolerance=70)


def test_small_preview_is_used_when_sensor_data_is_broken(tmp_path):
    whole = tmp_path / "whole.dng"
    write_dng(whole, quadrant_image(), orientation=3, preview=False)  # 40x30 RGB thumbnail only
    data = bytearray(whole.read_bytes())
    # point the sensor data's StripOffsets (the last IFD's tag 273) past the end of the file
    entry = data.rfind(struct.pack("<HHI", 273, 4, 1))
    data[entry + 8 : entry + 12] = struct.pack("<I", len(data) + 100_000)
    path = tmp_path / "broken.dng"
    path.write_bytes(bytes(data))
    with rawpy.imread(str(path)) as raw, pytest.raises(rawpy.LibRawError):
        raw.postprocess(half_size=True)
    image = load_rgb(path, TARGET)
    assert image.size == (40, 30)
    assert_quadrants(image, tolerance=70)


def test_raw_decode_never_modifies_the_file(dng):
    before = (sha256(dng), dng.stat().st_mtime_ns)
    load_rgb(dng)
    load_rgb(dng, raw_full=True)
    assert before == (sha256(dng), dng.stat().st_mtime_ns)


@pytest.mark.parametrize("name", ["noise.cr2", "noise.nef", "noise.dng", "empty.arw"])
def test_garbage_raw_files_are_decode_errors(tmp_path, name):
    path = tmp_path / name
    size = 0 if name.startswith("empty") else 20000
    path.write_bytes(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError):
        load_rgb(path)


def test_truncated_dng_is_a_decode_error(tmp_path):
    whole = tmp_path / "whole.dng"
    write_dng(whole, quadrant_image(), orientation=1, preview=True)
    path = tmp_path / "cut.dng"
    path.write_bytes(whole.read_bytes()[:4000])  # header and part of the preview, nothing else
    with pytest.raises(DecodeError):
        load_rgb(path)


def test_exiftool_corpus_decodes_or_raises_decode_error():
    """Real files of many formats (their image data mostly stripped by exiftool's authors):
    each one either decodes to RGB or raises DecodeError, never anything else."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    outcome = {}
    for path in sorted(CORPUS.iterdir()):
        if path.suffix.lower() in (".xmp", ".json", ".md"):
            continue
        try:
            image = load_rgb(path, TARGET)
        except DecodeError as error:
            assert "\n" not in str(error)
            outcome[path.name] = f"DecodeError: {error}"
        else:
            assert image.mode == "RGB" and min(image.size) >= 1
            outcome[path.name] = f"decoded {image.size}"
    decoded = [name for name, result in outcome.items() if result.startswith("decoded")]
    # the complete small files (plain JPEG/PNG/GIF/TIFF/WebP/PSD) must decode
    for name in ("Canon.jpg", "PNG.png", "GIF.gif", "ExifTool.tif", "RIFF.webp", "Photoshop.psd"):
        assert name in decoded, outcome
    print("\n".join(f"{name}: {result}" for name, result in outcome.items()))
