"""GIF: the XMP application extension (stored raw, closed by a "magic trailer"), the size from the screen descriptor."""

from __future__ import annotations

import struct
from pathlib import Path

from phototag.library.byte_sources import MAX_BLOCK, Source
from phototag.library.collector import MetadataCollector

_GIF_XMP = b"XMP DataXMP"


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
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


def _skip_sub_blocks(src: Source, pos: int) -> int:
    while True:
        size = src.read(pos, 1)
        if not size:
            return src.size
        pos += 1 + size[0]
        if size[0] == 0:
            return pos
