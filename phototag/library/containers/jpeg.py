"""JPEG: APP1 EXIF, XMP and ExtendedXMP, APP13 Photoshop IPTC, the size from SOF, and an AFCP trailer."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Optional

from phototag.library.byte_sources import Source
from phototag.library.collector import MetadataCollector
from phototag.library.containers.exif import read_exif_block, read_irb

_XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_SIG_OLD = b"XMP\0://ns.adobe.com/xap/1.0/\0"  # early Photoshop; same length
_XMP_EXT_SIG = b"http://ns.adobe.com/xmp/extension/\0"
_IRB_SIGS = (b"Photoshop 3.0\0", b"Adobe_Photoshop2.5:")
# What one file's ExtendedXMP may hold, all GUIDs together: far above the largest real ones (phone depth
# maps, a few MB) and small enough that a crafted file cannot make a scan allocate much.
MAX_EXTENDED_XMP = 16 << 20
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_data_offset(src: Source) -> Optional[int]:
    """Where the header segments end (the start-of-scan marker), or None when the file ends
    or breaks before it. A JPEG cut off after this point still has all its metadata."""
    pos = 2
    while pos + 4 <= src.size:
        head = src.read(pos, 4)
        if head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:
            pos += 1
        elif marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
        elif marker == 0xDA:
            return pos
        elif marker == 0xD9:
            return None
        else:
            pos += 2 + ((head[2] << 8) | head[3])
    return None


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    pos = 2
    irb = bytearray()
    extended = _ExtendedXmp()
    main_guids: dict[str, None] = {}  # the GUIDs the main packets name, each once, in order
    packets: set[bytes] = set()  # main XMP packets already read: a repeated one adds nothing
    have_exif = False
    ended = False
    while pos + 4 <= src.size:
        head = src.read(pos, 4)
        if head[0] != 0xFF:
            reading.warn(file, f"JPEG structure broken at byte {pos}; metadata read up to there")
            ended = True
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no metadata segments after it
            ended = True
            break
        length = (head[2] << 8) | head[3]
        start, size = pos + 4, length - 2
        if size < 0 or start + size > src.size:
            reading.warn(file, "JPEG is truncated inside its metadata segments")
            ended = True
            break
        if marker == 0xE1:
            signature = src.read(start, len(_XMP_EXT_SIG))
            if signature.startswith(b"Exif\0") and not have_exif:
                have_exif = True
                read_exif_block(src.read(start + 6, size - 6), reading, file)
            elif signature.startswith((_XMP_SIG, _XMP_SIG_OLD)):
                packet = src.read(start + len(_XMP_SIG), size - len(_XMP_SIG))
                values = None if packet in packets else reading.xmp(packet, "xmp", file)
                packets.add(packet)
                if values is not None and values.extended_guid:
                    main_guids.setdefault(values.extended_guid)
            elif signature == _XMP_EXT_SIG:
                extended.add(src.read(start + len(_XMP_EXT_SIG), size - len(_XMP_EXT_SIG)), reading, file)
        elif marker == 0xED:
            data = src.read(start, size)
            for sig in _IRB_SIGS:
                if data.startswith(sig):
                    irb += data[len(sig) :]
                    break
        elif marker in _SOF:
            sof = src.read(start, 5)
            if len(sof) == 5:
                height, width = struct.unpack(">HH", sof[1:5])
                reading.dimensions(width, height)
        pos = start + size
    if not ended:
        reading.warn(file, "JPEG is truncated before its image data")
    if irb:
        read_irb(bytes(irb), reading, file)
    for guid in main_guids:
        extended.read(guid.encode("ascii", "replace"), reading, file)
    _read_afcp(src, reading, file)


class _ExtendedXmp:
    """Adobe ExtendedXMP: the main packet names a GUID, the rest comes in APP1 chunks, each with the GUID,
    the full length and its offset. Only chunks that arrived are kept (never the length a chunk claims),
    at most MAX_EXTENDED_XMP bytes per file."""

    def __init__(self) -> None:
        self.chunks: dict[bytes, dict[int, bytes]] = {}  # guid -> offset -> chunk
        self.full: dict[bytes, int] = {}  # guid -> the full length its first chunk gave
        self.kept = 0

    def add(self, data: bytes, reading: MetadataCollector, file: Path) -> None:
        if len(data) < 40:
            return
        guid, (full, offset), chunk = data[:32], struct.unpack(">II", data[32:40]), data[40:]
        if self.kept + len(chunk) > MAX_EXTENDED_XMP:
            reading.warn(file, f"ExtendedXMP holds more than {MAX_EXTENDED_XMP >> 20} MiB; the rest is not read")
            return
        if self.full.setdefault(guid, full) == full and offset not in self.chunks.setdefault(guid, {}):
            self.chunks[guid][offset] = chunk
            self.kept += len(chunk)

    def read(self, guid: bytes, reading: MetadataCollector, file: Path) -> None:
        """Assemble the chunks of `guid` in offset order and read them, if they cover its full length exactly."""
        chunks = self.chunks.get(guid)
        if chunks is None:
            reading.warn(file, "ExtendedXMP announced but not found")
            return
        data, end = [], 0
        for offset in sorted(chunks):
            if offset != end:
                break
            data.append(chunks[offset])
            end += len(chunks[offset])
        if end != self.full[guid] or not end:
            reading.warn(file, "ExtendedXMP is incomplete; not read")
            return
        reading.xmp(b"".join(data), "xmp", file)


def _read_afcp(src: Source, reading: MetadataCollector, file: Path) -> None:
    """AXS File Concatenation Protocol trailer (IPTC appended after the JPEG's end)."""
    footer = src.read(src.size - 12, 12)
    if len(footer) != 12 or footer[:4] not in (b"AXS!", b"AXS*"):
        return
    order = ">" if footer[3:4] == b"!" else "<"
    start = struct.unpack(order + "I", footer[4:8])[0]
    header = src.read(start, 8)
    if header[:4] != footer[:4]:
        reading.warn(file, "AFCP trailer has wrong offsets; not read")
        return
    count = struct.unpack(order + "H", header[6:8])[0]
    directory = src.read(start + 12, 12 * count)
    for index in range(len(directory) // 12):
        tag = directory[12 * index : 12 * index + 4]
        size, offset = struct.unpack(order + "II", directory[12 * index + 4 : 12 * index + 12])
        if tag == b"IPTC":
            reading.iptc(src.read(offset, size), file)
