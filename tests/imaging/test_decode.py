"""load_rgb on a test library of real files made here: every format decodes upright, at the right size."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError

from .conftest import (
    INVERSE_OF_ORIENTATION,
    assert_quadrants,
    exif_with_orientation,
    quadrant_image,
    sha256,
    stored_for_orientation,
    write_png_header_only,
    write_png_rgb48,
)

TARGET = 224


def assert_size(image: Image.Image, aspect: float, target: int = TARGET) -> None:
    """Shorter side >= target and < 2*target (draft/reduce), width/height ratio kept."""
    width, height = image.size
    assert target <= min(width, height) < 2 * target, image.size
    assert width / height == pytest.approx(aspect, rel=0.02), image.size


@pytest.mark.parametrize("orientation", sorted(INVERSE_OF_ORIENTATION))
def test_jpeg_every_exif_orientation_decodes_upright(tmp_path, upright, orientation):
    path = tmp_path / f"o{orientation}.jpg"
    stored_for_orientation(upright, orientation).save(path, quality=92, exif=exif_with_orientation(orientation))
    # exiftool agrees on what the file says
    shown = subprocess.run(["exiftool", "-n", "-s3", "-Orientation", str(path)], capture_output=True, text=True).stdout
    assert shown.strip() == str(orientation)

    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_jpeg_draft_decodes_at_reduced_scale(tmp_path):
    path = tmp_path / "big.jpg"
    quadrant_image(4000, 3000).save(path, quality=90)
    image = load_rgb(path, TARGET)
    # DCT scaling 1/8 of 4000x3000 is 500x375: the smallest scale whose shorter side is >= 224
    assert image.size == (500, 375)
    assert_quadrants(image)
    with Image.open(path) as full:
        assert full.size == (4000, 3000)


def test_square_output_is_target_sized_and_centred(tmp_path):
    path = tmp_path / "wide.jpg"
    stored_for_orientation(quadrant_image(1200, 800), 6).save(path, quality=92, exif=exif_with_orientation(6))
    image = load_rgb(path, TARGET, square=True)
    assert image.size == (TARGET, TARGET)
    assert_quadrants(image)
    cropped = load_rgb(path, 100, square=True, crop_fraction=0.875)
    assert cropped.size == (100, 100)
    assert_quadrants(cropped)


def test_progressive_jpeg(tmp_path, upright):
    path = tmp_path / "progressive.jpg"
    upright.save(path, quality=90, progressive=True)
    with Image.open(path) as check:
        assert check.info.get("progressive") or check.info.get("progression")
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_cmyk_jpeg_adobe_inverted(tmp_path, upright):
    path = tmp_path / "cmyk.jpg"
    upright.convert("CMYK").save(path, quality=95)
    # Pillow writes CMYK the way Photoshop does: an Adobe APP14 marker and inverted values
    adobe = subprocess.run(
        ["exiftool", "-s3", "-Adobe:DCTEncodeVersion", str(path)], capture_output=True, text=True
    ).stdout
    assert adobe.strip() != ""
    with Image.open(path) as check:
        assert check.mode == "CMYK" and "adobe" in check.info
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_png_16bit_grey_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "grey16.png"
    ramp = np.tile(np.linspace(0, 65535, 512).astype(np.uint16), (300, 1))
    Image.fromarray(ramp).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    image = load_rgb(path, TARGET)
    assert_size(image, 512 / 300)
    middle = np.asarray(image)[image.height // 2, image.width // 2]
    assert 100 < middle[0] < 160 and middle[0] == middle[1] == middle[2]  # mid-grey, not white


def test_png_48bit_rgb(tmp_path, upright):
    path = tmp_path / "rgb48.png"
    write_png_rgb48(path, np.asarray(upright).astype(np.uint16) * 257)
    assert (
        subprocess.run(["exiftool", "-s3", "-BitDepth", str(path)], capture_output=True, text=True).stdout.strip()
        == "16"
    )
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_tiff_48bit_rgb_with_orientation(tmp_path, upright):
    tifffile = pytest.importorskip("tifffile")  # test extra; the lead adds it to phototag[test]

    path = tmp_path / "rgb48.tif"
    stored = np.asarray(stored_for_orientation(upright, 8)).astype(np.uint16) * 257
    tifffile.imwrite(path, stored, photometric="rgb", extratags=[(274, "H", 1, 8, True)])
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_palette_png_with_transparency_flattened_on_white(tmp_path, upright):
    path = tmp_path / "palette.png"
    palette_image = upright.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    white_index = palette_image.getpixel((600, 400))
    palette_image.save(path, transparency=white_index)
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    image = load_rgb(path, TARGET)
    assert_quadrants(image)  # the transparent quadrant comes out white


def test_rgba_and_la_flattened_on_white(tmp_path, upright):
    rgba = upright.convert("RGBA")
    alpha = Image.new("L", upright.size, 255)
    alpha.paste(0, (320, 240, 640, 480))  # bottom-right transparent, its pixels black
    rgba.paste((0, 0, 0, 0), (320, 240, 640, 480))
    rgba.putalpha(alpha)
    rgba.save(tmp_path / "rgba.png")
    assert_quadrants(load_rgb(tmp_path / "rgba.png", TARGET))

    la = Image.merge("LA", (Image.new("L", (300, 300), 0), Image.new("L", (300, 300), 0)))
    la.save(tmp_path / "la.png")
    assert np.asarray(load_rgb(tmp_path / "la.png", TARGET)).min() == 255  # fully transparent black -> white


@pytest.mark.parametrize("first_page_is_thumbnail", [False, True])
def test_multipage_tiff_uses_first_full_resolution_page(tmp_path, upright, first_page_is_thumbnail):
    tifffile = pytest.importorskip("tifffile")  # test extra; the lead adds it to phototag[test]

    path = tmp_path / "pages.tif"
    other = np.zeros((200, 300, 3), np.uint8)  # a black page that must not be chosen
    with tifffile.TiffWriter(path) as tif:
        if first_page_is_thumbnail:
            tif.write(np.asarray(upright.resize((64, 48))) * 0, photometric="rgb", subfiletype=1)
        tif.write(np.asarray(upright), photometric="rgb", compression="zlib")
        tif.write(other, photometric="rgb")
    shown = subprocess.run(["exiftool", "-a", "-s3", "-SubfileType", str(path)], capture_output=True, text=True).stdout
    assert ("Reduced-resolution image" in shown) == first_page_is_thumbnail
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_webp_with_exif_orientation(tmp_path, upright):
    path = tmp_path / "photo.webp"
    stored_for_orientation(upright, 6).save(path, quality=90, exif=exif_with_orientation(6))
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_png_with_exif_orientation(tmp_path, upright):
    path = tmp_path / "photo.png"
    stored_for_orientation(upright, 3).save(path, exif=exif_with_orientation(3))
    assert_quadrants(load_rgb(path, TARGET))


def test_gif_first_frame(tmp_path, upright):
    path = tmp_path / "anim.gif"
    black = Image.new("RGB", upright.size, (0, 0, 0))
    upright.save(path, save_all=True, append_images=[black], duration=100, loop=0)
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_heic_made_with_pillow_heif_is_upright(tmp_path, upright):
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "photo.heic"
    heif = pillow_heif.from_pillow(stored_for_orientation(upright, 6))
    heif.save(path, quality=90, exif=exif_with_orientation(6))
    shown = subprocess.run(["exiftool", "-s3", "-FileType", str(path)], capture_output=True, text=True).stdout
    assert shown.strip() == "HEIC"
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


# ---- what must fail, and how -------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty file"):
        load_rgb(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="unknown image format"):
        load_rgb(path)


@pytest.mark.parametrize("name", ["folder.jpg", "fifo.jpg", "fifo.cr2"])
def test_not_a_regular_file(tmp_path, name):
    path = tmp_path / name
    if name.startswith("fifo"):
        os.mkfifo(path)  # opening it for reading would block forever
    else:
        path.mkdir()
    with pytest.raises(DecodeError, match="not a regular file"):
        load_rgb(path)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="FileNotFoundError"):
        load_rgb(tmp_path / "gone.jpg")


@pytest.mark.parametrize("suffix,keep", [(".jpg", 0.5), (".png", 0.5), (".webp", 0.6), (".heic", 0.6), (".tif", 0.5)])
def test_truncated_files(tmp_path, upright, suffix, keep):
    if suffix == ".heic":
        pytest.importorskip("pillow_heif").from_pillow(upright).save(tmp_path / "whole.heic", quality=80)
    else:
        upright.save(tmp_path / f"whole{suffix}")
    data = (tmp_path / f"whole{suffix}").read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DecodeError) as caught:
        load_rgb(path)
    assert "\n" not in str(caught.value) and str(caught.value)


def test_corrupt_jpeg_header(tmp_path, upright):
    upright.save(tmp_path / "whole.jpg", quality=90)
    data = bytearray((tmp_path / "whole.jpg").read_bytes())
    table = data.find(b"\xff\xc4")  # the first Huffman table: overwrite its definition
    data[table + 4 : table + 44] = b"\xff" * 40
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(DecodeError, match="corrupt header"):
        load_rgb(path)


def test_decompression_bomb_is_a_clear_error(tmp_path):
    path = tmp_path / "bomb.png"
    write_png_header_only(path, 20000, 20000)
    limit = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(DecodeError, match=f"image too large: 400000000 pixels, limit {limit}"):
        load_rgb(path)


def test_decoding_never_modifies_files(tmp_path, upright):
    files = []
    for orientation in (1, 6):
        path = tmp_path / f"o{orientation}.jpg"
        stored_for_orientation(upright, orientation).save(path, exif=exif_with_orientation(orientation))
        files.append(path)
    upright.save(tmp_path / "p.png")
    files.append(tmp_path / "p.png")
    before = {path: (sha256(path), path.stat().st_mtime_ns) for path in files}
    for path in files:
        load_rgb(path)
        load_rgb(path, square=True)
    assert before == {path: (sha256(path), path.stat().st_mtime_ns) for path in files}


def test_heic_uses_embedded_thumbnail_when_large_enough(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    upright = quadrant_image(1000, 750)
    with_thumb, without = tmp_path / "thumb.heic", tmp_path / "plain.heic"
    pillow_heif.from_pillow(stored_for_orientation(upright, 6)).save(
        with_thumb, quality=85, exif=exif_with_orientation(6), thumbnails=[320]
    )
    pillow_heif.from_pillow(upright).save(without, quality=85)
    thumb_image = load_rgb(with_thumb, TARGET)
    assert thumb_image.size == (320, 240)  # the 320x240 thumbnail, turned upright like the image
    assert_quadrants(thumb_image)
    assert load_rgb(without, TARGET).size == (334, 250)  # full decode, box-reduced by 3
    assert load_rgb(with_thumb, 300).size == (500, 375)  # thumbnail too small for 300: full decode, reduced by 2


def test_jpeg_xl_with_optional_plugin(tmp_path, upright):
    pytest.importorskip("pillow_jxl")
    path = tmp_path / "photo.jxl"
    upright.save(path, quality=90)
    assert subprocess.run(
        ["exiftool", "-s3", "-FileType", str(path)], capture_output=True, text=True
    ).stdout.startswith("JXL")
    image = load_rgb(path, TARGET)
    assert_quadrants(image)
    assert_size(image, 640 / 480)


def test_cmyk_tiff(tmp_path, upright):
    path = tmp_path / "cmyk.tif"
    upright.convert("CMYK").save(path, compression="tiff_lzw")
    assert_quadrants(load_rgb(path, TARGET))


@pytest.mark.parametrize("dtype,peak", [(np.float32, 1.0), (np.int32, 65535), (np.uint16, 65535)])
def test_grey_tiff_high_bit_depths_scale_to_mid_grey(tmp_path, dtype, peak):
    tifffile = pytest.importorskip("tifffile")  # test extra; the lead adds it to phototag[test]

    path = tmp_path / "grey.tif"
    ramp = np.tile(np.linspace(0, peak, 400), (300, 1)).astype(dtype)
    tifffile.imwrite(path, ramp, photometric="minisblack")
    image = np.asarray(load_rgb(path, TARGET))
    left, middle, right = image[image.shape[0] // 2, [2, image.shape[1] // 2, -3], 0]
    assert left < 10 and 100 < middle < 160 and right > 245
