"""Thumbnails for the review page: made once with the pipeline's decoder, cached beside the index.

`phototag.imaging.decode.load_rgb` does the decoding, so a thumbnail is upright (EXIF
orientation applied) and HEIC, RAW (embedded preview) and every other format the
pipeline reads get one. The cache lives in the library's data folder (beside its index),
one JPEG per photo content: named by the photo's content fingerprint, so a renamed or
moved photo keeps its thumbnail and an edited one gets a new one.
"""

from __future__ import annotations

import io
from pathlib import Path

from phototag.fsio import PRIVATE_FILE, atomic_write, private_dir
from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError
from phototag.library.index import PhotoRow

THUMB_SIZE = 320  # longest side in pixels: sharp in a ~200 px grid cell on a 1.5x screen
PREVIEW_SIZE = 1600  # longest side of the larger view (made on request, not cached)
QUALITY = 82


class ThumbnailError(Exception):
    """The photo cannot be decoded (one-line reason)."""


def cache_key(photo: PhotoRow) -> str:
    """What names the photo's thumbnail: its content fingerprint, else its id and modification time."""
    return photo.fingerprint or f"id{photo.id}-{photo.mtime_ns}"


def encode(photo: Path, size: int) -> bytes:
    """JPEG bytes of the photo, upright, its longest side at most `size` pixels."""
    try:
        image = load_rgb(photo, target=size)  # shorter side >= size (JPEG draft: decoded at 1/8 scale and up)
    except DecodeError as error:
        raise ThumbnailError(str(error)) from None
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()


class Thumbnails:
    """The thumbnail cache of one library (a folder in its data dir)."""

    def __init__(self, folder: Path, size: int = THUMB_SIZE):
        self.folder = Path(folder)
        self.size = size

    def path_of(self, photo: PhotoRow) -> Path:
        key = cache_key(photo)
        return self.folder / key[:2] / f"{key}-{self.size}.jpg"

    def get(self, photo: PhotoRow) -> bytes:
        """The photo's thumbnail: from the cache, or made now and cached. Raises ThumbnailError."""
        path = self.path_of(photo)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        data = encode(photo.path, self.size)
        private_dir(path.parent)  # thumbnails show the person's photos: 0700 folders, 0600 files
        # a cache: no need to wait for the folder's fsync
        atomic_write(path, data, mode=PRIVATE_FILE, sync_folder=False)
        return data
