"""EXIF and TIFF structures, wherever they are embedded: IFD0's keywords, creator and blocks,
the capture date of the EXIF IFD and the position of the GPS IFD.

A TIFF structure is the body of TIFF and TIFF-based RAW files, and of the EXIF block
of JPEG, PNG, WebP, HEIF, CR3 and JPEG XL. EXIF IFD0 is parsed here rather than with
exifread: the same IFD walker is needed for TIFF/RAW anyway, and it takes ~25 us where
exifread.process_file(details=False) takes ~150 us. Photoshop image resources (IRB)
live here too, since one of them is an EXIF block.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Optional

from phototag.library.byte_sources import MAX_BLOCK, BytesSource, Corrupt, Source
from phototag.library.capture import exif_coordinate
from phototag.library.collector import MetadataCollector
from phototag.library.iptc import IRB_EXIF, IRB_IPTC, IRB_XMP, decode_iim_text, irb_blocks

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
T_SUBFILE, T_WIDTH, T_HEIGHT, T_ARTIST = 254, 256, 257, 315
T_XMP, T_IPTC, T_IRB, T_SUBIFDS, T_XPKEYWORDS = 700, 33723, 34377, 330, 0x9C9E
T_EXIF_IFD, T_PIXEL_X, T_PIXEL_Y, T_GPS_IFD = 34665, 0xA002, 0xA003, 34853
T_DATE_ORIGINAL, T_DATE_DIGITIZED, T_OFFSET_ORIGINAL, T_OFFSET_DIGITIZED = 0x9003, 0x9004, 0x9011, 0x9012
DATE_TAGS = frozenset({T_DATE_ORIGINAL, T_DATE_DIGITIZED, T_OFFSET_ORIGINAL, T_OFFSET_DIGITIZED})
T_LATITUDE_REF, T_LATITUDE, T_LONGITUDE_REF, T_LONGITUDE = 1, 2, 3, 4
GPS_TAGS = frozenset({T_LATITUDE_REF, T_LATITUDE, T_LONGITUDE_REF, T_LONGITUDE})
IFD0_TAGS = frozenset(
    {T_SUBFILE, T_WIDTH, T_HEIGHT, T_ARTIST, T_XMP, T_IPTC, T_IRB, T_SUBIFDS, T_XPKEYWORDS, T_EXIF_IFD, T_GPS_IFD}
    | {T_DATE_ORIGINAL}  # some RAW files (NEF) repeat it in IFD0
)
TRUNCATED = "EXIF/TIFF data is truncated: values past the end were not read"


class Ifd:
    """The entries of one image file directory, values read on demand."""

    def __init__(self, src: Source, order: str, offset: int, wanted: set[int] | frozenset[int]):
        self.src, self.order = src, order
        self.entries: dict[int, tuple[int, int, bytes]] = {}
        self.truncated = False  # a value lies (partly) past the end of the data
        count = src.u16(offset, order)
        if count is None:
            raise Corrupt(f"EXIF/TIFF directory offset {offset} lies outside the data; EXIF not read")
        table = src.read(offset + 2, 12 * count)
        for tag, kind, n, value in struct.iter_unpack(order + "HHI4s", table[: len(table) // 12 * 12]):
            if tag in wanted:
                self.entries[tag] = (kind, n, value)

    def _value(self, tag: int) -> Optional[tuple[bytes, Optional[int], int]]:
        """(the entry's value field, offset of a value stored outside it or None, the value's size)."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        kind, n, field_bytes = entry
        size = _TYPE_SIZES.get(kind, 1) * n
        return field_bytes, (struct.unpack(self.order + "I", field_bytes)[0] if size > 4 else None), size

    def location(self, tag: int) -> Optional[tuple[int, int]]:
        """(offset, size) of a value stored outside the entry."""
        value = self._value(tag)
        return (value[1], value[2]) if value is not None and value[1] is not None else None

    def raw(self, tag: int) -> Optional[bytes]:
        value = self._value(tag)
        if value is None:
            return None
        field_bytes, offset, size = value
        if offset is None:
            return field_bytes[:size]
        if size > MAX_BLOCK:
            return None
        data = self.src.read(offset, size)
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

    def head(self, tag: int, limit: int) -> Optional[bytes]:
        """The first `limit` bytes at most of a value: a hostile count costs nothing."""
        value = self._value(tag)
        if value is None:
            return None
        field_bytes, offset, size = value
        return field_bytes[:size] if offset is None else self.src.read(offset, min(size, limit))

    def text(self, tag: int) -> Optional[str]:
        """A short ASCII value (a date, a reference), up to its first NUL."""
        data = self.head(tag, 64)
        return data.split(b"\0", 1)[0].decode("latin-1") if data else None

    def rationals(self, tag: int) -> list[tuple[int, int]]:
        """The first three unsigned rationals of a value (degrees, minutes, seconds)."""
        entry = self.entries.get(tag)
        if entry is None or entry[0] != 5:
            return []
        data = self.head(tag, 24) or b""
        values = struct.unpack_from(f"{self.order}{len(data) // 4}I", data)
        return list(zip(values[::2], values[1::2]))


