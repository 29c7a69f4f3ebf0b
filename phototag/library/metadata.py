"""Reading the keywords a person already gave a photo, from every place editors put them.

Sources (the `source` of a Keyword):
  - "xmp-sidecar": an XMP sidecar file next to the photo
  - "xmp":         XMP embedded in the image file
  - "iptc":        IPTC-IIM Keywords (2:25), any IPTC block of the file
  - "exif":        EXIF XPKeywords (Windows), UTF-16LE, ';'-separated

Fields (the `field` of a Keyword): flat ones are "dc:subject", "IPTC:Keywords",
"XPKeywords"; hierarchical ones are "lr:hierarchicalSubject" ('|'),
"digiKam:TagsList" ('/'), "mediapro:CatalogSets" ('|'),
"MicrosoftPhoto:LastKeywordXMP" ('/').

This module reports what is in the files, exactly as written (no trimming, no
case folding; empty items are dropped). Normalisation and precedence between
sources belong to `phototag.library.history`.

Where embedded metadata is found (by the file's magic bytes, not its name):
JPEG (APP1 EXIF/XMP/ExtendedXMP, APP13 Photoshop IPTC, AFCP trailer), TIFF and
TIFF-based RAW (CR2, NEF, DNG, ARW, ORF, PEF, RW2 and its embedded JPEG: IFD0
tags 700, 33723, 34377), PNG (iTXt XMP, eXIf, raw profiles), WebP, GIF, PSD,
ISO-BMFF (HEIC/HEIF/AVIF items, CR3 boxes, JPEG XL boxes, Brotli ones when the
brotli package is installed) and RAF (its embedded JPEG). Only headers and
metadata blocks are read, never pixel data. EXIF IFD0 is parsed here rather
than with exifread: the same IFD walker is needed for TIFF/RAW anyway, and it
takes ~25 us where exifread.process_file(details=False) takes ~150 us.

creator: the first dc:creator of a sidecar, else of embedded XMP, else EXIF
Artist, else IPTC By-line (2:80).
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

try:  # optional: only JPEG XL files with compressed metadata boxes need it
    import brotli
except ImportError:  # pragma: no cover - depends on the installation
    brotli = None

from phototag.library.iptc import IRB_EXIF, IRB_IPTC, IRB_XMP, decode_iim_text, irb_blocks, parse_iim
from phototag.library.xmp_read import XmpError, XmpValues, parse_xmp

FLAT_FIELDS = ("dc:subject", "IPTC:Keywords", "XPKeywords")
HIERARCHICAL_FIELDS = {
    "lr:hierarchicalSubject": "|",
    "digiKam:TagsList": "/",
    "mediapro:CatalogSets": "|",
    "MicrosoftPhoto:LastKeywordXMP": "/",
}


@dataclass(frozen=True)
class Keyword:
    text: str  # exactly as stored in the file
    source: str  # "xmp-sidecar" | "xmp" | "iptc" | "exif"
    field: str  # one of FLAT_FIELDS or HIERARCHICAL_FIELDS
    file: Path  # the file it was read from (the photo or its sidecar)

    @property
    def is_hierarchical(self) -> bool:
        return self.field in HIERARCHICAL_FIELDS

    @property
    def path(self) -> tuple[str, ...]:
        """Hierarchy components (a flat keyword is a path of one)."""
        separator = HIERARCHICAL_FIELDS.get(self.field)
        if separator is None:
            return (self.text,)
        return tuple(part for part in self.text.split(separator) if part.strip())


@dataclass
class PhotoMetadata:
    keywords: list[Keyword] = field(default_factory=list)
    creator: Optional[str] = None  # XMP dc:creator (first) or EXIF Artist
    width: Optional[int] = None
    height: Optional[int] = None
    warnings: list[str] = field(default_factory=list)  # one line each, file named

    def flat(self, sources: Optional[Sequence[str]] = None) -> set[str]:
        return {
            k.text
            for k in self.keywords
            if not k.is_hierarchical and (sources is None or k.source in sources)
        }

    def hierarchical(self, sources: Optional[Sequence[str]] = None) -> list[tuple[str, ...]]:
        seen: dict[tuple[str, ...], None] = {}
        for k in self.keywords:
            if k.is_hierarchical and (sources is None or k.source in sources):
                seen.setdefault(k.path, None)
        return list(seen)


def read_photo_metadata(photo: Path, sidecars: Sequence[Path] = ()) -> PhotoMetadata:
    """Read keywords (all sources), creator and cheap dimensions of one photo.

    Never raises for bad input: unreadable files, corrupt images and hostile XML
    become one-line entries in `warnings` and the rest is still read. A `.xmp`
    file given as the photo is read as a sidecar (a standalone XMP file).
    """
    reading = _Reading()
    photo = Path(photo)
    if photo.suffix.lower() == ".xmp":
        reading.sidecar(photo)
    else:
        reading.photo(photo)
    for sidecar in sidecars:
        reading.sidecar(Path(sidecar))
    return reading.result()


def read_sidecar(path: Path) -> PhotoMetadata:
    """Read one XMP sidecar (or standalone .xmp file) on its own."""
    reading = _Reading()
    reading.sidecar(Path(path))
    return reading.result()


# --- collecting what the sources say ------------------------------------------------------

MAX_BLOCK = 64 << 20  # no metadata block is larger; a bigger length is corruption
MAX_SIDECAR = 64 << 20

# Creator candidates, best first: the sidecar is what the editor wrote last.
_CREATOR_RANK = {"xmp-sidecar": 0, "xmp": 1, "exif": 2, "iptc": 3}


class _Reading:
    """What one photo's files say, gathered source by source."""

    def __init__(self) -> None:
        self.meta = PhotoMetadata()
        self._seen: set[tuple[str, str, str, Path]] = set()
        self._creators: dict[str, str] = {}
        self.size_known = False  # set once the photo's size is found (or must not be guessed)

    def result(self) -> PhotoMetadata:
        if self._creators:
            self.meta.creator = self._creators[min(self._creators, key=_CREATOR_RANK.__getitem__)]
        return self.meta

    def warn(self, file: Path, message: str) -> None:
        line = f"{file}: {' '.join(str(message).split())}"
        if line not in self.meta.warnings:
            self.meta.warnings.append(line)

    def keyword(self, text: str, source: str, field_name: str, file: Path) -> None:
        key = (text, source, field_name, file)
        if key not in self._seen:
            self._seen.add(key)
            self.meta.keywords.append(Keyword(text, source, field_name, file))

    def creator(self, source: str, text: Optional[str]) -> None:
        text = (text or "").strip(" \0\t\r\n")
        if text:
            self._creators.setdefault(source, text)

    def dimensions(self, width: int, height: int) -> None:
        if not self.size_known and width > 0 and height > 0:
            self.meta.width, self.meta.height = int(width), int(height)
            self.size_known = True

    # -- the three kinds of payload --

    def xmp(self, data: bytes, source: str, file: Path) -> Optional[XmpValues]:
        try:
            values = parse_xmp(data)
        except XmpError as error:
            where = "sidecar" if source == "xmp-sidecar" else "embedded XMP"
            self.warn(file, f"{where} not read: {error}")
            return None
        for field_name, text in values.keywords:
            self.keyword(text, source, field_name, file)
        self.creator(source, values.creator)
        return values

    def iptc(self, data: bytes, file: Path) -> None:
        values = parse_iim(data)
        for text in values.keywords:
            self.keyword(text, "iptc", "IPTC:Keywords", file)
        if values.bylines:
            self.creator("iptc", values.bylines[0])
        for warning in values.warnings:
            self.warn(file, warning)

    def irb(self, data: bytes, file: Path) -> None:
        """Photoshop image resources: IPTC, XMP and EXIF may all be in there."""
        for resource, payload in irb_blocks(data):
            if resource == IRB_IPTC:
                self.iptc(payload, file)
            elif resource == IRB_XMP:
                self.xmp(payload, "xmp", file)
            elif resource == IRB_EXIF:
                _read_exif_block(payload, self, file)

    # -- files --

    def sidecar(self, path: Path) -> None:
        handle = self._open(path)
        if handle is None:
            return
        with handle:
            if handle.size > MAX_SIDECAR:
                self.warn(path, f"sidecar not read: {handle.size} bytes is too large for an XMP file")
                return
            try:
                data = handle.read(0, handle.size)
            except OSError as error:
                self.warn(path, f"read error: {error.strerror or error}")
                return
        self.xmp(data, "xmp-sidecar", path)

    def photo(self, path: Path) -> None:
        handle = self._open(path)
        if handle is None:
            return
        with handle:
            if handle.size == 0:
                self.warn(path, "empty file (0 bytes)")
                return
            try:
                reader = _format_reader(handle.read(0, 16))
                if reader is None:
                    self.warn(path, "not a recognised image format; embedded metadata not read")
                    return
                reader(handle, self, path)
            except _Corrupt as error:
                self.warn(path, str(error))
            except OSError as error:
                self.warn(path, f"read error: {error.strerror or error}")
            except Exception as error:  # noqa: BLE001 - a corrupt file must never stop a scan
                self.warn(path, f"embedded metadata is corrupt; partly read ({type(error).__name__}: {error})")

    def _open(self, path: Path) -> Optional["_File"]:
        try:
            return _File.open(path)
        except _NotRegular as error:
            self.warn(path, f"not read: {error}")
        except OSError as error:
            self.warn(path, f"cannot open: {error.strerror or error}")
        except ValueError as error:  # a NUL byte in the name
            self.warn(path, f"cannot open: {error}")
        return None


