"""Writing accepted tags into XMP sidecars: a journaled write batch, and its undo.

Only this module writes into a person's folders, and it only ever writes `.xmp`
sidecars; image files are never opened for writing. Which sidecar a photo gets is
`phototag.library.sidecar_names`; how its bytes change is `phototag.library.xmp_edit`.

A new sidecar starts from the photo's effective keywords (embedded XMP, else IPTC,
else XPKeywords, flat and hierarchical: `phototag.library.history.effective_keywords`)
and then gets the new tags: darktable, Lightroom and phototag's own scan read the
sidecar instead of the embedded keywords once it holds a keyword, so a sidecar holding
only the new tags would hide the person's own. An existing sidecar that holds no keyword
yet (only a rating, say) gets them merged in the same way before its first tag. A tab or
line break in an embedded keyword becomes a space, other control characters are left
out (XML cannot hold them). When the embedded keywords cannot all be read, no sidecar is
created and a keyword-less one is left untouched.
Provenance (tags, model, date) goes to the index journal, never into a private XMP
namespace.

Links: by default nothing is created or changed outside the library root: a photo
whose folder resolves outside it (a linked folder) is skipped with a reason unless
`follow_links=True`. A sidecar that is a symbolic link (relative, absolute or
dangling) is never written through: it is skipped with a reason, or with
`replace_links=True` the link itself is replaced by a regular file holding what it
pointed to plus the new tags (undo then puts back that content, as a regular file).

Safety: the new content goes to a hidden temp file in the same folder, is
fsynced, gets the original's permission bits (a new sidecar gets the photo's,
without execute bits), and is renamed over the old one (`phototag.fsio.atomic_write`);
the folders written to are fsynced once at the end of the batch (`flush()`; review
flushes after each photo). A reader, a crash or a power cut sees either the old or
the new file, never a mix. Temp files of a killed writer are removed by the next
write to that folder and by undo. Each write is journaled in the index (`write_batches`,
`write_journal`) before the rename, with the previous and the new content, so
`undo_last_batch` restores the previous bytes exactly and deletes sidecars phototag
created (only when they are unchanged since phototag wrote them).
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, TextIO

from phototag.filetypes import PHOTO_EXTENSIONS, extension
from phototag.fsio import atomic_write, file_kind, fsync_dir, remove_stale_temps
from phototag.library.history import effective_keywords
from phototag.library.index import Index
from phototag.library.metadata import read_photo_metadata
from phototag.library.sidecar_names import (
    DEFAULT_SIDECAR_STYLE,
    choose_sidecars,
    is_sidecar_name,
    shared_sidecar,
    validate_sidecar_style,
)
from phototag.library.xmp_edit import NEW_SIDECAR, SidecarError, edit_xmp, tag_path, writable_text
from phototag.library.xmp_read import MAX_SIDECAR_BYTES, XmpError, parse_xmp, too_large
from phototag.reporting import Reporter, display_path, quiet_reporter

FOLDER_LISTING_TTL = 2.0  # seconds


def _read_current(path: Path) -> Optional[bytes]:
    """A sidecar's bytes, None when it does not exist.

    Raises SidecarError when it is not a regular file (a FIFO would block a plain open()
    forever: opened non-blocking and checked first) or is absurdly large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SidecarError(f"it is {file_kind(info.st_mode)}, not a regular file")
        if info.st_size > MAX_SIDECAR_BYTES:
            raise SidecarError(too_large(info.st_size))
        data = handle.read(MAX_SIDECAR_BYTES + 1)
    if len(data) > MAX_SIDECAR_BYTES:  # it grew since the fstat
        raise SidecarError(too_large(len(data)))
    return data


def starting_keywords(photo: Path, hides: str) -> list[tuple[str, ...]]:
    """The photo's effective embedded keywords, as paths to write: hierarchical ones first, then flat ones
    (a path of one: a '|' in a flat keyword is part of its name), each part made writable (`writable_text`:
    a tab or line break becomes a space, other control characters are left out). Raises SidecarError
    when not all could be read, ending with `hides` (what writing would do to them)."""
    metadata = read_photo_metadata(photo)
    if metadata.incomplete:
        raise SidecarError(f"the photo's own keywords could not all be read; {hides}")
    paths = []
    for keyword in effective_keywords(metadata.keywords):
        parts = tuple(text for text in map(writable_text, keyword.path) if text)
        if parts:
            paths.append((not keyword.is_hierarchical, parts))
    # Paths first: a flat keyword that is a path's leaf is then already there, not added again as a path.
    return [path for _, path in sorted(paths, key=lambda item: item[0])]


