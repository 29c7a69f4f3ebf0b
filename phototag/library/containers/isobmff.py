"""ISO base media files: HEIC/HEIF/AVIF (the XMP and Exif items, the primary item's size) and Canon CR3 (its uuid
boxes)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

from phototag.library.byte_sources import BytesSource, Corrupt, Source
from phototag.library.collector import MetadataCollector
from phototag.library.containers.exif import (
    DATE_TAGS,
    GPS_TAGS,
    Ifd,
    exif_pixel_dimensions,
    read_exif_block,
    read_exif_dates,
    read_gps,
)

_CR3_XMP = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
_CR3_CANON = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")


def iter_boxes(src: Source, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in [start, end); uuid boxes are
    reported as b"uuid" + the 16-byte user type."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", src.read(pos, 8))
        header = 8
        if size == 1:
            large = src.read(pos + 8, 8)
            if len(large) < 8:
                raise Corrupt("box structure is truncated; metadata read up to there")
            size, header = struct.unpack(">Q", large)[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Corrupt("box structure is truncated or corrupt; metadata read up to there")
        if kind == b"uuid":
            kind += src.read(pos + header, 16)
            header += 16
        yield kind, pos + header, pos + size
        pos += size


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    for kind, start, end in iter_boxes(src, 0, src.size):
        if kind == b"meta":
            _read_heif_meta(src, start + 4, end, reading, file)
        elif kind == b"uuid" + _CR3_XMP:
            reading.xmp(src.read(start, end - start), "xmp", file)
        elif kind == b"moov":
            for inner, inner_start, inner_end in iter_boxes(src, start, end):
                if inner == b"uuid" + _CR3_CANON:
                    _read_cr3_canon(src, inner_start, inner_end, reading, file)


def _read_cr3_canon(src: Source, start: int, end: int, reading: MetadataCollector, file: Path) -> None:
    """Canon's uuid box in a CR3's moov: CMT1 is IFD0 (Artist, XPKeywords), CMT2 the EXIF IFD
    (size, capture date), CMT4 the GPS IFD."""
    for cmt, cmt_start, cmt_end in iter_boxes(src, start, end):
        if cmt == b"CMT1":
            read_exif_block(src.read(cmt_start, cmt_end - cmt_start), reading, file)
        elif cmt in (b"CMT2", b"CMT4"):  # each a TIFF structure of its own
            tiff = BytesSource(src.read(cmt_start, cmt_end - cmt_start))
            order = "<" if tiff.read(0, 2) == b"II" else ">"
            offset = tiff.u32(4, order) or 0
            try:  # all optional
                if cmt == b"CMT2":
                    exif_pixel_dimensions(tiff, order, [offset], reading)
                    read_exif_dates(Ifd(tiff, order, offset, DATE_TAGS), reading, file)
                else:
                    read_gps(Ifd(tiff, order, offset, GPS_TAGS), reading)
            except Corrupt:
                pass


def _read_heif_meta(src: Source, start: int, end: int, reading: MetadataCollector, file: Path) -> None:
    """HEIF items: the XMP item (mime application/rdf+xml), the Exif item, and the primary
    item's size from its ispe property."""
    boxes = {kind: (s, e) for kind, s, e in iter_boxes(src, start, end)}
    items: dict[int, tuple[bytes, bytes]] = {}  # id -> (type, content type)
    if b"iinf" in boxes:
        s, e = boxes[b"iinf"]
        version = src.read(s, 1)
        first = s + 4 + (2 if version == b"\0" else 4)
        for kind, infe_start, infe_end in iter_boxes(src, first, e):
            if kind != b"infe":
                continue
            data = src.read(infe_start, infe_end - infe_start)
            if data[0] < 2:
                continue
            id_size = 2 if data[0] == 2 else 4
            item_id = int.from_bytes(data[4 : 4 + id_size], "big")
            pos = 4 + id_size + 2
            item_type = data[pos : pos + 4]
            _name, _, rest = data[pos + 4 :].partition(b"\0")
            content_type = rest.partition(b"\0")[0] if item_type == b"mime" else b""
            items[item_id] = (item_type, content_type)
    locations = _heif_locations(src, boxes)
    idat = boxes.get(b"idat")
    for item_id, (item_type, content_type) in items.items():
        if item_type == b"Exif" or (item_type == b"mime" and content_type == b"application/rdf+xml"):
            extents = locations.get(item_id)
            if extents is None:
                reading.warn(file, "HEIF metadata item has no readable location; not read")
                continue
            method, parts = extents
            if method == 1 and idat is not None:
                data = b"".join(src.read(idat[0] + off, length) for off, length in parts)
            elif method == 0:
                data = b"".join(src.read(off, length) for off, length in parts)
            else:
                continue
            if len(data) < sum(length for _, length in parts):
                reading.warn(file, "HEIF is truncated: a metadata item lies past the end of the file")
                continue
            if item_type == b"Exif":
                offset = int.from_bytes(data[:4], "big")
                read_exif_block(data[4 + offset :], reading, file)
            else:
                reading.xmp(data, "xmp", file)
    _heif_dimensions(src, boxes, reading)