# --- random access to a file, a byte string, or a part of either ---------------------------


class _NotRegular(Exception):
    pass


class _Corrupt(Exception):
    """A structure that cannot be followed; the message is the one-line warning."""


class _Source:
    size: int

    def read(self, offset: int, n: int) -> bytes:
        raise NotImplementedError

    def u16(self, offset: int, order: str = ">") -> Optional[int]:
        data = self.read(offset, 2)
        return struct.unpack(order + "H", data)[0] if len(data) == 2 else None

    def u32(self, offset: int, order: str = ">") -> Optional[int]:
        data = self.read(offset, 4)
        return struct.unpack(order + "I", data)[0] if len(data) == 4 else None


class _Bytes(_Source):
    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0:
            return b""
        return self.data[offset : offset + n]


class _View(_Source):
    """Part of another source (an embedded JPEG inside a RAF file)."""

    def __init__(self, parent: _Source, start: int, size: int):
        self.parent, self.start = parent, start
        self.size = max(0, min(size, parent.size - start))

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        return self.parent.read(self.start + offset, min(n, self.size - offset))


class _File(_Source):
    """A read-only file read in windows: the first 64 KiB (where headers and most metadata
    live) in one system call, later small reads (chunk headers) 8 KiB at a time, so walking
    the chunks of a 25 MB PNG never reads its pixel data."""

    HEAD = 64 << 10
    WINDOW = 8 << 10

    def __init__(self, fd: int, size: int):
        self.fd, self.size = fd, size
        self._window_start, self._window = 0, b""

    @classmethod
    def open(cls, path: Path) -> "_File":
        # O_NONBLOCK: opening a FIFO that carries a photo's name must not hang the scan.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _NotRegular("it is a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, info.st_size)

    def __enter__(self) -> "_File":
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def _pread(self, offset: int, n: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self.fd, n, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)
        return os.read(self.fd, n)

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        n = min(n, self.size - offset, MAX_BLOCK)
        start = offset - self._window_start
        if 0 <= start and start + n <= len(self._window):
            return self._window[start : start + n]
        window = self.HEAD if offset < self.HEAD else self.WINDOW
        if n >= window:
            return self._pread(offset, n)
        self._window_start, self._window = offset, self._pread(offset, window)
        return self._window[:n]