def starting_sidecar(photo: Path) -> bytes:
    """A new sidecar for `photo` holding its effective keywords (raises SidecarError when not all could be read)."""
    content, _ = edit_xmp(NEW_SIDECAR, starting_keywords(photo, "no sidecar created, it would hide them"))
    return content


def _holds_keywords(data: bytes) -> bool:
    try:
        return bool(parse_xmp(data).keywords)
    except XmpError:
        return True  # not read: the editor refuses it with its own reason


def with_photo_keywords(photo: Path, old: Optional[bytes]) -> bytes:
    """What adding tags starts from: a new sidecar holding the photo's keywords, or `old` with them merged in
    when it holds no keyword yet (a sidecar with only a rating would hide them once it got one tag)."""
    if old is None:
        return starting_sidecar(photo)
    if _holds_keywords(old):
        return old
    keywords = starting_keywords(photo, "tagging this sidecar, which holds none yet, would hide them")
    return edit_xmp(old, keywords)[0] if keywords else old


def _link_target(link: Path) -> str:
    try:
        return f" to {display_path(os.readlink(link))}"
    except OSError:
        return ""


def _remove_stale_temps(folder: Path) -> None:
    """Temp files a killed phototag writer left in `folder` (see phototag.fsio.remove_stale_temps)."""
    try:
        remove_stale_temps(folder, os.listdir(folder))
    except OSError:
        pass  # a folder gone or unreadable: nothing of ours to clean there


def unified_diff(path: Path, old: Optional[bytes], new: Optional[bytes]) -> str:
    def lines(data: Optional[bytes]) -> list[str]:
        return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)

    # The path as it is, like `diff -u` (`patch -p0` applies it); git's a/ and b/ are for relative paths.
    shown = os.fsdecode(path)
    diff = difflib.unified_diff(
        lines(old), lines(new), "/dev/null" if old is None else shown, "/dev/null" if new is None else shown
    )
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)
    return text


# ------------------------------------------------------------- writer


@dataclass
class WriteResult:
    photo: Path
    added: list[str] = field(default_factory=list)  # tags that changed a sidecar (or would, in a dry run)
    sidecars: list[Path] = field(default_factory=list)  # sidecars changed (or that would change)
    created: list[Path] = field(default_factory=list)  # of those, the new ones
    skipped: list[str] = field(default_factory=list)  # one-line reasons for sidecars left alone

    @property
    def changed(self) -> bool:
        return bool(self.sidecars)


@dataclass
class WriterStats:
    photos: int = 0
    sidecars_written: int = 0
    sidecars_created: int = 0
    unchanged: int = 0
    skipped: int = 0
    tags_added: int = 0


