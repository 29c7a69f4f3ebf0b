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

Concurrency: the read, the change check, the journal row and the rename of a sidecar
happen under a lock on its folder (`phototag.fsio.locked_folder`), so a second phototag
writer starts from what the first wrote; an editor (no lock) that changes the file
meanwhile makes the writer read it again and merge.

Safety: the new content goes to a hidden temp file in the same folder, is
fsynced, gets the original's permission bits (a new sidecar gets the photo's,
without execute bits), extended attributes and ACLs, and is renamed over the old one (`phototag.fsio.atomic_write`);
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
import sqlite3
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, TextIO

from phototag.filetypes import PHOTO_EXTENSIONS, extension
from phototag.fsio import atomic_write, file_kind, fsync_dir, locked_folder, remove_stale_temps, temp_path
from phototag.library import journal
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
CHANGED_RETRIES = 3  # reads of a sidecar another program keeps changing, before giving up on it
last_batch = journal.last_batch  # the batch `undo` reverts next (phototag.web reads it)


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


class _Skipped(Exception):
    """A sidecar left alone; the message is the one-line reason."""


def _os_reason(error: OSError) -> str:
    if error.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return "folder is read-only"
    return error.strerror or str(error)


def _hard_links(info: os.stat_result) -> int:
    return info.st_nlink if stat.S_ISREG(info.st_mode) else 1


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
        journal_limits: tuple[int, int] = (journal.KEEP_BATCHES, journal.BUDGET_BYTES),
    ):
        """`follow_links`: also write in folders outside the library that links lead to;
        `replace_links`: replace a symlinked or hard-linked sidecar by a regular file (else it is skipped);
        `journal_limits`: (batches, bytes) the journal keeps for undo (phototag.library.journal.prune)."""
        self.index = index
        self.root = Path(os.path.realpath(index.root))
        self.follow_links = follow_links
        self.replace_links = replace_links
        self.command = command
        self.dry_run = dry_run
        self.style = validate_sidecar_style(style)
        self.reporter = reporter if reporter is not None else quiet_reporter()
        self.diff_out = diff_out
        self.journal_limits = journal_limits
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
            journal.finish_batch(self.index, self.batch_id)
            journal.prune(self.index, *self.journal_limits)

    def flush(self) -> None:
        """Make the renames so far durable: fsync each folder written to (once, not once per file)."""
        for folder in self._dirty:
            fsync_dir(folder)
        self._dirty.clear()

    # The batch row is created at the first real write: a run that changes nothing leaves no trace.
    def _batch(self) -> int:
        if self.batch_id is None:
            self.batch_id = journal.start_batch(self.index, self.command)
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
            if self.dry_run:
                old, added = self._preview(photo, sidecar, target, tags)
            else:
                # Under the folder's lock, so two phototag writers never both start from the same old content.
                with locked_folder(target.parent):
                    old, added = self._write_locked(photo, target, tags, model)
        except _Skipped as skipped:
            self._skip(sidecar, str(skipped), result)
            return
        except OSError as error:  # the lock
            self._skip(sidecar, f"cannot write sidecar: cannot lock its folder: {error.strerror or error}", result)
            return
        if not added:
            self.stats.unchanged += 1
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

    def _plan(self, photo: Path, target: Path, tags) -> tuple[Optional[bytes], bytes, list[str]]:
        """The sidecar's bytes now, its bytes with `tags`, and the tags that adds (raises _Skipped)."""
        try:
            old = self._planned[target] if self.dry_run and target in self._planned else _read_current(target)
            links = _hard_links(os.lstat(target)) if old is not None else 1
        except SidecarError as error:
            raise _Skipped(f"sidecar left untouched: {error}") from None
        except OSError as error:
            raise _Skipped(f"cannot read sidecar: {error.strerror or error}") from None
        if links > 1 and not self.replace_links:
            raise _Skipped(
                f"sidecar has {links} hard links; not written (replacing it would split them, the other"
                " name keeping the old tags): --replace-links replaces it, and undo links it back"
            )
        try:
            new, added = edit_xmp(with_photo_keywords(photo, old), tags)
        except SidecarError as error:
            raise _Skipped(f"sidecar left untouched: {error}") from None
        return old, new, added

    def _preview(self, photo: Path, sidecar: Path, target: Path, tags) -> tuple[Optional[bytes], list[str]]:
        old, new, added = self._plan(photo, target, tags)
        if added:
            self._planned[target] = new
            (self.diff_out or sys.stdout).write(unified_diff(sidecar, old, new))
        return old, added

    def _write_locked(self, photo: Path, target: Path, tags, model) -> tuple[Optional[bytes], list[str]]:
        """Read, edit, journal and rename (the folder locked); a sidecar that an editor (which takes
        no lock) changes meanwhile is read again and the tags merged into its new content."""
        for _ in range(CHANGED_RETRIES):
            old, new, added = self._plan(photo, target, tags)
            if not added:
                return old, added
            try:
                if self._commit(photo, target, old, new, added, model):
                    return old, added
            except SidecarError as error:
                raise _Skipped(f"cannot write sidecar: {error}") from None
            except OSError as error:
                raise _Skipped(f"cannot write sidecar: {_os_reason(error)}") from None
        raise _Skipped("sidecar left untouched: another program kept changing it while phototag wrote; run again")

    def _commit(self, photo: Path, target: Path, old: Optional[bytes], new: bytes, added, model) -> bool:
        """Journal and rename; False (nothing written) when the sidecar no longer holds `old`."""
        link = None
        if old is not None:
            info = os.stat(target)  # what a symbolic link (--replace-links) points to
            if not info.st_mode & 0o222:
                raise SidecarError("the sidecar file is read-only")
            mode, owner = info.st_mode, (info.st_uid, info.st_gid)
            own = os.lstat(target)
            if _hard_links(own) > 1:  # --replace-links: the inode left behind, for undo to link back to
                link = f"{own.st_dev}:{own.st_ino}"
        else:
            info = os.stat(photo)
            mode, owner = info.st_mode & 0o666, None
        tags = json.dumps(added, ensure_ascii=False)
        # Journal before the rename: a crash in between leaves a row whose `written`
        # content is not on disk, which undo recognises and leaves alone.
        try:
            row = journal.record(self.index, self._batch(), target, old, new, tags, model, link)
        except sqlite3.IntegrityError:  # the batch was pruned by another run (idle for a day): start another
            self.batch_id = None
            row = journal.record(self.index, self._batch(), target, old, new, tags, model, link)
        try:
            if _read_current(target) != old:  # an editor wrote it since _plan read it
                journal.forget(self.index, row)
                return False
            atomic_write(target, new, mode, owner, sync_folder=False, attributes_of=target if old is not None else None)
            self._dirty.add(target.parent)
        except BaseException:
            journal.forget(self.index, row)
            raise
        return True


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
    relinked: list[Path] = field(default_factory=list)  # of the restored, those linked back to their hard link