# --- container formats -----------------------------------------------------------------------

Reader = Callable[[_Source, _Reading, Path], None]


def _format_reader(head: bytes) -> Optional[Reader]:
    if head[:3] == b"\xff\xd8\xff":
        return _read_jpeg
    if head[:4] in (b"II*\0", b"MM\0*", b"IIU\0", b"IIRO", b"IIRS", b"MMOR"):
        return _read_tiff_file  # TIFF and TIFF-based RAW (CR2, NEF, DNG, ARW, PEF, RW2, ORF, ...)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _read_png
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _read_webp
    if head[:4] in (b"GIF8",):
        return _read_gif
    if head[:4] == b"8BPS":
        return _read_psd
    if head[4:8] == b"ftyp" or head[:12] == b"\0\0\0\x0cJXL \r\n\x87\n":
        return _read_isobmff  # HEIC/HEIF/AVIF, CR3, JPEG XL container
    if head[:2] == b"\xff\x0a":
        return _read_nothing  # bare JPEG XL codestream: it has no metadata boxes
    if head[:16] == b"FUJIFILMCCD-RAW ":
        return _read_raf
    if head[:14] == b"II\x1a\0\0\0HEAPCCDR" or head[:4] == b"FOVb":
        return _read_nothing  # Canon CRW, Sigma X3F: embedded metadata not read, sidecars are
    return None


def _read_nothing(src: _Source, reading: _Reading, file: Path) -> None:
    return None


# JPEG ---------------------------------------------------------------------------------------

_XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_SIG_OLD = b"XMP\0://ns.adobe.com/xap/1.0/\0"  # early Photoshop; same length
_XMP_EXT_SIG = b"http://ns.adobe.com/xmp/extension/\0"
_IRB_SIGS = (b"Photoshop 3.0\0", b"Adobe_Photoshop2.5:")
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _read_jpeg(src: _Source, reading: _Reading, file: Path) -> None:
    pos = 2
    irb = bytearray()
    extended: dict[bytes, tuple[int, dict[int, bytes]]] = {}  # guid -> (full length, offset -> chunk)
    main_guids: list[str] = []
    have_exif = False
    ended = False
    while pos + 4 <= src.size:
        head = src.read(pos, 4)
        if head[0] != 0xFF:
            reading.warn(file, f"JPEG structure broken at byte {pos}; metadata read up to there")
            ended = True
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no metadata segments after it
            ended = True
            break
        length = (head[2] << 8) | head[3]
        start, size = pos + 4, length - 2
        if size < 0 or start + size > src.size:
            reading.warn(file, "JPEG is truncated inside its metadata segments")
            ended = True
            break
        if marker == 0xE1:
            signature = src.read(start, len(_XMP_EXT_SIG))
            if signature.startswith(b"Exif\0") and not have_exif:
                have_exif = True
                _read_exif_block(src.read(start + 6, size - 6), reading, file)
            elif signature.startswith((_XMP_SIG, _XMP_SIG_OLD)):
                values = reading.xmp(src.read(start + len(_XMP_SIG), size - len(_XMP_SIG)), "xmp", file)
                if values is not None and values.extended_guid:
                    main_guids.append(values.extended_guid)
            elif signature == _XMP_EXT_SIG:
                data = src.read(start + len(_XMP_EXT_SIG), size - len(_XMP_EXT_SIG))
                if len(data) >= 40:
                    guid, full, offset = data[:32], *struct.unpack(">II", data[32:40])
                    extended.setdefault(guid, (full, {}))[1][offset] = data[40:]
        elif marker == 0xED:
            data = src.read(start, size)
            for sig in _IRB_SIGS:
                if data.startswith(sig):
                    irb += data[len(sig) :]
                    break
        elif marker in _SOF:
            sof = src.read(start, 5)
            if len(sof) == 5:
                height, width = struct.unpack(">HH", sof[1:5])
                reading.dimensions(width, height)
        pos = start + size
    if not ended:
        reading.warn(file, "JPEG is truncated before its image data")
    if irb:
        reading.irb(bytes(irb), file)
    for guid in main_guids:
        _read_extended_xmp(extended.get(guid.encode("ascii", "replace")), reading, file)
    _read_afcp(src, reading, file)


