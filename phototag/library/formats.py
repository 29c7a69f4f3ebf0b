"""What kind of file is this, judged by its first bytes (never by its name alone)."""

from __future__ import annotations

from typing import Optional

# (offset, magic, format); checked in order.
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"FUJIFILMCCD-RAW", "RAF"),
    (0, b"IIU\x00", "RW2"),
    (0, b"IIRO", "ORF"),
    (0, b"IIRS", "ORF"),
    (0, b"MMOR", "ORF"),
    (0, b"II*\x00", "TIFF"),  # TIFF and the TIFF-based RAWs: CR2, NEF, ARW, DNG, PEF, SRW...
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),  # BigTIFF
    (0, b"MM\x00+", "TIFF"),
    (0, b"8BPS", "PSD"),
    (0, b"\xff\x0a", "JXL"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JXL"),
    (0, b"FOVb", "X3F"),
]
_ISO_BMFF_BRANDS = {
    b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
    b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF", b"crx ": "CR3",
}


def sniff_format(head: bytes) -> Optional[str]:
    """Image format from the first bytes of a file, or None when it is not an image we know."""
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return _ISO_BMFF_BRANDS.get(head[8:12], "HEIF" if head[8:12].startswith(b"hei") else None)
    return None
