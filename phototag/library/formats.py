"""What kind of file is this, judged by its first bytes (never by its name alone), and who reads it.

One table: file signature -> format name -> the container module that reads its
embedded metadata (`phototag.library.containers`), the way Pillow keeps one plugin
per format. The scan uses the format to decide what is a photo; metadata reading
uses the reader. A new format is one module and one row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from phototag.library.byte_sources import Source
from phototag.library.collector import MetadataCollector
from phototag.library.containers import gif, isobmff, jpeg, jxl, png, psd, raf, tiff, webp

Reader = Callable[[Source, MetadataCollector, Path], None]
HEAD_BYTES = 16  # enough of a file's start to match every signature


def read_nothing(src: Source, reading: MetadataCollector, file: Path) -> None:
    """A photo format whose embedded metadata phototag does not read (its sidecars are read)."""


@dataclass(frozen=True)
class Signature:
    magic: tuple[tuple[int, bytes], ...]  # (offset, bytes): all must match
    format: str
    read: Reader

    def matches(self, head: bytes) -> bool:
        return all(head[offset : offset + len(part)] == part for offset, part in self.magic)


def _at_start(magic: bytes, name: str, read: Reader) -> Signature:
    return Signature(((0, magic),), name, read)


def _iso_bmff(brand: bytes, name: str) -> Signature:
    """An ISO-BMFF file whose ftyp box names `brand` (a prefix of the major brand)."""
    return Signature(((4, b"ftyp"), (8, brand)), name, isobmff.read)


# Checked in order.
SIGNATURES: tuple[Signature, ...] = (
    _at_start(b"\xff\xd8\xff", "JPEG", jpeg.read),
    _at_start(b"\x89PNG\r\n\x1a\n", "PNG", png.read),
    _at_start(b"GIF87a", "GIF", gif.read),
    _at_start(b"GIF89a", "GIF", gif.read),
    _at_start(b"FUJIFILMCCD-RAW ", "RAF", raf.read),
    _at_start(b"IIU\x00", "RW2", tiff.read),
    _at_start(b"IIRO", "ORF", tiff.read),
    _at_start(b"IIRS", "ORF", tiff.read),
    _at_start(b"MMOR", "ORF", tiff.read),
    _at_start(b"II*\x00", "TIFF", tiff.read),  # TIFF and the TIFF-based RAWs: CR2, NEF, ARW, DNG, PEF, SRW...
    _at_start(b"MM\x00*", "TIFF", tiff.read),
    _at_start(b"II+\x00", "TIFF", tiff.read_bigtiff),
    _at_start(b"MM\x00+", "TIFF", tiff.read_bigtiff),
    _at_start(b"8BPS", "PSD", psd.read),
    _at_start(b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JXL", jxl.read),
    _at_start(b"\xff\x0a", "JXL", read_nothing),  # a bare JPEG XL codestream has no metadata boxes
    _at_start(b"II\x1a\x00\x00\x00HEAPCCDR", "CRW", read_nothing),  # Canon CRW
    _at_start(b"FOVb", "X3F", read_nothing),  # Sigma X3F
    Signature(((0, b"RIFF"), (8, b"WEBP")), "WEBP", webp.read),
    _iso_bmff(b"heic", "HEIC"),
    _iso_bmff(b"heix", "HEIC"),
    _iso_bmff(b"hevc", "HEIC"),
    _iso_bmff(b"heim", "HEIC"),
    _iso_bmff(b"heis", "HEIC"),
    _iso_bmff(b"mif1", "HEIF"),
    _iso_bmff(b"msf1", "HEIF"),
    _iso_bmff(b"avif", "AVIF"),
    _iso_bmff(b"avis", "AVIF"),
    _iso_bmff(b"crx ", "CR3"),
    _iso_bmff(b"hei", "HEIF"),  # other HEIF brands
)


def identify(head: bytes) -> Optional[Signature]:
    """The signature the first bytes of a file match, or None when it is not an image we know."""
    for signature in SIGNATURES:
        if signature.matches(head):
            return signature
    return None


def sniff_format(head: bytes) -> Optional[str]:
    """Image format from the first bytes of a file, or None when it is not an image we know."""
    signature = identify(head)
    return signature.format if signature is not None else None