class SidecarWriter:
    """Adds tags to photos' sidecars; one instance (a `with` block) is one journaled write batch."""

    def __init__(
        self,
        index: Index,
        command: str,
        *,
        dry_run: bool = False,
        style: str = DEFAULT_SIDECAR_STYLE,
        reporter: Optional[Reporter] = None,
        diff_out: Optional[TextIO] = None,
        follow_links: bool = False,
        replace_links: bool = False,
    ):
        """`follow_links`: also write in folders outside the library that links lead to;
        `replace_links`: replace a symlinked sidecar by a regular file (else it is skipped)."""
        self.index = index
        self.root = Path(os.path.realpath(index.root))
        self.follow_links = follow_links
        self.replace_links = replace_links
        self.command = command
        self.dry_run = dry_run
        self.style = validate_sidecar_style(style)
        self.reporter = reporter if reporter is not None else quiet_reporter()
        self.diff_out = diff_out
        self.batch_id: Optional[int] = None
        self.stats = WriterStats()
        self._folders: dict[Path, tuple[float, list[str], list[str]]] = {}  # (listed at, sidecars, photos)
        self._planned: dict[Path, bytes] = {}  # dry run: content as it would be after earlier photos
        self._dirty: set[Path] = set()  # folders with renames not yet fsynced

    def __enter__(self) -> "SidecarWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
        if self.batch_id is not None:
            with self.index.write() as db:
                db.execute("UPDATE write_batches SET finished_at = ? WHERE id = ?", (time.time(), self.batch_id))

    def flush(self) -> None:
        """Make the renames so far durable: fsync each folder written to (once, not once per file)."""
        for folder in self._dirty:
            fsync_dir(folder)
        self._dirty.clear()

    # The batch row is created at the first real write: a run that changes nothing leaves no trace.
    def _batch(self) -> int:
        if self.batch_id is None:
            with self.index.write() as db:
                cur = db.execute(
                    "INSERT INTO write_batches(command, started_at) VALUES (?, ?)", (self.command, time.time())
                )
                self.batch_id = cur.lastrowid
        return self.batch_id

    def _folder_sidecars(self, folder: Path) -> list[str]:
        """The folder's sidecar names, listed at most every few seconds (review runs for minutes)."""
        cached = self._folders.get(folder)
        if cached is None or time.monotonic() - cached[0] > FOLDER_LISTING_TTL:
            try:
                names = os.listdir(folder)
            except OSError as error:
                raise SidecarError(f"cannot list folder: {error.strerror or error}") from None
            if not self.dry_run:
                remove_stale_temps(folder, names)
            photos = [n for n in names if extension(n) in PHOTO_EXTENSIONS and not n.startswith(".")]
            cached = (time.monotonic(), [n for n in names if is_sidecar_name(n)], photos)
            self._folders[folder] = cached
        return cached[1]

    def _choose_sidecars(self, photo: Path) -> tuple[list[Path], Optional[Path]]:
        """The photo's sidecars (`choose_sidecars`); says so when one it shares with another photo is left alone."""
        sidecars = self._folder_sidecars(photo.parent)
        photos = self._folders[photo.parent][2]
        existing, new = choose_sidecars(photo, sidecars, self.style, photos)
        shared = shared_sidecar(photo, sidecars, photos)
        if shared is not None:
            own = new if new is not None else existing[0]
            self.reporter.warn(
                f"{display_path(shared[0])} is also the sidecar of {', '.join(shared[1])} (same name stem): left as"
                f" it is; the tags of {photo.name} go to {own.name}, its own"
            )
        return existing, new

    def _skip(self, path: Path, reason: str, result: WriteResult) -> None:
        result.skipped.append(reason)
        self.stats.skipped += 1
        self.reporter.skip(path, reason)

    def add_tags(self, photo: Path, tags: Sequence[str], model: Optional[str] = None) -> WriteResult:
        """Add `tags` to the photo's sidecar(s), creating one when it has none."""
        photo = Path(photo)
        result = WriteResult(photo)
        self.stats.photos += 1
        tags = [t for t in tags if t and t.strip()]
        for tag in tags:
            if tag_path(tag) is None:
                self.reporter.warn(f"{photo}: tag {tag!r} has characters XMP cannot hold; not written")
        if not tags:
            return result
        folder = Path(os.path.realpath(photo.parent))
        if not self.follow_links and not (folder == self.root or folder.is_relative_to(self.root)):
            reason = f"outside the library: its folder is {display_path(folder)} (links are not followed); not written"
            self._skip(photo, reason, result)
            return result
        try:
            existing, new = self._choose_sidecars(photo)
        except SidecarError as error:
            self._skip(photo, str(error), result)
            return result
        for sidecar in existing + ([new] if new is not None else []):
            self._write_one(photo, sidecar, tags, model, result)
        if result.changed:
            self.stats.tags_added += len(result.added)
        return result

    def _write_one(self, photo: Path, sidecar: Path, tags, model, result: WriteResult) -> None:
        target = Path(os.path.realpath(sidecar.parent), sidecar.name)  # the folder resolved, not the sidecar
        if os.path.islink(target) and not self.replace_links:
            self._skip(sidecar, f"sidecar is a symbolic link{_link_target(target)}; not written through it", result)
            return
        try:
            old = self._planned.get(target) if self.dry_run and target in self._planned else _read_current(target)
        except SidecarError as error:
            self._skip(sidecar, f"sidecar left untouched: {error}", result)
            return
        except OSError as error:
            self._skip(sidecar, f"cannot read sidecar: {error.strerror or error}", result)
            return
        try:
            new, added = edit_xmp(with_photo_keywords(photo, old), tags)
        except SidecarError as error:
            self._skip(sidecar, f"sidecar left untouched: {error}", result)
            return
        if not added:
            self.stats.unchanged += 1
            return
        if self.dry_run:
            self._planned[target] = new
            out = self.diff_out or sys.stdout
            out.write(unified_diff(sidecar, old, new))
        else:
            try:
                self._commit(photo, target, old, new, added, model)
            except SidecarError as error:
                self._skip(sidecar, f"cannot write sidecar: {error}", result)
                return
            except OSError as error:
                denied = error.errno in (errno.EPERM, errno.EACCES, errno.EROFS)
                reason = "folder is read-only" if denied else (error.strerror or str(error))
                self._skip(sidecar, f"cannot write sidecar: {reason}", result)
                return
        if old is None:
            result.created.append(sidecar)
            self.stats.sidecars_created += 1
            listing = self._folders.get(photo.parent)
            if listing is not None and sidecar.name not in listing[1]:
                listing[1].append(sidecar.name)
        result.sidecars.append(sidecar)
        self.stats.sidecars_written += 1
        for tag in added:
            if tag not in result.added:
                result.added.append(tag)

    def _commit(self, photo: Path, target: Path, old: Optional[bytes], new: bytes, added, model) -> None:
        if old is not None:
            info = os.stat(target)
            if not info.st_mode & 0o222:
                raise SidecarError("the sidecar file is read-only")
            mode, owner = info.st_mode, (info.st_uid, info.st_gid)
        else:
            info = os.stat(photo)
            mode, owner = info.st_mode & 0o666, None
        batch = self._batch()
        # Journal before the rename: a crash in between leaves a row whose `written`
        # content is not on disk, which undo recognises and leaves alone.
        with self.index.write() as db:
            cur = db.execute(
                "INSERT INTO write_journal(batch_id, sidecar, previous, written, tags, model, written_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch, os.fsencode(target), old, new, json.dumps(added, ensure_ascii=False), model, time.time()),
            )
            row = cur.lastrowid
        try:
            if _read_current(target) != old:  # an editor (or another phototag) wrote it meanwhile
                raise SidecarError("it changed while phototag was editing it; run again")
            atomic_write(target, new, mode, owner, sync_folder=False)
            self._dirty.add(target.parent)
        except BaseException:
            with self.index.write() as db:
                db.execute("DELETE FROM write_journal WHERE id = ?", (row,))
            raise