def undo_last_batch(
    index: Index, *, dry_run: bool = False, reporter: Optional[Reporter] = None, diff_out: Optional[TextIO] = None
) -> UndoResult:
    """Put back what the last (not yet undone) write batch changed, newest write first.

    A sidecar is restored only when it still holds exactly what phototag wrote. One changed
    since is kept and reported: by an editor, or by a later phototag run (two writers at
    once), whose tags are not taken away; undoing that run later finishes this sidecar too
    (journal.SidecarRows.left_before). A hard link split by --replace-links is linked back.
    """
    reporter = reporter if reporter is not None else quiet_reporter()
    result = UndoResult()
    batch = journal.last_batch(index)
    if batch is None:
        return result
    result.batch_id, result.command, result.started_at = batch
    rows = journal.batch_rows(index, batch[0])
    history = journal.SidecarRows(index, batch[0])
    dirty: set[Path] = set()
    for row in rows:
        try:
            with locked_folder(row.path.parent):
                outcome = _undo_one(index, row, history, dry_run, diff_out)
        except OSError as error:
            outcome = f"cannot restore: {error.strerror or error}"
        if outcome == "already":
            result.already += 1
            continue
        if outcome == "unlinked":
            reporter.warn(
                f"{display_path(row.path)}: restored as a separate file: the other name of the hard link that"
                " --replace-links split was not found in the library with the previous content"
            )
            outcome = "restored"
        if outcome in ("restored", "relinked", "deleted"):
            (result.deleted if outcome == "deleted" else result.restored).append(row.path)
            if outcome == "relinked":
                result.relinked.append(row.path)
            dirty.add(row.path.parent)
        else:
            result.kept.append((row.path, outcome))
            reporter.skip(row.path, outcome)
    for folder in dirty:
        fsync_dir(folder)
    if not dry_run:
        for folder in {row.path.parent for row in rows}:
            _remove_stale_temps(folder)
        journal.mark_undone(index, batch[0])
    return result


