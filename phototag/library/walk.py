"""Walking a library: which files are photos, which XMP sidecars belong to them.

Sidecar conventions understood (names compared case-insensitively):
  IMG_0001.xmp        Lightroom / Capture One (read for every photo of that stem: a RAW+JPEG
                      pair shares it; phototag never creates one such a pair would share,
                      see `phototag.library.sidecar_names` rule 4)
  IMG_0001.CR2.xmp    darktable / digiKam
  IMG_0001_01.CR2.xmp darktable duplicate (another version of the same photo)

Hidden files and folders and the junk folders of NAS boxes, file managers and
photo apps are skipped. Unreadable folders are reported and skipped.

Links. The library is what lies under its root:
  - A symbolic link to a folder is not followed (it is listed in `links_not_followed`,
    which the scan reports as skipped), unless `follow_links=True`; then each folder is
    walked once, however many links lead to it (loops are detected by device and inode).
    Not following is what keeps phototag from creating sidecars outside the library
    (the sidecar writer refuses such folders too, see `phototag.library.sidecar`).
  - A symbolic link to a photo file is read (reading is harmless wherever it points);
    a sidecar for it is written beside the link, inside the library.
  - A file reached under several names (hard links, symbolic links, a linked folder)
    is one photo: it is yielded once, under the name that is not a link (a regular
    entry in a folder that was not reached through a link), else the first name in
    byte order; the other names are listed in `same_files`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from phototag.filetypes import PHOTO_EXTENSIONS, SIDECAR_EXTENSION, extension
from phototag.fsio import file_kind

# Folders that hold thumbnails, trash or app data, never the person's photos.
JUNK_FOLDERS = frozenset(
    name.lower()
    for name in (
        "@eaDir",  # Synology thumbnails
        "#recycle",
        "#snapshot",
        "$RECYCLE.BIN",
        "System Volume Information",
        "lost+found",
        "__MACOSX",
        "@Recycle",  # QNAP
        ".@__thumb",
        "Thumbs",
    )
)
JUNK_SUFFIXES = (".lrdata", ".photoslibrary", ".aplibrary")  # Lightroom previews, Apple libraries

SEP = os.sep.encode()
OnSkip = Callable[[Path, str], None]


@dataclass(slots=True)
class PhotoFile:
    fspath: str  # absolute path (str: building Path objects dominates an unchanged re-scan)
    rel: bytes  # relative to the library root, OS bytes
    size: int
    mtime_ns: int
    sidecar_names: list[str] = field(default_factory=list)  # in the photo's folder
    # names, sizes and mtimes of the sidecars: what a sidecar change looks like to the incremental scan
    sidecar_signature: bytes = b""

    @property
    def path(self) -> Path:
        return Path(self.fspath)

    @property
    def sidecars(self) -> list[Path]:
        folder = os.path.dirname(self.fspath)
        return [Path(folder, name) for name in self.sidecar_names]


def is_junk_folder(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or lowered in JUNK_FOLDERS or lowered.endswith(JUNK_SUFFIXES)


def match_sidecars(photo_names: list[str], sidecar_names: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Pair photos of one folder with its XMP files. Returns (photo -> sidecars, orphan sidecars)."""
    by_lower: dict[str, list[str]] = {}
    for name in sidecar_names:
        by_lower.setdefault(name.lower(), []).append(name)
    used: set[str] = set()
    result: dict[str, list[str]] = {}
    for photo in photo_names:  # exact names first: IMG.EXT.xmp, then IMG.xmp
        stem = photo.rpartition(".")[0]
        found: list[str] = []
        lowered = photo.lower()
        for key in (lowered + ".xmp", stem.lower() + ".xmp"):
            for name in by_lower.get(key, ()):
                if name not in found:
                    found.append(name)
        used.update(found)
        result[photo] = found
    # Then darktable duplicates IMG_NN.EXT.xmp, unless a photo IMG_NN.EXT exists (then it is that photo's).
    by_photo_key = {name.lower(): name for name in photo_names}
    for name in sidecar_names:
        if name in used:
            continue
        base = name[:-4].lower()  # strip ".xmp"
        stem_nn, dot, ext = base.rpartition(".")
        stem, underscore, number = stem_nn.rpartition("_")
        if not (dot and underscore and number.isdigit()) or base in by_photo_key:
            continue
        owner = by_photo_key.get(f"{stem}.{ext}")
        if owner is not None:
            result[owner].append(name)
            used.add(name)
    orphans = [name for name in sidecar_names if name not in used]
    return result, orphans