def _heif_locations(src: Source, boxes: dict[bytes, tuple[int, int]]) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """iloc: item id -> (construction method, [(offset, length), ...])."""
    if b"iloc" not in boxes:
        return {}
    s, e = boxes[b"iloc"]
    data = src.read(s, e - s)
    version = data[0]
    offset_size, length_size = data[4] >> 4, data[4] & 15
    base_size, index_size = data[5] >> 4, (data[5] & 15 if version in (1, 2) else 0)
    pos = 6
    id_size = 2 if version < 2 else 4
    count = int.from_bytes(data[pos : pos + id_size], "big")
    pos += id_size

    def take(size: int) -> int:
        nonlocal pos
        value = int.from_bytes(data[pos : pos + size], "big")
        pos += size
        return value

    result: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        if pos >= len(data):
            break
        item_id = take(id_size)
        method = take(2) & 15 if version in (1, 2) else 0
        take(2)  # data reference index
        base = take(base_size)
        extents = []
        count, entry_size = take(2), index_size + offset_size + length_size
        if entry_size == 0 or pos + count * entry_size > len(data):
            break  # corrupt: extents that take no room, or more than the box holds
        for _ in range(count):
            take(index_size)
            offset = take(offset_size)
            extents.append((base + offset, take(length_size)))
        result[item_id] = (method, extents)
    return result


def _heif_dimensions(src: Source, boxes: dict[bytes, tuple[int, int]], reading: MetadataCollector) -> None:
    if b"pitm" not in boxes or b"iprp" not in boxes:
        return
    s, _ = boxes[b"pitm"]
    pitm = src.read(s, 8)
    primary = int.from_bytes(pitm[4:6], "big") if pitm[0] == 0 else int.from_bytes(pitm[4:8], "big")
    properties: list[tuple[bytes, int, int]] = []
    associations: dict[int, list[int]] = {}
    for kind, ps, pe in iter_boxes(src, *boxes[b"iprp"]):
        if kind == b"ipco":
            properties = list(iter_boxes(src, ps, pe))
        elif kind == b"ipma":
            data = src.read(ps, pe - ps)
            version, flags = data[0], int.from_bytes(data[1:4], "big")
            pos, count = 8, int.from_bytes(data[4:8], "big")
            for _ in range(count):
                if pos >= len(data):
                    break
                id_size = 2 if version < 1 else 4
                item_id = int.from_bytes(data[pos : pos + id_size], "big")
                pos += id_size
                n = data[pos]
                pos += 1
                indices = []
                for _ in range(n):
                    if flags & 1:
                        indices.append(int.from_bytes(data[pos : pos + 2], "big") & 0x7FFF)
                        pos += 2
                    else:
                        indices.append(data[pos] & 0x7F)
                        pos += 1
                associations[item_id] = indices
    # ispe is the coded size; clap crops it and irot turns it, as decoders show the photo
    width = height = 0
    turned = False
    for index in associations.get(primary, []):
        if not 0 < index <= len(properties):
            continue
        kind, start, _ = properties[index - 1]
        if kind == b"ispe":
            data = src.read(start, 12)
            if len(data) == 12:
                width, height = struct.unpack(">II", data[4:12])
        elif kind == b"clap" and width:
            data = src.read(start, 16)
            if len(data) == 16:
                wn, wd, hn, hd = struct.unpack(">iIiI", data)
                if wd and hd and 0 < wn // wd <= width and 0 < hn // hd <= height:
                    width, height = wn // wd, hn // hd
        elif kind == b"irot":
            turned = bool(src.read(start, 1)[:1] and src.read(start, 1)[0] & 1)
    if width and height:
        reading.dimensions(*((height, width) if turned else (width, height)))
