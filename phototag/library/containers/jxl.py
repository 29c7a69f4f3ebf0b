"""JPEG XL container: its Exif and xml boxes, plain or Brotli-compressed ("brob", which cjxl writes by default)."""

from __future__ import annotations

from pathlib import Path

try:  # optional: only JPEG XL files with compressed metadata boxes need it
    import brotli
except ImportError:  # pragma: no cover - depends on the installation
    brotli = None

from phototag.library.byte_sources import Source
from phototag.library.collector import MetadataCollector
from phototag.library.containers.exif import read_exif_block
from phototag.library.containers.isobmff import iter_boxes


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    for kind, start, end in iter_boxes(src, 0, src.size):
        if kind in (b"Exif", b"xml "):
            _read_box(kind, src.read(start, end - start), reading, file)
        elif kind == b"brob" and src.read(start, 4) in (b"Exif", b"xml "):
            if brotli is None:
                reading.warn(file, "Brotli-compressed JPEG XL metadata not read (install the brotli package)")
                continue
            try:
                data = brotli.decompress(src.read(start + 4, end - start - 4))
            except brotli.error as error:
                reading.warn(file, f"Brotli-compressed JPEG XL metadata is corrupt ({error})")
                continue
            _read_box(src.read(start, 4), data, reading, file)


def _read_box(kind: bytes, data: bytes, reading: MetadataCollector, file: Path) -> None:
    if kind == b"Exif":  # a 4-byte offset to the TIFF header comes first
        offset = int.from_bytes(data[:4], "big")
        read_exif_block(data[4 + offset :], reading, file)
    else:
        reading.xmp(data, "xmp", file)