class LibraryWalker:
    """Iterate the photos of a library (each file once); orphan sidecars, folder links not
    followed and the other names of photos met twice are collected on the side."""

    def __init__(self, root: Path, on_skip: OnSkip, follow_links: bool = False):
        self.root = Path(root)
        self.on_skip = on_skip
        self.follow_links = follow_links
        self.orphan_sidecars: list[Path] = []
        self.links_not_followed: list[Path] = []  # symbolic links to folders (follow_links=False)
        self.same_files: list[tuple[Path, Path]] = []  # (a name not used, the name the photo is counted under)
        self.folders = 0

    def __iter__(self) -> Iterator[PhotoFile]:
        """The photos in walk order, each file once (all are found first: the best name may come last)."""
        kept: dict[tuple[int, int], tuple[tuple[bool, bytes], PhotoFile]] = {}
        others: list[tuple[tuple[int, int], PhotoFile]] = []
        order: list[PhotoFile] = []
        for photo, key, linked in self._walk():
            order.append(photo)
            rank = (linked, photo.rel)
            known = kept.get(key)
            if known is None or rank < known[0]:
                kept[key] = (rank, photo)
                if known is not None:
                    others.append((key, known[1]))
            else:
                others.append((key, photo))
        self.same_files = sorted((photo.path, kept[key][1].path) for key, photo in others)
        chosen = {id(photo) for _, photo in kept.values()}
        yield from (photo for photo in order if id(photo) in chosen)

    def _walk(self) -> Iterator[tuple[PhotoFile, tuple[int, int], bool]]:
        """(photo, its device and inode, whether it was reached through a link) for every photo name."""
        visited: set[tuple[int, int]] = set()
        stack: list[tuple[Path, bytes, bool]] = [(self.root, b"", False)]
        linked: list[tuple[Path, bytes, bool]] = []  # folders behind links: walked last, so a folder
        while stack or linked:  # inside the library is walked under its own name, not a link's
            folder, folder_rel, via_link = stack.pop() if stack else linked.pop()
            try:
                info = folder.stat()
            except OSError as error:
                self.on_skip(folder, f"cannot open folder: {error.strerror or error}")
                continue
            key = (info.st_dev, info.st_ino)
            if key in visited:
                continue  # symlink loop or a folder linked twice
            visited.add(key)
            try:
                with os.scandir(folder) as entries:
                    listing = list(entries)
            except OSError as error:
                self.on_skip(folder, f"cannot list folder: {error.strerror or error}")
                continue
            self.folders += 1
            photos: dict[str, os.DirEntry] = {}
            sidecars: dict[str, os.DirEntry] = {}
            subfolders: list[tuple[str, os.DirEntry]] = []
            for entry in listing:  # the hot loop of a re-scan: cheapest checks first
                name = entry.name
                if name[0] == ".":
                    continue
                ext = extension(name)
                kind = sidecars if ext == SIDECAR_EXTENSION else photos if ext in PHOTO_EXTENSIONS else None
                try:
                    if kind is not None and entry.is_file():
                        kind[name] = entry
                    elif entry.is_dir():  # follows symlinks; loops caught above
                        if is_junk_folder(name):
                            pass
                        elif entry.is_symlink() and not self.follow_links:
                            self.links_not_followed.append(Path(entry.path))
                        else:
                            subfolders.append((name, entry))
                    elif kind is photos and entry.is_symlink() and not os.path.exists(entry.path):
                        self.on_skip(Path(entry.path), "broken symbolic link")
                    elif kind is photos:  # a FIFO or device named like a photo: reading it could block
                        self.on_skip(Path(entry.path), f"not a regular file: {file_kind(entry.stat().st_mode)}")
                except OSError as error:
                    self.on_skip(Path(entry.path), f"cannot stat: {error.strerror or error}")
            pairing, orphans = match_sidecars(sorted(photos), sorted(sidecars))
            self.orphan_sidecars.extend(folder / name for name in orphans)
            for name in sorted(photos):
                entry = photos[name]
                try:
                    st = entry.stat()
                except OSError as error:
                    self.on_skip(Path(entry.path), f"cannot stat: {error.strerror or error}")
                    continue
                names = pairing[name]
                photo = PhotoFile(
                    fspath=entry.path,
                    rel=folder_rel + os.fsencode(name),
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    sidecar_names=names,
                    sidecar_signature=_signature(sidecars, names) if names else b"",
                )
                yield photo, (st.st_dev, st.st_ino), via_link or entry.is_symlink()
            subfolders.sort(key=lambda item: item[0])
            for name, entry in reversed(subfolders):
                link = entry.is_symlink()
                item = (Path(entry.path), folder_rel + os.fsencode(name) + SEP, via_link or link)
                (linked if link else stack).append(item)


def _signature(entries: dict[str, os.DirEntry], names: list[str]) -> bytes:
    """b'name/size/mtime_ns/…' of a photo's sidecars (-1 when one cannot be stat'ed).

    '/' cannot occur in a file name, so it splits back unambiguously; OS bytes,
    so names that are not valid UTF-8 survive.
    """
    values = []
    for name in names:
        try:
            st = entries[name].stat()
            values.append(f"{name}/{st.st_size}/{st.st_mtime_ns}")
        except OSError:
            values.append(f"{name}/-1/-1")
    return os.fsencode("/".join(values))


def sidecar_names_from_signature(signature: bytes) -> list[str]:
    parts = os.fsdecode(bytes(signature)).split("/") if signature else []
    return parts[0::3]
