"""Writing files so that a crash, a kill or a power cut never leaves a torn one.

The one place for atomic replacement (temp file in the same folder, fsync, rename,
fsync the folder), folder fsync, the folder lock writers share, and cleaning up temp
files a killed writer left.
Temp names are short (`.pt-<pid>-<n>.tmp`, never derived from the target's name), so
a target whose name is near the file system's limit can still be written.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import re
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

TEMP_PREFIX = ".pt-"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-\d+\.tmp")
# Temp names of phototag 0.x sidecar writes (".IMG.jpg.xmp.phototag-PID-N.tmp"): still cleaned up.
_LEGACY_TEMP_NAME = re.compile(r"\..+\.phototag-(\d+)-\d+\.tmp")
_counter = itertools.count()


def fsync_dir(folder: Path) -> None:
    """Make renames and creations in `folder` durable; a no-op where the file system cannot."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


class LockTimeout(OSError):
    """Another process held a folder's lock for longer than the wait allowed."""


@contextmanager
def locked_folder(folder: Path, timeout_s: float = 60.0) -> Iterator[None]:
    """Hold an exclusive lock on `folder` while reading, changing and replacing files in it.

    The lock is flock(2) on the folder itself (a directory descriptor), so every phototag process
    serialises on it whatever index it uses, and no lock file is ever created in a person's folder.
    The kernel drops it when the holder exits, kill -9 included, so a lock is never stale. Local
    file systems only (Linux and macOS; NFS may not share it); editors do not take it, which is
    why writers still compare the file before renaming. Raises LockTimeout after `timeout_s`.
    """
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        # Polled, not a blocking flock: a holder that hangs (or is stopped with Ctrl-Z) must not hang
        # this process. Polled often: the holder releases between files and takes it again soon.
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    held = f"another process has held the folder's lock for over {timeout_s:.0f} s"
                    raise LockTimeout(held) from None
                time.sleep(0.0005)
        yield
    finally:
        os.close(fd)  # releases the lock


def temp_path(folder: Path) -> Path:
    """A fresh hidden temp name in `folder`, short whatever the target's name."""
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{next(_counter)}.tmp"


def copy_xattrs(source: Path, fd: int) -> None:
    """Give the open file `fd` the extended attributes of `source` (not followed if a link).

    That is `user.*` attributes (user.xdg.tags, user.xdg.comment, ...) and POSIX ACLs
    (system.posix_acl_*), which a rename would otherwise drop with the old file. One of those
    that cannot be copied raises OSError; `security.*` and `trusted.*`, which an unprivileged
    process cannot set and the system labels new files with anyway, are copied where allowed.
    """
    if not hasattr(os, "listxattr"):  # not Linux: nothing this can copy
        return
    try:
        names = os.listxattr(source, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT):
            return  # a file system without attributes, or no old file
        raise
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(source, name, follow_symlinks=False))
        except OSError:
            if name.startswith(("user.", "system.posix_acl_")):
                raise


def atomic_write(
    path: Path,
    content: bytes,
    mode: int = 0o644,
    owner: Optional[tuple[int, int]] = None,
    sync_folder: bool = True,
    attributes_of: Optional[Path] = None,
) -> None:
    """Replace `path` with `content`: hidden temp file in the same folder, fsync, rename, fsync folder.

    The new file gets permission bits `mode` (and `owner` when running as root), and the extended
    attributes and ACLs of `attributes_of` (usually `path` itself: copy_xattrs). With
    sync_folder=False the caller fsyncs the folder later (once for many files): until then
    a power cut may undo the rename, leaving the old file, never a torn one.
    """
    folder = path.parent
    while True:
        temp = temp_path(folder)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode & 0o7777)
            if owner is not None and os.geteuid() == 0:
                try:
                    os.fchown(fd, *owner)
                except OSError:
                    pass
            if attributes_of is not None:
                copy_xattrs(attributes_of, fd)  # after chmod: an ACL agrees with the mode it was set with
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if sync_folder:
        fsync_dir(folder)


def file_kind(mode: int) -> str:
    """What a file of this st_mode is, in words ("a FIFO"), for reasons given to people."""
    for test, kind in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def is_temp_name(name: str) -> bool:
    return _TEMP_NAME.fullmatch(name) is not None or _LEGACY_TEMP_NAME.fullmatch(name) is not None


def remove_stale_temps(folder: Path, names: Iterable[str]) -> list[str]:
    """Delete temp files in `folder` left by a phototag writer that was killed (its process is gone).

    Returns the names removed. A temp file of a process still running (or a reused pid) is left.
    """
    removed = []
    for name in names:
        match = _TEMP_NAME.fullmatch(name) or _LEGACY_TEMP_NAME.fullmatch(name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            os.unlink(folder / name)
            removed.append(name)
        except OSError:
            pass
    return removed


# phototag's own files (index, logs, models, thumbnails) hold a person's keywords and pictures: only
# they may read them, whatever the umask. Folders and files that already exist keep their mode: a
# person may share one on purpose (`--index` in a shared folder), and phototag never changes that.
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def private_dir(folder: Path) -> None:
    """Create `folder` and any missing parents as 0700 folders (existing ones are left as they are)."""
    folder = Path(folder)
    missing = []
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, PRIVATE_DIR)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue  # another process made it meanwhile: it is theirs to set
        os.chmod(path, PRIVATE_DIR)  # not masked by the umask


def private_file(path: Path) -> bool:
    """Create `path` empty as a 0600 file when it does not exist; True when this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True
