"""Thumbnails for the review page: made once with the pipeline's decoder, cached beside the index.

`phototag.imaging.decode.load_rgb` does the decoding, so a thumbnail is upright (EXIF
orientation applied) and HEIC, RAW (embedded preview) and every other format the
pipeline reads get one. The cache lives in the library's data folder (beside its index),
one JPEG per photo content: named by the photo's content fingerprint, so a renamed or
moved photo keeps its thumbnail and an edited one gets a new one. The cache is private (folders
0700, files 0600): thumbnails show a person's photos.

The larger view (`/photo/N`) is made on request by a `Renderer`: a pool of its own threads, so
a burst of image requests queues there while the API keeps answering; requests for the same
photo while one is being made share it; and the last previews are kept in memory (a byte budget).
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

from phototag.fsio import PRIVATE_FILE, atomic_write, private_dir
from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError
from phototag.library.index import PhotoRow

THUMB_SIZE = 320  # longest side in pixels: sharp in a ~200 px grid cell on a 1.5x screen
PREVIEW_SIZE = 1600  # longest side of the larger view (made on request, kept in memory)
# Images decoded at once, each kind on its own threads (a 24 MP PNG needs ~150 MB while it is decoded).
THUMB_WORKERS = min(4, os.cpu_count() or 1)
PREVIEW_WORKERS = 2
PREVIEW_CACHE_BYTES = 64 << 20  # the larger views kept in memory (about 150 of 1600 px)
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
        _private_folder(self.folder)

    def path_of(self, photo: PhotoRow) -> Path:
        key = cache_key(photo)
        return self.folder / key[:2] / f"{key}-{self.size}.jpg"

    def cached(self, photo: PhotoRow) -> Optional[bytes]:
        """The photo's thumbnail if it is in the cache."""
        try:
            return self.path_of(photo).read_bytes()
        except FileNotFoundError:
            return None

    def get(self, photo: PhotoRow) -> bytes:
        """The photo's thumbnail: from the cache, or made now and cached. Raises ThumbnailError."""
        data = self.cached(photo)
        if data is not None:
            return data
        data = encode(photo.path, self.size)
        path = self.path_of(photo)
        _private_folder(path.parent)  # thumbnails show the person's photos: 0700 folders, 0600 files
        atomic_write(
            path, data, mode=PRIVATE_FILE, sync_folder=False
        )  # a cache: no need to wait for the folder's fsync
        return data


def _private_folder(folder: Path) -> None:
    """Make `folder` (mode 0700), or narrow it to 0700 if an older phototag made it readable by others."""
    private_dir(folder)
    mode = folder.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        os.chmod(folder, stat.S_IMODE(mode) & 0o700)


class Renderer:
    """Makes thumbnails and larger views on threads of its own (THUMB_WORKERS, PREVIEW_WORKERS), apart
    from the threads that answer the API. Requests for the same image while it is being made share that
    work; the larger views made last are kept in memory, up to `budget` bytes."""

    def __init__(self, thumbnails: Thumbnails, budget: int = PREVIEW_CACHE_BYTES):
        self.thumbnails, self.budget = thumbnails, budget
        self._pools = {
            "thumb": ThreadPoolExecutor(THUMB_WORKERS, thread_name_prefix="phototag-thumbs"),
            "preview": ThreadPoolExecutor(PREVIEW_WORKERS, thread_name_prefix="phototag-previews"),
        }
        self._lock = threading.Lock()
        self._running: dict[tuple, Future] = {}
        self._previews: OrderedDict[str, bytes] = OrderedDict()
        self._kept = 0

    async def thumbnail(self, photo: PhotoRow) -> bytes:
        """The photo's thumbnail (cache hits do not wait for the pool). Raises ThumbnailError."""
        cached = await asyncio.to_thread(self.thumbnails.cached, photo)
        if cached is not None:
            return cached
        return await self._run(("thumb", cache_key(photo)), lambda: self.thumbnails.get(photo))

    async def preview(self, photo: PhotoRow) -> bytes:
        """The photo's larger view, at most PREVIEW_SIZE pixels on its longest side. Raises ThumbnailError."""
        key = cache_key(photo)
        with self._lock:
            if key in self._previews:
                self._previews.move_to_end(key)
                return self._previews[key]
        return await self._run(("preview", key), lambda: self._keep(key, encode(photo.path, PREVIEW_SIZE)))

    async def _run(self, key: tuple, work: Callable[[], bytes]) -> bytes:
        with self._lock:
            future = self._running.get(key)
            if future is None:
                future = self._running[key] = self._pools[key[0]].submit(work)
                future.add_done_callback(lambda done: self._finished(key))
        # shielded: a request that goes away must not cancel the work another request waits for
        return await asyncio.shield(asyncio.wrap_future(future))

    def _finished(self, key: tuple) -> None:
        with self._lock:
            self._running.pop(key, None)

    def _keep(self, key: str, data: bytes) -> bytes:
        with self._lock:
            if len(data) <= self.budget and key not in self._previews:
                self._previews[key] = data
                self._kept += len(data)
                while self._kept > self.budget:
                    self._kept -= len(self._previews.popitem(last=False)[1])
        return data

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