def read_ifd0(
    src: Source, reading: MetadataCollector, file: Path, extra_tags: frozenset[int] = frozenset()
) -> Optional[tuple[str, Ifd]]:
    """Keywords, creator, XMP, IPTC and Photoshop resources of IFD0 of a TIFF structure.

    Returns (byte order, IFD0) for the caller's own tags (sizes, previews), None when
    there is no readable IFD0 (the warning is given).
    """
    header = src.read(0, 8)
    if len(header) < 8 or header[:2] not in (b"II", b"MM"):
        reading.warn(file, "EXIF/TIFF header is not valid; not read")
        return None
    order = "<" if header[:2] == b"II" else ">"
    try:
        ifd = Ifd(src, order, struct.unpack(order + "I", header[4:8])[0], IFD0_TAGS | extra_tags)
    except Corrupt as error:
        reading.warn(file, str(error))
        return None
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
    _read_blocks(ifd, reading, file)
    read_capture(src, order, ifd, reading, file)
    return order, ifd


def read_capture(src: Source, order: str, ifd0: Ifd, reading: MetadataCollector, file: Path) -> None:
    """The capture date (EXIF IFD, else IFD0) and the position (GPS IFD). Both are optional:
    a sub-IFD that cannot be followed costs only itself, silently."""
    for offset in ifd0.ints(T_EXIF_IFD)[:1]:
        try:
            read_exif_dates(Ifd(src, order, offset, DATE_TAGS), reading, file)
        except Corrupt:
            pass
    if T_DATE_ORIGINAL in ifd0.entries:
        reading.capture_date(ifd0.text(T_DATE_ORIGINAL), None, "DateTimeOriginal", "exif", file)
    for offset in ifd0.ints(T_GPS_IFD)[:1]:
        try:
            read_gps(Ifd(src, order, offset, GPS_TAGS), reading)
        except Corrupt:
            pass


def read_exif_dates(exif_ifd: Ifd, reading: MetadataCollector, file: Path) -> None:
    """DateTimeOriginal and CreateDate (DateTimeDigitized) of an EXIF IFD, with their offsets."""
    for date, offset, name in (
        (T_DATE_ORIGINAL, T_OFFSET_ORIGINAL, "DateTimeOriginal"),
        (T_DATE_DIGITIZED, T_OFFSET_DIGITIZED, "CreateDate"),
    ):
        if date in exif_ifd.entries:
            reading.capture_date(exif_ifd.text(date), exif_ifd.text(offset), name, "exif", file)


def read_gps(gps_ifd: Ifd, reading: MetadataCollector) -> None:
    latitude = exif_coordinate(gps_ifd.rationals(T_LATITUDE), gps_ifd.text(T_LATITUDE_REF), 90)
    longitude = exif_coordinate(gps_ifd.rationals(T_LONGITUDE), gps_ifd.text(T_LONGITUDE_REF), 180)
    reading.gps(latitude, longitude, "exif")


def _read_blocks(ifd: Ifd, reading: MetadataCollector, file: Path) -> None:
    """The XMP, IPTC and Photoshop blocks IFD0 may hold."""
    xmp = ifd.raw(T_XMP)
    if xmp:
        reading.xmp(xmp, "xmp", file)
    iptc = ifd.raw(T_IPTC)
    if iptc:
        if iptc[:4] == b"8BIM":
            read_irb(iptc, reading, file)
        else:
            reading.iptc(iptc, file)
    irb = ifd.raw(T_IRB)
    if irb:
        read_irb(irb, reading, file)


def read_exif_block(data: bytes, reading: MetadataCollector, file: Path) -> None:
    """An EXIF block embedded in another format: a corrupt one costs only itself."""
    if data.startswith(b"Exif\0"):
        data = data[6:]
    try:
        found = read_ifd0(BytesSource(data), reading, file)
        if found is not None and found[1].truncated:
            reading.warn(file, TRUNCATED)
    except Exception as error:  # noqa: BLE001 - the photo's other metadata blocks are still read
        reading.warn(file, f"EXIF block is corrupt; skipped ({type(error).__name__}: {error})")


def read_irb(data: bytes, reading: MetadataCollector, file: Path) -> None:
    """Photoshop image resources: IPTC, XMP and EXIF may all be in there."""
    for resource, payload in irb_blocks(data, lambda message: reading.warn(file, message)):
        if resource == IRB_IPTC:
            reading.iptc(payload, file)
        elif resource == IRB_XMP:
            reading.xmp(payload, "xmp", file)
        elif resource == IRB_EXIF:
            read_exif_block(payload, reading, file)


def exif_pixel_dimensions(src: Source, order: str, exif_ifd: list[int], reading: MetadataCollector) -> None:
    """The camera's output size from the EXIF IFD (PixelXDimension, PixelYDimension)."""
    if exif_ifd:
        ifd = Ifd(src, order, exif_ifd[0], {T_PIXEL_X, T_PIXEL_Y})
        width, height = ifd.ints(T_PIXEL_X), ifd.ints(T_PIXEL_Y)
        if width and height:
            reading.dimensions(width[0], height[0])
