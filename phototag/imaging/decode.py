"""Decode one photo file to an upright RGB image near the model's input size.

This is the single place where image pixels are read (suggest, finetune and
eval all use it). Image files are only ever opened read-only.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps


class DecodeError(Exception):
    """The file cannot be decoded; the message is one line and says why."""


def load_rgb(path: Path, target: int = 224) -> Image.Image:
    """Open `path`, decode at reduced size (JPEG DCT scaling) so the shorter side is >= target,
    apply EXIF orientation, flatten alpha on white, return RGB."""
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (target, target))
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            return image.convert("RGB")
    except Exception as error:  # noqa: BLE001 - every decoder failure becomes a one-line reason
        raise DecodeError(f"{type(error).__name__}: {error}") from error
