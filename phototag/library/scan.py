"""Scanning: walk a library, read what changed, keep the index in step with the disk.

Incremental: a photo whose size and mtime are unchanged, and whose sidecars'
names, sizes and mtimes are unchanged, is not read again. Photos that are gone
from disk are forgotten (cached features survive: they are keyed by content, so
a moved photo keeps them). Metadata of changed files is read in worker
processes when there are many of them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from phototag.library.formats import sniff_format
from phototag.library.history import photo_tags_of
from phototag.library.index import FINGERPRINT_CHUNK, Index, fingerprint_file, printable, to_rel_bytes
from phototag.library.metadata import PhotoMetadata, read_photo_metadata
from phototag.library.walk import LibraryWalker, PhotoFile

PARALLEL_THRESHOLD = 256  # below this many changed files a process pool costs more than it saves
WRITE_BATCH = 500


@dataclass
class ScanSummary:
    photos: int = 0  # photos in the index after the scan
    seen: int = 0  # photo files found on disk
    read: int = 0  # new or changed, read this time
    unchanged: int = 0
    removed: int = 0
    moved: int = 0
    tagged: int = 0
    keywords: int = 0  # distinct tags (normalised) in the library
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    orphan_sidecars: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files_per_second(self) -> float:
        return self.seen / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "photos": self.photos,
            "seen": self.seen,
            "read": self.read,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "moved": self.moved,
            "tagged": self.tagged,
            "keywords": self.keywords,
            "skipped": self.skipped,
            "orphan_sidecars": [printable(os.fsencode(p)) for p in self.orphan_sidecars],
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_per_second, 1),
        }


@dataclass
class _Read:
    photo: PhotoFile
    fingerprint: Optional[str]
    metadata: Optional[PhotoMetadata]
    skip_reason: Optional[str]


def check_image_file(path: Path, size: int) -> tuple[Optional[str], Optional[str]]:
    """(format, None) for a plausible image, (None, reason) for one to skip. Reads head and tail only."""
    if size == 0:
        return None, "empty file (0 bytes)"
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            fmt = sniff_format(head)
            if fmt is None:
                return None, "not an image (content does not match any known photo format)"
            if fmt == "JPEG":
                handle.seek(max(0, size - FINGERPRINT_CHUNK))
                if b"\xff\xd9" not in handle.read():
                    return None, "truncated JPEG (no end-of-image marker)"
    except OSError as error:
        return None, f"cannot read: {error.strerror or error}"
    return fmt, None


def read_one(photo: PhotoFile) -> _Read:
    """Check, fingerprint and read one photo. Runs in worker processes; never raises."""
    _, reason = check_image_file(photo.path, photo.size)
    if reason:
        return _Read(photo, None, None, reason)
    try:
        fingerprint = fingerprint_file(photo.path, photo.size)
    except OSError as error:
        return _Read(photo, None, None, f"cannot read: {error.strerror or error}")
    try:
        metadata = read_photo_metadata(photo.path, photo.sidecars)
    except Exception as error:  # noqa: BLE001 - a reader bug must not stop a library scan
        metadata = PhotoMetadata(warnings=[f"{photo.path}: metadata not read ({type(error).__name__}: {error})"])
    return _Read(photo, fingerprint, metadata, None)


def _read_all(photos: list[PhotoFile], advance: Callable[[int], None]):
    done = 0
    if len(photos) >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) >= 2:
        # fork is cheap and works from any script; but once torch (and its thread pools) is loaded,
        # forking can deadlock the child, so then spawn fresh interpreters instead.
        method = "spawn" if "torch" in sys.modules else "fork"
        try:
            with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=multiprocessing.get_context(method)) as pool:
                for result in pool.map(read_one, photos, chunksize=64):
                    yield result
                    done += 1
                    advance(1)
        except BrokenProcessPool:
            pass  # a worker could not start or died: read the rest here
    for photo in photos[done:]:
        yield read_one(photo)
        advance(1)


def scan_library(
    index: Index,
    runlog,
    on_total: Callable[[int], None] = lambda total: None,
    advance: Callable[[int], None] = lambda n: None,
) -> ScanSummary:
    """Bring the index in step with the library folder. Warnings and skips go to `runlog`."""
    started = time.perf_counter()
    root = index.root
    summary = ScanSummary()
    failed_folders: list[bytes] = []

    def on_skip(path: Path, reason: str) -> None:
        if path.is_dir():
            failed_folders.append(to_rel_bytes(root, path))
        runlog.skip(path, reason)

    walker = LibraryWalker(root, on_skip=on_skip)
    found = list(walker)  # stat only; cheap, and gives the progress bar its total
    summary.seen = len(found)
    summary.orphan_sidecars = walker.orphan_sidecars
    known = index.known_files()

    to_read: list[tuple[PhotoFile, str]] = []
    seen_rel: set[bytes] = set()
    for photo in found:
        rel = photo.rel
        seen_rel.add(rel)
        signature = photo.sidecar_signature
        old = known.get(rel)
        if old and old.size == photo.size and old.mtime_ns == photo.mtime_ns and old.sidecars == signature:
            summary.unchanged += 1
        else:
            to_read.append((photo, signature))
    on_total(len(found))
    advance(summary.unchanged)

    signatures = {photo.rel: signature for photo, signature in to_read}  # keyed by path: pool results are copies
    pending: list[_Read] = []
    new_fingerprints: set[str] = set()
    skipped_rel: set[bytes] = set()

    def flush() -> None:
        if not pending:
            return
        with index.write():
            for item in pending:
                index.upsert_photo(
                    item.photo.path,
                    item.photo.size,
                    item.photo.mtime_ns,
                    signatures[item.photo.rel],
                    item.fingerprint,
                    item.metadata,
                    tag_keys=tuple(photo_tags_of(item.metadata.keywords).keys),
                )
        pending.clear()

    for item in _read_all([photo for photo, _ in to_read], advance):
        if item.skip_reason:
            runlog.skip(item.photo.path, item.skip_reason)
            skipped_rel.add(item.photo.rel)
            continue
        for warning in item.metadata.warnings:
            runlog.warn(warning)
        summary.read += 1
        new_fingerprints.add(item.fingerprint)
        pending.append(item)
        if len(pending) >= WRITE_BATCH:
            flush()
    flush()

    gone = [
        rel
        for rel in known
        if (rel not in seen_rel or rel in skipped_rel)
        and not any(rel.startswith(folder + os.sep.encode()) for folder in failed_folders)
    ]
    if gone:
        placeholders = ",".join("?" * len(gone))
        old_fingerprints = {
            row[0]
            for row in index.connection.execute(
                f"SELECT fingerprint FROM photos WHERE path IN ({placeholders})", gone
            )
        }
        summary.moved = len(old_fingerprints & new_fingerprints)
        with index.write():
            summary.removed = index.remove_paths(gone)

    summary.photos = index.photo_count()
    summary.tagged, summary.keywords = _library_stats(index)
    summary.skipped = dict(runlog.skipped)
    summary.seconds = time.perf_counter() - started
    return summary


def _library_stats(index: Index) -> tuple[int, int]:
    """(tagged photos, distinct tags) after precedence, from the keys stored per photo."""
    tagged, keys = 0, set()
    for (tag_keys,) in index.connection.execute("SELECT tag_keys FROM photos WHERE tag_keys != ''"):
        tagged += 1
        keys.update(tag_keys.split("\n"))
    return tagged, len(keys)
