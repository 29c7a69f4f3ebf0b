"""PNG: XMP in iTXt, EXIF in eXIf, and the raw profiles (IPTC, XMP, EXIF) of ImageMagick and exiftool."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from phototag.library.byte_sources import Source, chunks
from phototag.library.collector import MetadataCollector
from phototag.library.containers.exif import read_exif_block, read_irb


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    for kind, start, length in chunks(src, 8, src.size, "PNG", _chunk_header, lambda length: 4):  # + CRC
        if kind == b"IHDR":
            width, height = struct.unpack(">II", src.read(start, 8))
            reading.dimensions(width, height)
        elif kind in (b"iTXt", b"tEXt", b"zTXt"):
            _png_text(kind, src.read(start, length), reading, file)
        elif kind == b"eXIf":
            read_exif_block(src.read(start, length), reading, file)
        elif kind == b"IEND":
            return
    reading.warn(file, "PNG is truncated (no IEND chunk)")


def _chunk_header(header: bytes) -> tuple[bytes, int]:
    length, kind = struct.unpack(">I4s", header)
    return kind, length


def _png_text(kind: bytes, data: bytes, reading: MetadataCollector, file: Path) -> None:
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
            read_irb(data, reading, file)
        else:
            reading.iptc(data, file)
    elif profile == b"xmp":
        reading.xmp(data, "xmp", file)
    elif profile in (b"exif", b"app1"):
        read_exif_block(data, reading, file)