def _read_extended_xmp(parts: Optional[tuple[int, dict[int, bytes]]], reading: _Reading, file: Path) -> None:
    """Adobe ExtendedXMP: the main packet names a GUID, the rest comes in numbered chunks."""
    if parts is None:
        reading.warn(file, "ExtendedXMP announced but not found")
        return
    full, chunks = parts
    data = bytearray(full) if full <= MAX_BLOCK else bytearray()
    received = 0
    for offset, chunk in chunks.items():
        if offset + len(chunk) <= len(data):
            data[offset : offset + len(chunk)] = chunk
            received += len(chunk)
    if received != full or not full:
        reading.warn(file, "ExtendedXMP is incomplete; not read")
        return
    reading.xmp(bytes(data), "xmp", file)


def _read_afcp(src: _Source, reading: _Reading, file: Path) -> None:
    """AXS File Concatenation Protocol trailer (IPTC appended after the JPEG's end)."""
    footer = src.read(src.size - 12, 12)
    if len(footer) != 12 or footer[:4] not in (b"AXS!", b"AXS*"):
        return
    order = ">" if footer[3:4] == b"!" else "<"
    start = struct.unpack(order + "I", footer[4:8])[0]
    header = src.read(start, 8)
    if header[:4] != footer[:4]:
        reading.warn(file, "AFCP trailer has wrong offsets; not read")
        return
    count = struct.unpack(order + "H", header[6:8])[0]
    directory = src.read(start + 12, 12 * count)
    for index in range(len(directory) // 12):
        tag = directory[12 * index : 12 * index + 4]
        size, offset = struct.unpack(order + "II", directory[12 * index + 4 : 12 * index + 12])
        if tag == b"IPTC":
            reading.iptc(src.read(offset, size), file)


# TIFF and TIFF-based RAW --------------------------------------------------------------------

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
T_SUBFILE, T_WIDTH, T_HEIGHT, T_ARTIST = 254, 256, 257, 315
T_XMP, T_IPTC, T_IRB, T_SUBIFDS, T_XPKEYWORDS = 700, 33723, 34377, 330, 0x9C9E
T_RW2_JPEG = 0x2E  # Panasonic RW2: the embedded JPEG holds the EXIF IFD0 (Artist, XPKeywords)
T_EXIF_IFD, T_PIXEL_X, T_PIXEL_Y = 34665, 0xA002, 0xA003
_IFD0_TAGS = {T_SUBFILE, T_WIDTH, T_HEIGHT, T_ARTIST, T_XMP, T_IPTC, T_IRB, T_SUBIFDS, T_XPKEYWORDS, T_EXIF_IFD}


class _Ifd:
    """The entries of one image file directory, values read on demand."""

    def __init__(self, src: _Source, order: str, offset: int, wanted: set[int]):
        self.src, self.order = src, order
        self.entries: dict[int, tuple[int, int, bytes]] = {}
        self.truncated = False  # a value lies (partly) past the end of the data
        count = src.u16(offset, order)
        if count is None:
            raise _Corrupt(f"EXIF/TIFF directory offset {offset} lies outside the data; EXIF not read")
        table = src.read(offset + 2, 12 * count)
        for index in range(len(table) // 12):
            tag, kind, n = struct.unpack_from(order + "HHI", table, 12 * index)
            if tag in wanted:
                self.entries[tag] = (kind, n, table[12 * index + 8 : 12 * index + 12])

    def location(self, tag: int) -> Optional[tuple[int, int]]:
        """(offset, size) of a value stored outside the entry."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        kind, n, field_bytes = entry
        size = _TYPE_SIZES.get(kind, 1) * n
        return (struct.unpack(self.order + "I", field_bytes)[0], size) if size > 4 else None

    def raw(self, tag: int) -> Optional[bytes]:
        entry = self.entries.get(tag)
        if entry is None:
            return None
        kind, n, field_bytes = entry
        size = _TYPE_SIZES.get(kind, 1) * n
        if size <= 4:
            return field_bytes[:size]
        if size > MAX_BLOCK:
            return None
        data = self.src.read(struct.unpack(self.order + "I", field_bytes)[0], size)
        if len(data) < size:
            self.truncated = True
            return None
        return data

    def ints(self, tag: int) -> list[int]:
        entry = self.entries.get(tag)
        data = self.raw(tag)
        if entry is None or data is None:
            return []
        code = {3: "H", 4: "I", 13: "I"}.get(entry[0])
        if code is None:
            return []
        count = len(data) // struct.calcsize(code)
        return list(struct.unpack_from(f"{self.order}{count}{code}", data))


def _read_tiff_file(src: _Source, reading: _Reading, file: Path) -> None:
    _read_tiff(src, reading, file, dimensions=True)


def _read_tiff(src: _Source, reading: _Reading, file: Path, *, dimensions: bool) -> None:
    """IFD0 of a TIFF structure (a TIFF/RAW file, or the EXIF block of a JPEG/PNG/WebP/HEIF)."""
    header = src.read(0, 8)
    if len(header) < 8 or header[:2] not in (b"II", b"MM"):
        reading.warn(file, "EXIF/TIFF header is not valid; not read")
        return
    order = "<" if header[:2] == b"II" else ">"
    ifd0 = struct.unpack(order + "I", header[4:8])[0]
    rw2 = header[2:4] == b"U\0"
    try:
        ifd = _Ifd(src, order, ifd0, _IFD0_TAGS | ({T_RW2_JPEG} if rw2 else set()))
    except _Corrupt as error:
        reading.warn(file, str(error))
        return
    keywords = ifd.raw(T_XPKEYWORDS)
    if keywords:
        # Windows writes XPKeywords as UTF-16LE whatever the byte order of the file.
        text = keywords.decode("utf-16-le", "replace").split("\0", 1)[0]
        for part in text.split(";"):
            if part.strip():
                reading.keyword(part, "exif", "XPKeywords", file)
    artist = ifd.raw(T_ARTIST)
    if artist:
        reading.creator("exif", decode_iim_text(artist.split(b"\0", 1)[0], None))
    xmp = ifd.raw(T_XMP)
    if xmp:
        reading.xmp(xmp, "xmp", file)
    iptc = ifd.raw(T_IPTC)
    if iptc:
        if iptc[:4] == b"8BIM":
            reading.irb(iptc, file)
        else:
            reading.iptc(iptc, file)
    irb = ifd.raw(T_IRB)
    if irb:
        reading.irb(irb, file)
    if dimensions and not rw2:  # RW2 sizes need the sensor crop tags; not worth it here
        try:
            if src.read(8, 3) == b"CR\x02":  # CR2: IFD0 is a reduced JPEG without saying so
                _exif_pixel_dimensions(src, order, ifd.ints(T_EXIF_IFD)[:1], reading)
            else:
                _tiff_dimensions(src, order, ifd, reading)
        except _Corrupt:
            pass  # the size is optional; the keywords are read
    if ifd.truncated:
        reading.warn(file, "EXIF/TIFF data is truncated: values past the end were not read")
    preview = ifd.location(T_RW2_JPEG) if rw2 else None
    if preview is not None:
        reading.size_known = True  # the preview's size is not the photo's
        _read_jpeg(_View(src, *preview), reading, file)


def _tiff_dimensions(src: _Source, order: str, ifd0: _Ifd, reading: _Reading) -> None:
    """Size of the full-resolution image: IFD0, unless it is a reduced preview (NEF, DNG)."""
    candidates = [ifd0]
    subfile = ifd0.ints(T_SUBFILE)
    if subfile and subfile[0] & 1:
        candidates = []
        for offset in ifd0.ints(T_SUBIFDS)[:8]:
            sub = _Ifd(src, order, offset, {T_SUBFILE, T_WIDTH, T_HEIGHT})
            kind = sub.ints(T_SUBFILE)
            if not kind or not kind[0] & 1:
                candidates.append(sub)
    for ifd in candidates:
        width, height = ifd.ints(T_WIDTH), ifd.ints(T_HEIGHT)
        if width and height:
            reading.dimensions(width[0], height[0])
            return


def _exif_pixel_dimensions(src: _Source, order: str, exif_ifd: list[int], reading: _Reading) -> None:
    """The camera's output size from the EXIF IFD (PixelXDimension, PixelYDimension)."""
    if exif_ifd:
        ifd = _Ifd(src, order, exif_ifd[0], {T_PIXEL_X, T_PIXEL_Y})
        width, height = ifd.ints(T_PIXEL_X), ifd.ints(T_PIXEL_Y)
        if width and height:
            reading.dimensions(width[0], height[0])


# PNG ----------------------------------------------------------------------------------------


def _read_png(src: _Source, reading: _Reading, file: Path) -> None:
    pos = 8
    while pos + 8 <= src.size:
        length, kind = struct.unpack(">I4s", src.read(pos, 8))
        start = pos + 8
        if start + length > src.size:
            reading.warn(file, f"PNG is truncated inside its {kind.decode('latin-1')} chunk")
            return
        if kind == b"IHDR":
            width, height = struct.unpack(">II", src.read(start, 8))
            reading.dimensions(width, height)
        elif kind in (b"iTXt", b"tEXt", b"zTXt"):
            _png_text(kind, src.read(start, length), reading, file)
        elif kind == b"eXIf":
            _read_exif_block(src.read(start, length), reading, file)
        elif kind == b"IEND":
            return
        pos = start + length + 4  # + CRC
    reading.warn(file, "PNG is truncated (no IEND chunk)")


def _png_text(kind: bytes, data: bytes, reading: _Reading, file: Path) -> None:
    keyword, _, rest = data.partition(b"\0")
    if keyword != b"XML:com.adobe.xmp" and not keyword.startswith(b"Raw profile type "):
        return
    try:
        if kind == b"iTXt":
            compressed, rest = rest[0], rest[2:]
            _language, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            if compressed:
                text = zlib.decompress(text)
        elif kind == b"zTXt":
            text = zlib.decompress(rest[1:])
        else:
            text = rest
    except (zlib.error, IndexError) as error:
        reading.warn(file, f"PNG {keyword.decode('latin-1')} chunk is corrupt ({error})")
        return
    if keyword == b"XML:com.adobe.xmp":
        reading.xmp(text, "xmp", file)
        return
    # ImageMagick / exiftool raw profile: "\n<type>\n<length>\n<hex lines>"
    profile = keyword[len(b"Raw profile type ") :].lower()
    lines = text.strip().split(b"\n", 2)
    try:
        data = bytes.fromhex(lines[2].decode("ascii").replace("\n", ""))[: int(lines[1])]
    except (IndexError, ValueError):
        reading.warn(file, f"PNG raw profile {profile.decode('latin-1')} is corrupt")
        return
    if profile in (b"iptc", b"8bim"):
        if data[:4] == b"8BIM":
            reading.irb(data, file)
        else:
            reading.iptc(data, file)
    elif profile == b"xmp":
        reading.xmp(data, "xmp", file)
    elif profile in (b"exif", b"app1"):
        _read_exif_block(data, reading, file)


def _read_exif_block(data: bytes, reading: _Reading, file: Path) -> None:
    """An EXIF block embedded in another format: a corrupt one costs only itself."""
    if data.startswith(b"Exif\0"):
        data = data[6:]
    try:
        _read_tiff(_Bytes(data), reading, file, dimensions=False)
    except Exception as error:  # noqa: BLE001 - the photo's other metadata blocks are still read
        reading.warn(file, f"EXIF block is corrupt; skipped ({type(error).__name__}: {error})")


# WebP ---------------------------------------------------------------------------------------


def _read_webp(src: _Source, reading: _Reading, file: Path) -> None:
    pos, end = 12, min(src.size, 8 + (src.u32(4, "<") or 0))
    while pos + 8 <= end:
        kind, length = struct.unpack("<4sI", src.read(pos, 8))
        start = pos + 8
        if start + length > src.size:
            reading.warn(file, f"WebP is truncated inside its {kind.decode('latin-1')} chunk")
            return
        if kind == b"VP8X":
            data = src.read(start, 10)
            reading.dimensions(1 + int.from_bytes(data[4:7], "little"), 1 + int.from_bytes(data[7:10], "little"))
        elif kind == b"VP8 ":
            data = src.read(start, 10)
            if data[3:6] == b"\x9d\x01\x2a":
                reading.dimensions(*(v & 0x3FFF for v in struct.unpack("<HH", data[6:10])))
        elif kind == b"VP8L":
            data = src.read(start, 5)
            if data[:1] == b"\x2f":
                bits = int.from_bytes(data[1:5], "little")
                reading.dimensions((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        elif kind == b"EXIF":
            _read_exif_block(src.read(start, length), reading, file)
        elif kind == b"XMP ":
            reading.xmp(src.read(start, length), "xmp", file)
        pos = start + length + (length & 1)


# GIF ----------------------------------------------------------------------------------------

_GIF_XMP = b"XMP DataXMP"


def _read_gif(src: _Source, reading: _Reading, file: Path) -> None:
    header = src.read(0, 13)
    if len(header) < 13:
        reading.warn(file, "GIF is truncated")
        return
    reading.dimensions(*struct.unpack("<HH", header[6:10]))
    flags = header[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < src.size:
        block = src.read(pos, 1)
        if block == b"\x3b":  # trailer
            return
        if block == b"\x21":
            label = src.read(pos + 1, 1)
            pos += 2
            if label == b"\xff" and src.read(pos, 12) == b"\x0b" + _GIF_XMP:
                # XMP is stored raw (not in sub-blocks) and closed by a 258-byte "magic trailer"
                data, end = b"", -1
                while end < 0 and len(data) < MAX_BLOCK:
                    more = src.read(pos + 12 + len(data), 64 << 10)
                    if not more:
                        break
                    data += more
                    end = data.find(b"\x01\xff\xfe\xfd", max(0, len(data) - len(more) - 3))
                if end < 0:
                    reading.warn(file, "GIF XMP block has no end marker; not read")
                    return
                reading.xmp(data[:end], "xmp", file)
                pos += 12 + end + 258
                continue
            pos = _skip_sub_blocks(src, pos)
        elif block == b"\x2c":
            descriptor = src.read(pos, 10)
            if len(descriptor) < 10:
                break
            local = descriptor[9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW code size
            pos = _skip_sub_blocks(src, pos)
        else:
            break
    reading.warn(file, "GIF is truncated or corrupt; metadata read up to there")


def _skip_sub_blocks(src: _Source, pos: int) -> int:
    while True:
        size = src.read(pos, 1)
        if not size:
            return src.size
        pos += 1 + size[0]
        if size[0] == 0:
            return pos


# PSD ----------------------------------------------------------------------------------------


def _read_psd(src: _Source, reading: _Reading, file: Path) -> None:
    header = src.read(0, 26)
    if len(header) < 26:
        reading.warn(file, "PSD is truncated")
        return
    height, width = struct.unpack(">II", header[14:22])
    reading.dimensions(width, height)
    color_mode = src.u32(26)
    if color_mode is None:
        return
    resources = 30 + color_mode
    length = src.u32(resources)
    if length:
        reading.irb(src.read(resources + 4, length), file)


# ISO base media (HEIC/HEIF/AVIF, CR3, JPEG XL container) ---------------------------------

_CR3_XMP = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
_CR3_CANON = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")


def _boxes(src: _Source, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in [start, end); uuid boxes are
    reported as b"uuid" + the 16-byte user type."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", src.read(pos, 8))
        header = 8
        if size == 1:
            large = src.read(pos + 8, 8)
            if len(large) < 8:
                raise _Corrupt("box structure is truncated; metadata read up to there")
            size, header = struct.unpack(">Q", large)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise _Corrupt("box structure is truncated or corrupt; metadata read up to there")
        if kind == b"uuid":
            kind += src.read(pos + header, 16)
            header += 16
        yield kind, pos + header, pos + size
        pos += size


def _read_isobmff(src: _Source, reading: _Reading, file: Path) -> None:
    for kind, start, end in _boxes(src, 0, src.size):
        if kind == b"meta":
            _read_heif_meta(src, start + 4, end, reading, file)
        elif kind == b"uuid" + _CR3_XMP:
            reading.xmp(src.read(start, end - start), "xmp", file)
        elif kind == b"moov":
            for inner, inner_start, inner_end in _boxes(src, start, end):
                if inner == b"uuid" + _CR3_CANON:
                    for cmt, cmt_start, cmt_end in _boxes(src, inner_start, inner_end):
                        if cmt == b"CMT1":  # IFD0 of a CR3: Artist, XPKeywords
                            _read_exif_block(src.read(cmt_start, cmt_end - cmt_start), reading, file)
                        elif cmt == b"CMT2":  # the EXIF IFD of a CR3, as a TIFF structure of its own
                            exif = _Bytes(src.read(cmt_start, cmt_end - cmt_start))
                            order = "<" if exif.read(0, 2) == b"II" else ">"
                            try:
                                _exif_pixel_dimensions(exif, order, [exif.u32(4, order) or 0], reading)
                            except _Corrupt:
                                pass  # the size is optional
        elif kind in (b"Exif", b"xml "):  # JPEG XL metadata boxes
            _read_jxl_box(kind, src.read(start, end - start), reading, file)
        elif kind == b"brob" and src.read(start, 4) in (b"Exif", b"xml "):
            # JPEG XL box compressed with Brotli (cjxl does this by default)
            if brotli is None:
                reading.warn(file, "Brotli-compressed JPEG XL metadata not read (install the brotli package)")
                continue
            try:
                data = brotli.decompress(src.read(start + 4, end - start - 4))
            except brotli.error as error:
                reading.warn(file, f"Brotli-compressed JPEG XL metadata is corrupt ({error})")
                continue
            _read_jxl_box(src.read(start, 4), data, reading, file)


def _read_jxl_box(kind: bytes, data: bytes, reading: _Reading, file: Path) -> None:
    if kind == b"Exif":  # a 4-byte offset to the TIFF header comes first
        offset = int.from_bytes(data[:4], "big")
        _read_exif_block(data[4 + offset :], reading, file)
    else:
        reading.xmp(data, "xmp", file)


def _read_heif_meta(src: _Source, start: int, end: int, reading: _Reading, file: Path) -> None:
    """HEIF items: the XMP item (mime application/rdf+xml), the Exif item, and the primary
    item's size from its ispe property."""
    boxes = {kind: (s, e) for kind, s, e in _boxes(src, start, end)}
    items: dict[int, tuple[bytes, bytes]] = {}  # id -> (type, content type)
    if b"iinf" in boxes:
        s, e = boxes[b"iinf"]
        version = src.read(s, 1)
        first = s + 4 + (2 if version == b"\0" else 4)
        for kind, infe_start, infe_end in _boxes(src, first, e):
            if kind != b"infe":
                continue
            data = src.read(infe_start, infe_end - infe_start)
            if data[0] < 2:
                continue
            id_size = 2 if data[0] == 2 else 4
            item_id = int.from_bytes(data[4 : 4 + id_size], "big")
            pos = 4 + id_size + 2
            item_type = data[pos : pos + 4]
            _name, _, rest = data[pos + 4 :].partition(b"\0")
            content_type = rest.partition(b"\0")[0] if item_type == b"mime" else b""
            items[item_id] = (item_type, content_type)
    locations = _heif_locations(src, boxes)
    idat = boxes.get(b"idat")
    for item_id, (item_type, content_type) in items.items():
        if item_type == b"Exif" or (item_type == b"mime" and content_type == b"application/rdf+xml"):
            extents = locations.get(item_id)
            if extents is None:
                reading.warn(file, "HEIF metadata item has no readable location; not read")
                continue
            method, parts = extents
            if method == 1 and idat is not None:
                data = b"".join(src.read(idat[0] + off, length) for off, length in parts)
            elif method == 0:
                data = b"".join(src.read(off, length) for off, length in parts)
            else:
                continue
            if len(data) < sum(length for _, length in parts):
                reading.warn(file, "HEIF is truncated: a metadata item lies past the end of the file")
                continue
            if item_type == b"Exif":
                offset = int.from_bytes(data[:4], "big")
                _read_exif_block(data[4 + offset :], reading, file)
            else:
                reading.xmp(data, "xmp", file)
    _heif_dimensions(src, boxes, reading)


def _heif_locations(src: _Source, boxes: dict[bytes, tuple[int, int]]) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """iloc: item id -> (construction method, [(offset, length), ...])."""
    if b"iloc" not in boxes:
        return {}
    s, e = boxes[b"iloc"]
    data = src.read(s, e - s)
    version = data[0]
    offset_size, length_size = data[4] >> 4, data[4] & 15
    base_size, index_size = data[5] >> 4, (data[5] & 15 if version in (1, 2) else 0)
    pos = 6
    id_size = 2 if version < 2 else 4
    count = int.from_bytes(data[pos : pos + id_size], "big")
    pos += id_size

    def take(size: int) -> int:
        nonlocal pos
        value = int.from_bytes(data[pos : pos + size], "big")
        pos += size
        return value

    result: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        if pos >= len(data):
            break
        item_id = take(id_size)
        method = take(2) & 15 if version in (1, 2) else 0
        take(2)  # data reference index
        base = take(base_size)
        extents = []
        count, entry_size = take(2), index_size + offset_size + length_size
        if entry_size == 0 or pos + count * entry_size > len(data):
            break  # corrupt: extents that take no room, or more than the box holds
        for _ in range(count):
            take(index_size)
            offset = take(offset_size)
            extents.append((base + offset, take(length_size)))
        result[item_id] = (method, extents)
    return result


def _heif_dimensions(src: _Source, boxes: dict[bytes, tuple[int, int]], reading: _Reading) -> None:
    if b"pitm" not in boxes or b"iprp" not in boxes:
        return
    s, _ = boxes[b"pitm"]
    pitm = src.read(s, 8)
    primary = int.from_bytes(pitm[4:6], "big") if pitm[0] == 0 else int.from_bytes(pitm[4:8], "big")
    properties: list[tuple[bytes, int, int]] = []
    associations: dict[int, list[int]] = {}
    for kind, ps, pe in _boxes(src, *boxes[b"iprp"]):
        if kind == b"ipco":
            properties = list(_boxes(src, ps, pe))
        elif kind == b"ipma":
            data = src.read(ps, pe - ps)
            version, flags = data[0], int.from_bytes(data[1:4], "big")
            pos, count = 8, int.from_bytes(data[4:8], "big")
            for _ in range(count):
                if pos >= len(data):
                    break
                id_size = 2 if version < 1 else 4
                item_id = int.from_bytes(data[pos : pos + id_size], "big")
                pos += id_size
                n = data[pos]
                pos += 1
                indices = []
                for _ in range(n):
                    if flags & 1:
                        indices.append(int.from_bytes(data[pos : pos + 2], "big") & 0x7FFF)
                        pos += 2
                    else:
                        indices.append(data[pos] & 0x7F)
                        pos += 1
                associations[item_id] = indices
    # ispe is the coded size; clap crops it and irot turns it, as decoders show the photo
    width = height = 0
    turned = False
    for index in associations.get(primary, []):
        if not 0 < index <= len(properties):
            continue
        kind, start, _ = properties[index - 1]
        if kind == b"ispe":
            data = src.read(start, 12)
            if len(data) == 12:
                width, height = struct.unpack(">II", data[4:12])
        elif kind == b"clap" and width:
            data = src.read(start, 16)
            if len(data) == 16:
                wn, wd, hn, hd = struct.unpack(">iIiI", data)
                if wd and hd and 0 < wn // wd <= width and 0 < hn // hd <= height:
                    width, height = wn // wd, hn // hd
        elif kind == b"irot":
            turned = bool(src.read(start, 1)[:1] and src.read(start, 1)[0] & 1)
    if width and height:
        reading.dimensions(*((height, width) if turned else (width, height)))


# Fujifilm RAF -------------------------------------------------------------------------------


def _read_raf(src: _Source, reading: _Reading, file: Path) -> None:
    """RAF keeps its EXIF and XMP in the embedded JPEG preview."""
    offset, length = src.u32(84), src.u32(88)
    if not offset or not length or offset + length > src.size:
        reading.warn(file, "RAF header points outside the file; embedded metadata not read")
        return
    preview = _View(src, offset, length)
    if preview.read(0, 3) == b"\xff\xd8\xff":
        reading.size_known = True  # the preview's size is not the photo's
        _read_jpeg(preview, reading, file)
