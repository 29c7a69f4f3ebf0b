"""TIFF and TIFF-based RAW files (CR2, NEF, DNG, ARW, ORF, PEF, SRW, RW2 and its embedded JPEG)."""

from __future__ import annotations

from pathlib import Path

from phototag.library.byte_sources import Corrupt, Source, SourceView
from phototag.library.collector import MetadataCollector
from phototag.library.containers import jpeg
from phototag.library.containers.exif import (
    T_EXIF_IFD,
    T_HEIGHT,
    T_SUBFILE,
    T_SUBIFDS,
    T_WIDTH,
    TRUNCATED,
    Ifd,
    exif_pixel_dimensions,
    read_ifd0,
)

T_RW2_JPEG = 0x2E  # Panasonic RW2: the embedded JPEG holds the EXIF IFD0 (Artist, XPKeywords)


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    rw2 = src.read(2, 2) == b"U\0"
    found = read_ifd0(src, reading, file, frozenset({T_RW2_JPEG}) if rw2 else frozenset())
    if found is None:
        return
    order, ifd = found
    if not rw2:  # RW2 sizes need the sensor crop tags; not worth it here
        try:
            if src.read(8, 3) == b"CR\x02":  # CR2: IFD0 is a reduced JPEG without saying so
                exif_pixel_dimensions(src, order, ifd.ints(T_EXIF_IFD)[:1], reading)
            else:
                _tiff_dimensions(src, order, ifd, reading)
        except Corrupt:
            pass  # the size is optional; the keywords are read
    if ifd.truncated:
        reading.warn(file, TRUNCATED)
    preview = ifd.location(T_RW2_JPEG) if rw2 else None
    if preview is not None:
        reading.size_known = True  # the preview's size is not the photo's
        jpeg.read(SourceView(src, *preview), reading, file)


def read_bigtiff(src: Source, reading: MetadataCollector, file: Path) -> None:
    """BigTIFF (64-bit offsets): recognised as a photo, its embedded metadata is not read."""
    reading.warn(file, "BigTIFF: embedded metadata not read")


def _tiff_dimensions(src: Source, order: str, ifd0: Ifd, reading: MetadataCollector) -> None:
    """Size of the full-resolution image: IFD0, unless it is a reduced preview (NEF, DNG)."""
    candidates = [ifd0]
    subfile = ifd0.ints(T_SUBFILE)
    if subfile and subfile[0] & 1:
        candidates = []
        for offset in ifd0.ints(T_SUBIFDS)[:8]:
            sub = Ifd(src, order, offset, {T_SUBFILE, T_WIDTH, T_HEIGHT})
            kind = sub.ints(T_SUBFILE)
            if not kind or not kind[0] & 1:
                candidates.append(sub)
    for ifd in candidates:
        width, height = ifd.ints(T_WIDTH), ifd.ints(T_HEIGHT)
        if width and height:
            reading.dimensions(width[0], height[0])
            return
