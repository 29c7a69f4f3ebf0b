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
  (Steps 2-5 after opening are `phototag.imaging.pixels`, shared with the RAW previews.)
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

from PIL import Image

from phototag.filetypes import is_raw_name
from phototag.imaging.pixels import DecodeError, decode_opened
from phototag.imaging.raw import load_raw

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
    if is_raw_name(path.name):
        return load_raw(path, need, full=raw_full)
    _register_plugins()
    with Image.open(path) as opened:
        return decode_opened(opened, need)


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
