"""Scanning: walk a library, read what changed, keep the index in step with the disk.

A JPEG cut off in its image data (no end-of-image marker) keeps its header, so its
keywords are read and indexed, with a warning; decoding its pixels is refused later,
with a reason. One cut off inside its header is skipped.

Incremental: a photo whose size and mtime are unchanged, and whose sidecars'
names, sizes and mtimes are unchanged, is not read again. Photos that are gone
from disk are forgotten (cached features survive: they are keyed by content, so
a moved photo keeps them). Metadata of changed files is read in worker
processes when there are many of them.

Links (see `phototag.library.walk`): folder links are not followed unless
`follow_links=True` (each one is reported as skipped); a file reached under several
names is one photo, indexed under one name; the others are in `ScanSummary.same_files`
and told to the reporter as a note.
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

from phototag.library.byte_sources import FileSource, NotRegularFile
from phototag.library.containers.jpeg import image_data_offset
from phototag.library.formats import sniff_format
from phototag.library.history import photo_tags_of
from phototag.library.index import FINGERPRINT_CHUNK, Index, fingerprint_file, printable, to_rel_bytes
from phototag.library.keywords import PhotoMetadata
from phototag.library.metadata import read_photo_metadata
from phototag.library.walk import LibraryWalker, PhotoFile
from phototag.reporting import Reporter, display_path, one_line

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
    same_files: dict[str, str] = field(default_factory=dict)  # a name not used -> the name a photo is counted under
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
            "same_files": self.same_files,
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
    """(reason, None) for a file to skip; (None, warning or None) for a plausible image.

    Reads the head and the tail only (and a JPEG's header segments when its end is missing).
    """
    if size == 0:
        return "empty file (0 bytes)", None
    try:
        with FileSource.open(path) as src:
            fmt = sniff_format(src.read(0, 64))
            if fmt is None:
                return "not an image (content does not match any known photo format)", None
            tail_start = max(0, src.size - FINGERPRINT_CHUNK)
            if fmt == "JPEG" and b"\xff\xd9" not in src.read(tail_start, src.size - tail_start):
                if image_data_offset(src) is None:
                    return "truncated JPEG (cut off before its image data)", None
                return None, "truncated JPEG (no end-of-image marker): keywords read; its pixels may not decode"
    except NotRegularFile as error:
        return f"not read: {error}", None
    except OSError as error:
        return f"cannot read: {error.strerror or error}", None
    return None, None


def read_one(photo: PhotoFile) -> _Read:
    """Check, fingerprint and read one photo. Runs in worker processes; never raises."""
    reason, warning = check_image_file(photo.path, photo.size)
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
    if warning:
        metadata.warnings.insert(0, f"{photo.path}: {warning}")
    return _Read(photo, fingerprint, metadata, None)


def _read_all(photos: list[PhotoFile], advance: Callable[[int], None]):
    done = 0
    if len(photos) >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) >= 2:
        # fork is cheap and works from any script; but once torch (and its thread pools) is loaded,
        # forking can deadlock the child, so then spawn fresh interpreters instead.
        method = "spawn" if "torch" in sys.modules else "fork"
        try:
            with ProcessPoolExecutor(
                max_workers=os.cpu_count(), mp_context=multiprocessing.get_context(method)
            ) as pool:
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
    reporter: Reporter,
    on_total: Callable[[int], None] = lambda total: None,
    advance: Callable[[int], None] = lambda n: None,
    follow_links: bool = False,
    read_all: Optional[Callable] = None,
) -> ScanSummary:
    """Bring the index in step with the library folder. Warnings and skips go to `reporter`.

    `follow_links`: walk into folders that symbolic links lead to (the CLI's --follow-links).
    `read_all(photos, advance)`: what reads the new and changed photos, yielding `read_one`'s results in any
    order (default: this machine's processes; `scan --ray`: phototag.app.cluster.read_on_cluster).
    """
    started = time.perf_counter()
    summary = ScanSummary()
    skips = _Skips(index.root, reporter, summary.skipped)
    walker = LibraryWalker(index.root, on_skip=skips.skip, follow_links=follow_links)
    found = list(walker)  # stat only; cheap, and gives the progress bar its total
    for link in walker.links_not_followed:
        skips.skip(link, "symbolic link to a folder; not followed (links are followed only on request)", folder=False)
    for other, used in walker.same_files:
        summary.same_files[display_path(other)] = display_path(used)
        reporter.info(
            f"{display_path(other)} is the same file as {display_path(used)}; counted once, as {display_path(used)}"
        )
    summary.seen = len(found)
    summary.orphan_sidecars = walker.orphan_sidecars
    known = index.known_files()
    to_read = _changed(found, known, summary)
    on_total(len(found))
    advance(summary.unchanged)

    new_fingerprints = _read_into_index(index, to_read, reporter, skips, summary, advance, read_all or _read_all)
    seen = {photo.rel for photo in found}
    gone = [
        rel
        for rel in known
        if (rel not in seen or rel in skips.files)
        and not any(rel.startswith(folder + os.sep.encode()) for folder in skips.folders)
    ]
    if gone:
        _forget(index, gone, new_fingerprints, summary)
    with index.write():
        index.mark_scanned()
    summary.photos = index.photo_count()
    summary.tagged, summary.keywords = _library_stats(index)
    summary.seconds = time.perf_counter() - started
    return summary


class _Skips:
    """Files and folders the scan skipped: told to the reporter, kept in the summary."""

    def __init__(self, root: Path, reporter: Reporter, summary: dict[str, str]):
        self.root, self.reporter, self.summary = root, reporter, summary
        self.folders: list[bytes] = []  # relative paths of folders that could not be read
        self.files: set[bytes] = set()  # relative paths of photos skipped when read

    def skip(self, path: Path, reason: str, folder: bool = True) -> None:
        """`folder=False`: a folder left out on purpose (a link), whose photos are no longer in the library."""
        if folder and path.is_dir():  # unreadable for now: keep what the index knows of it
            self.folders.append(to_rel_bytes(self.root, path))
        self.summary[display_path(path)] = one_line(reason)
        self.reporter.skip(path, reason)

    def skip_photo(self, photo: PhotoFile, reason: str) -> None:
        self.files.add(photo.rel)
        self.skip(photo.path, reason)


def _changed(found: list[PhotoFile], known: dict, summary: ScanSummary) -> dict[bytes, tuple[PhotoFile, bytes]]:
    """rel -> (photo, sidecar signature) of the photos that are new or changed; counts the others."""
    to_read: dict[bytes, tuple[PhotoFile, bytes]] = {}
    for photo in found:
        signature = photo.sidecar_signature
        old = known.get(photo.rel)
        if old and old.size == photo.size and old.mtime_ns == photo.mtime_ns and old.sidecars == signature:
            summary.unchanged += 1
        else:
            to_read[photo.rel] = (photo, signature)
    return to_read


def _read_into_index(
    index: Index,
    to_read: dict[bytes, tuple[PhotoFile, bytes]],
    reporter: Reporter,
    skips: _Skips,
    summary: ScanSummary,
    advance: Callable[[int], None],
    read_all: Callable = _read_all,
) -> set[str]:
    """Read the new and changed photos and store them, WRITE_BATCH at a time. Returns their fingerprints."""
    pending: list[_Read] = []
    fingerprints: set[str] = set()

    def flush() -> None:
        with index.write():
            for item in pending:
                index.upsert_photo(
                    item.photo.path,
                    item.photo.size,
                    item.photo.mtime_ns,
                    to_read[item.photo.rel][1],  # by path: pool results are copies
                    item.fingerprint,
                    item.metadata,
                    tag_keys=tuple(photo_tags_of(item.metadata.keywords).keys),
                )
        pending.clear()

    for item in read_all([photo for photo, _ in to_read.values()], advance):
        if item.skip_reason:
            skips.skip_photo(item.photo, item.skip_reason)
            continue
        for warning in item.metadata.warnings:
            reporter.warn(warning)
        if item.metadata.incomplete:  # indexed, but without what its warnings name
            reporter.incomplete(item.photo.path, "not all of its keywords were read (see the warning before)")
        summary.read += 1
        fingerprints.add(item.fingerprint)
        pending.append(item)
        if len(pending) >= WRITE_BATCH:
            flush()
    if pending:
        flush()
    return fingerprints


def _forget(index: Index, gone: list[bytes], new_fingerprints: set[str], summary: ScanSummary) -> None:
    """Remove photos no longer on disk; one whose content reappeared elsewhere counts as moved."""
    summary.moved = len(index.fingerprints(gone) & new_fingerprints)
    with index.write():
        summary.removed = index.remove_paths(gone)


def _library_stats(index: Index) -> tuple[int, int]:
    """(tagged photos, distinct tags) after precedence, from the keys stored per photo."""
    tagged, keys = 0, set()
    for (tag_keys,) in index.connection.execute("SELECT tag_keys FROM photos WHERE tag_keys != ''"):
        tagged += 1
        keys.update(tag_keys.split("\n"))
    return tagged, len(keys)
