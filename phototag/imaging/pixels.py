"""From an opened Pillow image to upright 8-bit RGB near the size needed.

The steps every decoded picture goes through, whether it comes from an ordinary
image file (`phototag.imaging.decode`) or from a RAW file's embedded preview
(`phototag.imaging.raw`): JPEG/HEIF draft decoding, the full-resolution TIFF
page, 8-bit RGB conversion, integer box reduction, EXIF orientation.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageCms


class DecodeError(Exception):
    """The file cannot be decoded; the message is one line and says why."""


# EXIF orientation -> the transpose that makes the image upright (same table as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
ORIENTATION_TAG = 0x0112  # EXIF/TIFF Orientation, values 1-8
_NEW_SUBFILE_TYPE = 254  # TIFF tag; bit 0 set = reduced-resolution copy (thumbnail/preview)


def decode_opened(image: Image.Image, need: int, orientation: int | None = None) -> Image.Image:
    """Decode an already opened Pillow image to upright RGB with shorter side >= need (~< 2*need).

    `orientation` overrides the file's own EXIF orientation when given (RAW previews).
    """
    if image.format in ("JPEG", "HEIF"):
        # JPEG: DCT scaling; HEIF: pillow-heif picks the smallest embedded thumbnail >= need, if any
        image.draft(image.mode, (need, need))
    elif image.format == "TIFF" and getattr(image, "n_frames", 1) > 1:
        _seek_full_resolution_page(image)
    image.load()
    if orientation is None:
        # libheif and libjxl already turned the pixels by the file's own orientation
        orientation = 1 if image.format in ("HEIF", "JXL") else _orientation_of(image)
    rgb = to_rgb(image)
    rgb = reduce_to(rgb, need)
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    return rgb.transpose(transpose) if transpose is not None else rgb


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: 16/32-bit scaled, CMYK via ICC, transparency flattened on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image)), "L").convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _seek_full_resolution_page(image: Image.Image) -> None:
    """Multi-page TIFF: stay on the first page unless it is flagged as a reduced-resolution copy."""
    for page in range(image.n_frames):
        image.seek(page)
        if not int(image.tag_v2.get(_NEW_SUBFILE_TYPE, 0)) & 1:
            return
    image.seek(0)


def _orientation_of(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the pixels
        return 1


def reduce_to(image: Image.Image, need: int) -> Image.Image:
    """Integer box reduction keeping the shorter side >= need (cheap; the caller does the real resize)."""
    factor = min(image.size) // need if need > 0 else 1
    return image.reduce(factor) if factor >= 2 else image


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit / 32-bit integer / float grey to 0..255 by its nominal range (not by clipping)."""
    if array.dtype.kind == "f":
        array = np.nan_to_num(array.astype(np.float32))
        scale = 255.0 if float(array.max(initial=0.0)) <= 1.0 else 1.0
        return np.clip(array * scale, 0, 255).astype(np.uint8)
    peak = int(array.max(initial=0))
    if array.dtype.itemsize == 2 or peak > 255:
        array = array.astype(np.int64) >> 8 if peak <= 0xFFFF else (array.astype(np.int64) >> 24)
    return np.clip(array, 0, 255).astype(np.uint8)


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(BytesIO(profile))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to Pillow's plain conversion
    return image.convert("RGB")
