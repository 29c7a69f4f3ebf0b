"""Decode one photo file to an upright RGB image near the model's input size.

This is the single place where image pixels are read (suggest, finetune and
eval all use it, from worker processes). Image files are only ever opened
read-only, and nothing here keeps state between files.

What happens to a file, in order:
  1. RAW files (by extension) go to `phototag.imaging.raw`: embedded preview
     JPEG, or a half-size LibRaw decode when there is none or `raw_full=True`.
  2. Everything else opens with Pillow (HEIC/HEIF through pillow-heif,
     registered lazily once per process). JPEGs are decoded with DCT scaling
     (`draft`) to the smallest scale whose shorter side is still >= the size
     needed (1/8 for a 12-MP photo: the entropy decoding remains, the IDCT
     and colour conversion shrink 64x); HEIC files use their embedded
     thumbnail when one is at least that large (iPhones store 320x240).
     JPEG XL decodes when the optional pillow-jxl-plugin is installed. HEIF
     and JXL pixels come out already turned by libheif/libjxl (their own
     orientation boxes/header are authoritative; EXIF orientation is ignored).
  3. Multi-page TIFF: the first full-resolution page (pages flagged as
     reduced-resolution thumbnails by NewSubfileType are skipped); animated
     GIF/WebP and layered PSD: the first frame / the composite.
  4. Pixels become 8-bit RGB: 16-bit and 32-bit grey scaled down (not
     clipped), CMYK through the embedded ICC profile when there is one
     (Adobe's inverted CMYK is undone by Pillow), alpha and palette
     transparency flattened on white.
  5. Images are box-reduced by an integer factor so the shorter side is below
     about 2x the size needed (a no-op after JPEG draft), then the EXIF/TIFF
     orientation (all 8 values) is applied, on the small image.
  6. With `square=True` the central square (optionally only `crop_fraction`
     of it, like timm's crop_pct) is resized to target x target in one resize.

Pillow's decompression-bomb limit stays on: an image above
2 x Image.MAX_IMAGE_PIXELS (Pillow's error threshold, ~179 MP by default) is a
DecodeError; images between 1x and 2x (100-MP cameras, panoramas) decode.
"""

from __future__ import annotations

import math
import re
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from phototag.library.walk import RAW_EXTENSIONS


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
_ORIENTATION_TAG = 0x0112
_NEW_SUBFILE_TYPE = 254  # TIFF tag; bit 0 set = reduced-resolution copy (thumbnail/preview)

_plugins_registered = False


def load_rgb(
    path: Path | str,
    target: int = 224,
    *,
    raw_full: bool = False,
    square: bool = False,
    crop_fraction: float = 1.0,
) -> Image.Image:
    """Decode `path` to an upright 8-bit RGB PIL image.

    Default: the shorter side is >= `target` (unless the file itself is smaller) and below
    about 2 x target; the caller resizes. With `square=True` the result is exactly
    target x target: the central square of the image (scaled by `crop_fraction`, e.g. 0.875
    for timm-style centre crops) resized once with bicubic filtering.
    `raw_full=True` makes RAW files decode their sensor data (half size) instead of using the
    embedded preview. Raises DecodeError (one line, with the reason) for anything unreadable.
    """
    path = Path(path)
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
    # Shorter side needed before the final crop/resize.
    need = math.ceil(target / crop_fraction) if square else target
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd-but-readable files (corrupt EXIF, bomb-sized but allowed
            # images); decoding goes on, and a CLI run must not print a traceback-like line each time.
            warnings.simplefilter("ignore")
            image = _decode(path, need, raw_full)
        if square:
            return fit_square(image, target, crop_fraction)
        return image
    except DecodeError:
        raise
    except Image.DecompressionBombError as error:
        raise DecodeError(_bomb_message(error)) from error
    except Exception as error:  # noqa: BLE001 - every decoder failure becomes a one-line reason
        reason = _one_line(error)
        if path.suffix.lower() == ".jxl" and isinstance(error, Image.UnidentifiedImageError) and not _jxl_plugin():
            reason = "JPEG XL needs the optional pillow-jxl-plugin package"
        raise DecodeError(reason) from error


def _decode(path: Path, need: int, raw_full: bool) -> Image.Image:
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):  # a folder or a FIFO named like a photo: opening could block
        raise DecodeError("not a regular file")
    if status.st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    if path.suffix.lower().lstrip(".") in RAW_EXTENSIONS:
        from phototag.imaging import raw  # rawpy is imported only when a RAW file shows up

        return raw.load_raw(path, need, full=raw_full)
    _register_plugins()
    with Image.open(path) as opened:
        return decode_opened(opened, need)


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
    rgb = _reduce(rgb, need)
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


def fit_square(image: Image.Image, size: int, crop_fraction: float = 1.0) -> Image.Image:
    """The central square (times crop_fraction) of `image`, resized once to size x size."""
    width, height = image.size
    side = min(width, height) * crop_fraction
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    if image.size == (size, size) and side == size:
        return image
    return image.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)


def _register_plugins() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif) and, when installed, JPEG XL (pillow-jxl-plugin),
    once per process, on first use."""
    global _plugins_registered
    if not _plugins_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        try:
            import pillow_jxl  # noqa: F401 - registers the JXL plugin on import
        except ImportError:
            pass
        _plugins_registered = True


def _jxl_plugin() -> bool:
    return "JXL" in Image.OPEN


def _seek_full_resolution_page(image: Image.Image) -> None:
    """Multi-page TIFF: stay on the first page unless it is flagged as a reduced-resolution copy."""
    for page in range(image.n_frames):
        image.seek(page)
        if not int(image.tag_v2.get(_NEW_SUBFILE_TYPE, 0)) & 1:
            return
    image.seek(0)


def _orientation_of(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - a broken EXIF block must not cost the pixels
        return 1


def _reduce(image: Image.Image, need: int) -> Image.Image:
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
            from io import BytesIO

            source = ImageCms.ImageCmsProfile(BytesIO(profile))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to Pillow's plain conversion
    return image.convert("RGB")


def _bomb_message(error: Exception) -> str:
    match = re.search(r"\((\d+) pixels\) exceeds limit of (\d+) pixels", str(error))
    if match:
        return f"image too large: {match.group(1)} pixels, limit {match.group(2)}"
    return f"image too large: {_one_line(error)}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "no details"
    if isinstance(error, Image.UnidentifiedImageError) or text.startswith("cannot identify image file"):
        return "unknown image format or corrupt header"
    return f"{type(error).__name__}: {text}"

