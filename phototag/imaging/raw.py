"""Camera RAW files: the embedded preview JPEG first, the sensor data only when needed.

Every RAW format keeps a camera-rendered preview (usually a full- or
near-full-size JPEG); decoding it with DCT scaling is ~100x cheaper than
demosaicing the sensor data and is what the photographer saw on the camera.

Order of preference (`full=False`):
  1. LibRaw's preview (`extract_thumb`, the largest one LibRaw knows), if its
     shorter side reaches `need`. Its own EXIF orientation wins; a preview
     without one gets the RAW's orientation (LibRaw `sizes.flip`). (LibRaw
     itself prepends an Exif block carrying `flip` to JPEG previews that do not
     begin with one, so such previews arrive already saying `flip`.)
  2. Half-size LibRaw decode of the sensor data (`postprocess(half_size=True)`,
     camera white balance, orientation applied by LibRaw).
  3. If that fails too: the small preview from step 1, the EXIF IFD1
     thumbnail (exifread), or the TIFF IFD0 image that TIFF-based RAWs (NEF,
     CR2, DNG...) start with, read by Pillow: however small, better a small
     picture than none.
With `full=True` step 2 comes first.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from phototag.imaging.pixels import ORIENTATION_TAG, DecodeError, decode_opened, reduce_to, to_rgb

# LibRaw sizes.flip -> Pillow transpose (0: none, 3: 180 deg, 5: 90 deg CCW, 6: 90 deg CW).
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


def load_raw(path: Path, need: int, *, full: bool = False) -> Image.Image:
    """Upright RGB image of a RAW file, shorter side >= need where the file allows it."""
    import rawpy

    small: Image.Image | None = None
    try:
        raw = rawpy.imread(str(path))  # LibRaw opens the file read-only
    except (rawpy.LibRawError, OSError, ValueError) as error:
        small = _exif_thumbnail(path, need) or _tiff_first_image(path, need)
        if small is not None:
            return small
        raise DecodeError(f"not a RAW file LibRaw can read ({_reason(error)})") from error
    with raw:
        orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip, 1)
        if not full:
            preview = _preview(raw, need, orientation)
            if preview is not None:
                if min(preview.size) >= need:
                    return preview
                small = preview
        try:
            return _sensor_decode(raw, need)
        except (rawpy.LibRawError, MemoryError, ValueError) as error:
            if small is None and full:
                small = _preview(raw, need, orientation)
            if small is None:
                small = _exif_thumbnail(path, need) or _tiff_first_image(path, need)
            if small is not None:
                return small
            raise DecodeError(f"RAW data unreadable and no preview ({_reason(error)})") from error


def _preview(raw, need: int, orientation: int) -> Image.Image | None:
    """LibRaw's embedded preview decoded near `need`, upright; None when the file has none."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, MemoryError, ValueError):
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with Image.open(io.BytesIO(thumb.data)) as image:
                if image.format != "JPEG":
                    return None
                has_own = image.getexif().get(ORIENTATION_TAG) is not None
                return decode_opened(image, need, orientation=None if has_own else orientation)
        image = Image.fromarray(thumb.data)  # BITMAP: uint8 (or uint16) HxWx3 array
        return decode_opened(image, need, orientation=orientation)
    except (OSError, ValueError, TypeError, SyntaxError, Image.DecompressionBombError):
        return None  # a broken preview: fall through to the sensor data


def _sensor_decode(raw, need: int) -> Image.Image:
    """Half-size demosaic (each 2x2 Bayer block becomes one pixel: fast, and plenty for the model)."""
    sizes = raw.sizes
    pixels = sizes.raw_width * sizes.raw_height
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if limit and pixels > limit:
        raise DecodeError(f"image too large: {pixels} pixels, limit {limit}")
    rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, no_auto_bright=False)
    return reduce_to(Image.fromarray(rgb, "RGB"), need)  # LibRaw already applied sizes.flip


def _exif_thumbnail(path: Path, need: int) -> Image.Image | None:
    """The IFD1 JPEG thumbnail from the EXIF/TIFF structure (exifread), for RAWs LibRaw cannot read."""
    import exifread

    try:
        with open(path, "rb") as handle:
            tags = exifread.process_file(handle, details=False, extract_thumbnail=True)
        data = tags.get("JPEGThumbnail")
        if not data:
            return None
        orientation_tag = tags.get("Image Orientation")
        orientation = int(orientation_tag.values[0]) if orientation_tag is not None else 1
        with Image.open(io.BytesIO(data)) as image:
            return to_rgb(decode_opened(image, need, orientation=orientation if orientation in range(1, 9) else 1))
    except Exception:  # noqa: BLE001 - last resort: any failure means "no thumbnail"
        return None


def _tiff_first_image(path: Path, need: int) -> Image.Image | None:
    """TIFF-based RAWs begin with an ordinary TIFF image (often a small RGB thumbnail) Pillow can read."""
    try:
        with Image.open(path) as image:
            if image.format != "TIFF":
                return None
            return decode_opened(image, need)
    except Exception:  # noqa: BLE001 - last resort: any failure means "no image"
        return None


def _reason(error: BaseException) -> str:
    text = error.args[0] if error.args else str(error)
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return f"{type(error).__name__}: {' '.join(str(text).split())}"