# ------------------------------------------------------------- undo


@dataclass
class UndoResult:
    batch_id: Optional[int] = None
    command: str = ""
    started_at: Optional[float] = None
    restored: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)  # changed since phototag wrote it
    already: int = 0  # rows whose sidecar already held the previous content


def last_batch(index: Index) -> Optional[tuple[int, str, float]]:
    return index.connection.execute(
        "SELECT id, command, started_at FROM write_batches WHERE undone_at IS NULL"
        " AND EXISTS (SELECT 1 FROM write_journal WHERE batch_id = write_batches.id)"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()


def undo_last_batch(
    index: Index, *, dry_run: bool = False, reporter: Optional[Reporter] = None, diff_out: Optional[TextIO] = None
) -> UndoResult:
    """Put back what the last (not yet undone) write batch changed, newest write first.

    A sidecar is restored only when it still holds exactly what phototag wrote;
    one changed since (by an editor) is kept and reported.
    """
    reporter = reporter if reporter is not None else quiet_reporter()
    result = UndoResult()
    batch = last_batch(index)
    if batch is None:
        return result
    result.batch_id, result.command, result.started_at = batch
    rows = index.connection.execute(
        "SELECT sidecar, previous, written FROM write_journal WHERE batch_id = ? ORDER BY id DESC", (batch[0],)
    ).fetchall()
    dirty: set[Path] = set()
    for raw, previous, written in rows:
        path = Path(os.fsdecode(bytes(raw)))
        previous = bytes(previous) if previous is not None else None
        written = bytes(written)

        def keep(reason: str, path: Path = path) -> None:
            result.kept.append((path, reason))
            reporter.skip(path, reason)

        try:
            current = _read_current(path)
        except (OSError, SidecarError) as error:
            keep(f"cannot read: {getattr(error, 'strerror', None) or error}")
            continue
        if current == previous:
            result.already += 1  # crash before the rename, or restored already
            continue
        if current != written:
            keep("changed since phototag wrote it; kept as it is")
            continue
        if dry_run:
            (diff_out or sys.stdout).write(unified_diff(path, current, previous))
        else:
            try:
                if previous is None:
                    os.unlink(path)
                else:
                    info = os.stat(path)
                    atomic_write(path, previous, info.st_mode, (info.st_uid, info.st_gid), sync_folder=False)
                dirty.add(path.parent)
            except OSError as error:
                keep(f"cannot restore: {error.strerror or error}")
                continue
        (result.deleted if previous is None else result.restored).append(path)
    for folder in dirty:
        fsync_dir(folder)
    if not dry_run:
        for folder in {Path(os.fsdecode(bytes(raw))).parent for raw, _, _ in rows}:
            _remove_stale_temps(folder)
        with index.write() as db:
            db.execute("UPDATE write_batches SET undone_at = ? WHERE id = ?", (time.time(), batch[0]))
    return result
