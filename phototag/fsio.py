"""Writing files so that a crash, a kill or a power cut never leaves a torn one.

The one place for atomic replacement (temp file in the same folder, fsync, rename,
fsync the folder), folder fsync, and cleaning up temp files a killed writer left.
Temp names are short (`.pt-<pid>-<n>.tmp`, never derived from the target's name), so
a target whose name is near the file system's limit can still be written.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
from pathlib import Path
from typing import Iterable, Optional

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


def temp_path(folder: Path) -> Path:
    """A fresh hidden temp name in `folder`, short whatever the target's name."""
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{next(_counter)}.tmp"


def atomic_write(
    path: Path,
    content: bytes,
    mode: int = 0o644,
    owner: Optional[tuple[int, int]] = None,
    sync_folder: bool = True,
) -> None:
    """Replace `path` with `content`: hidden temp file in the same folder, fsync, rename, fsync folder.

    The new file gets permission bits `mode` (and `owner` when running as root). With
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
