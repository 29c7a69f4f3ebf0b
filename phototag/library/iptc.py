"""IPTC-IIM records (Keywords 2:25, By-line 2:80, DateCreated 2:55, TimeCreated 2:60) and the Photoshop image
resource blocks that carry them.

Text encoding: IIM says nothing about it unless record 1:90 (CodedCharacterSet) holds
ESC % G, which declares UTF-8. Without the marker, bytes that decode as UTF-8 are read
as UTF-8 (many writers omit the marker); anything else is read as Windows-1252, the
Latin-1 superset that Photoshop and Photo Mechanic write, with plain Latin-1 for the
few bytes Windows-1252 leaves undefined. Any other declared character set (ISO 2022
escapes for Latin alphabets) is read as Windows-1252 too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

UTF8_MARKER = b"\x1b%G"
IRB_IPTC = 0x0404
IRB_EXIF = 0x0422
IRB_XMP = 0x0424
_IRB_SIGNATURES = (b"8BIM", b"PHUT", b"DCSR", b"AgHg", b"MeSa")
_IRB_SIGNATURE = re.compile(b"|".join(_IRB_SIGNATURES))


@dataclass
class IptcValues:
    keywords: list[str] = field(default_factory=list)
    bylines: list[str] = field(default_factory=list)
    date_created: str = ""  # 'CCYYMMDD' as written
    time_created: str = ""  # 'HHMMSS+HHMM' as written
    warnings: list[str] = field(default_factory=list)


def parse_iim(data: bytes) -> IptcValues:
    """Read the datasets of one IIM block (a sequence of 0x1C-tagged records)."""
    raw_keywords: list[bytes] = []
    raw_bylines: list[bytes] = []
    charset = None  # None: undeclared, "utf-8" or "latin" (any other declared set)
    values = IptcValues()
    pos, end = 0, len(data)
    while pos + 5 <= end:
        if data[pos] != 0x1C:
            if data[pos:].strip(b"\0"):
                values.warnings.append(f"IPTC block has unreadable bytes at offset {pos}; read up to there")
            break
        record, dataset = data[pos + 1], data[pos + 2]
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        pos += 5
        if length & 0x8000:  # extended dataset: the low bits give the size of the length field
            size = length & 0x7FFF
            if size > 4 or pos + size > end:
                values.warnings.append("IPTC block has a bad extended dataset length; read up to there")
                break
            length = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        if pos + length > end:
            values.warnings.append("IPTC block is truncated; read up to there")
            break
        value = data[pos : pos + length]
        pos += length
        if record == 1 and dataset == 90:
            charset = "utf-8" if UTF8_MARKER in value else ("latin" if value.strip(b"\0") else None)
        elif record == 2 and dataset == 25:
            raw_keywords.append(value)
        elif record == 2 and dataset == 80:
            raw_bylines.append(value)
        elif record == 2 and dataset == 55 and not values.date_created:
            values.date_created = value.decode("ascii", "replace").strip("\0 ")
        elif record == 2 and dataset == 60 and not values.time_created:
            values.time_created = value.decode("ascii", "replace").strip("\0 ")
    for raw, target in [(r, values.keywords) for r in raw_keywords] + [(r, values.bylines) for r in raw_bylines]:
        text = decode_iim_text(raw, charset)
        if text:
            target.append(text)
    return values


def decode_iim_text(raw: bytes, charset: str | None) -> str:
    """Decode one IIM string; `charset` is what 1:90 declared ("utf-8", "latin" or None)."""
    raw = raw.rstrip(b"\0")
    if charset != "latin":
        try:
            return raw.decode("utf-8")  # ASCII, declared UTF-8, or undeclared but valid UTF-8
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def irb_blocks(data: bytes, warn: Callable[[str], None]) -> Iterator[tuple[int, bytes]]:
    """(resource id, payload) of each Photoshop image resource block, in order. A block whose size runs past
    the end (exiftool: "Bad Photoshop resource data size") is taken up to the next block header found, or
    to the end, so an IPTC block after or inside it is still read; `warn` gets one line for it."""
    pos, end = 0, len(data)
    while pos + 12 <= end and data[pos : pos + 4] in _IRB_SIGNATURES:
        resource = int.from_bytes(data[pos + 4 : pos + 6], "big")
        name_len = data[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)  # Pascal name, padded to an even size (with its length byte)
        if pos + 4 > end:
            warn("Photoshop resource block is cut off in its header; read up to there")
            return
        size = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if pos + size > end:
            following = _next_block(data, pos)
            warn(
                f"Photoshop resource 0x{resource:04X} has a bad size ({size:,} bytes, {end - pos:,} left);"
                " read what is there"
            )
            yield resource, data[pos:following]
            pos = following
            continue
        yield resource, data[pos : pos + size]
        pos += size + (size & 1)
    if end - pos > 8 and data[pos:end].strip(b"\0"):  # exiftool: "Bad Photoshop IRB resource"
        warn(f"Photoshop resources hold unreadable bytes at offset {pos}; read up to there")


def _next_block(data: bytes, pos: int) -> int:
    """Where the first plausible resource block header after `pos` starts (a signature, then a name and a
    size that fit in `data`), or the end of `data`."""
    for match in _IRB_SIGNATURE.finditer(data, pos):
        at = match.start()
        if at + 12 > len(data):
            break
        size_at = at + 6 + ((data[at + 6] + 2) & ~1)
        payload_at = size_at + 4
        if payload_at <= len(data) and payload_at + int.from_bytes(data[size_at:payload_at], "big") <= len(data):
            return at
    return len(data)
