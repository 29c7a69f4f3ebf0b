"""WebP (a RIFF file): EXIF and XMP chunks, the size from VP8X, VP8 or VP8L."""

from __future__ import annotations

import struct
from pathlib import Path

from phototag.library.byte_sources import Source, chunks
from phototag.library.collector import MetadataCollector
from phototag.library.containers.exif import read_exif_block


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    end = min(src.size, 8 + (src.u32(4, "<") or 0))
    for kind, start, length in chunks(src, 12, end, "WebP", _chunk_header, lambda length: length & 1):  # + padding
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
            read_exif_block(src.read(start, length), reading, file)
        elif kind == b"XMP ":
            reading.xmp(src.read(start, length), "xmp", file)


def _chunk_header(header: bytes) -> tuple[bytes, int]:
    kind, length = struct.unpack("<4sI", header)
    return kind, length