def _undo_one(index: Index, row: journal.JournalRow, history: journal.SidecarRows, dry_run: bool, diff_out) -> str:
    """Restore one row's sidecar (its folder locked): 'restored', 'relinked', 'deleted', 'already' or why it is kept."""
    try:
        current = _read_current(row.path)
    except (OSError, SidecarError) as error:
        return f"cannot read: {getattr(error, 'strerror', None) or error}"
    if current == row.previous:
        return "already"  # crash before the rename, or restored already
    if current != row.written:
        later = history.later_batch(row)
        if later is None:
            return "changed since phototag wrote it; kept as it is"
        return (
            f"written again by batch {later[0]} ({later[1]}) after this one; kept with its tags:"
            f" undoing batch {later[0]} restores it"
        )
    target = row
    while (before := history.left_before(target)) is not None:  # an earlier undo had to keep it for this row
        target = before
    if dry_run:
        (diff_out or sys.stdout).write(unified_diff(row.path, current, target.previous))
        return "deleted" if target.previous is None else "restored"
    if target.previous is None:
        os.unlink(row.path)
        return "deleted"
    if target.replaced_link is not None and _link_back(index.root, row.path, target):
        return "relinked"
    info = os.stat(row.path)
    atomic_write(
        row.path, target.previous, info.st_mode, (info.st_uid, info.st_gid), sync_folder=False, attributes_of=row.path
    )
    return "restored" if target.replaced_link is None else "unlinked"


def _link_back(root: Path, path: Path, row: journal.JournalRow) -> bool:
    """Point `path` at the inode a --replace-links write split it from, when another name of it
    still holds the previous content (the sidecar's folder is looked in first, then the library)."""
    dev, ino = (int(part) for part in row.replaced_link.split(":"))
    for other in _names_of_inode(dev, ino, path.parent, root):
        try:
            with open(other, "rb") as handle:
                if handle.read(MAX_SIDECAR_BYTES + 1) != row.previous:
                    continue
            temp = temp_path(path.parent)
            os.link(other, temp)
        except OSError:
            continue
        try:
            os.replace(temp, path)
        except OSError:
            os.unlink(temp)
            raise
        return True
    return False


def _names_of_inode(dev: int, ino: int, first: Path, root: Path) -> Iterator[Path]:
    def matches(folder: str, names: Iterable[str]) -> Iterator[Path]:
        for name in names:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) == (dev, ino):
                yield Path(folder, name)

    try:
        yield from matches(os.fspath(first), os.listdir(first))
    except OSError:
        pass
    for folder, dirs, files in os.walk(root):  # links to folders are not followed
        if os.path.realpath(folder) != os.path.realpath(first):
            yield from matches(folder, files)
