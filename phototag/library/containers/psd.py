"""Photoshop PSD: the image resources section (IPTC, XMP, EXIF) and the size from the header."""

from __future__ import annotations

import struct
from pathlib import Path

from phototag.library.byte_sources import Source
from phototag.library.collector import MetadataCollector
from phototag.library.containers.exif import read_irb


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
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
        read_irb(src.read(resources + 4, length), reading, file)
