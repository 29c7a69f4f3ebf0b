"""Gathering what one photo's files say, source by source, into a PhotoMetadata.

The container readers (`phototag.library.containers`) find the metadata blocks; this
collector parses the XMP and IPTC payloads, drops repeats, ranks creators and keeps
the first plausible size.

creator: the first dc:creator of a sidecar, else of embedded XMP, else EXIF
Artist, else IPTC By-line (2:80).

capture date: EXIF DateTimeOriginal, else EXIF CreateDate (DateTimeDigitized), else XMP
(sidecar before embedded) exif:DateTimeOriginal, photoshop:DateCreated, xmp:CreateDate,
else IPTC DateCreated + TimeCreated. photoshop:DateCreated comes before xmp:CreateDate
because the Metadata Working Group maps it to DateTimeOriginal, while xmp:CreateDate is
when the file was made (a scan's date). When the chosen date is a day only, a later
candidate with a time on that same day gives the time.
position: EXIF GPS, else XMP exif:GPSLatitude/GPSLongitude (sidecar before embedded).
Dates that cannot be are dropped; one warning per photo, only when no usable date is left.

At most MAX_KEYWORDS distinct keywords are kept per photo (one warning says so): no
person tags a photo with thousands, and a hostile file must not make every later step
(history, index, writing) pay for millions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from phototag.library.capture import BadDate, iim_date, parse_date, position, xmp_coordinate
from phototag.library.iptc import parse_iim
from phototag.library.keywords import Keyword, PhotoMetadata
from phototag.library.xmp_read import XmpError, XmpValues, parse_xmp

# Creator candidates, best first: the sidecar is what the editor wrote last.
CREATOR_RANK = {"xmp-sidecar": 0, "xmp": 1, "exif": 2, "iptc": 3}
DATE_RANK = {
    "DateTimeOriginal": 0,
    "CreateDate": 1,
    "exif:DateTimeOriginal": 2,
    "photoshop:DateCreated": 3,
    "xmp:CreateDate": 4,
    "IPTC:DateCreated": 5,
}
POSITION_RANK = {"exif": 0, "xmp-sidecar": 1, "xmp": 2}
MAX_KEYWORDS = 5_000  # per photo, all sources and fields together


class MetadataCollector:
    """What one photo's files say, gathered source by source."""

    def __init__(self) -> None:
        self.meta = PhotoMetadata()
        self._seen: set[tuple[str, str, str, Path]] = set()
        self._warned: set[str] = set()
        self._capped = False
        self._creators: dict[str, str] = {}
        self.size_known = False  # set once the photo's size is found (or must not be guessed)
        self._dates: dict[
            tuple[int, int], tuple[Optional[str], Optional[str], Path]
        ] = {}  # rank -> (text, offset, file)
        self._positions: dict[int, tuple[float, float]] = {}  # source rank -> (latitude, longitude)

    def result(self) -> PhotoMetadata:
        if self._creators:
            self.meta.creator = self._creators[min(self._creators, key=CREATOR_RANK.__getitem__)]
        self.meta.taken, self.meta.taken_offset = self._taken() or (None, None)
        if self._positions:
            self.meta.latitude, self.meta.longitude = self._positions[min(self._positions)]
        return self.meta

    def warn(self, file: Path, message: str) -> None:
        line = f"{file}: {' '.join(str(message).split())}"
        if line not in self._warned:
            self._warned.add(line)
            self.meta.warnings.append(line)

    def keyword(self, text: str, source: str, field_name: str, file: Path) -> None:
        key = (text, source, field_name, file)
        if key in self._seen:
            return
        if len(self.meta.keywords) >= MAX_KEYWORDS:
            if not self._capped:
                self._capped = self.meta.incomplete = True
                self.warn(file, f"more than {MAX_KEYWORDS:,} keywords; only the first {MAX_KEYWORDS:,} are read")
            return
        self._seen.add(key)
        self.meta.keywords.append(Keyword(text, source, field_name, file))

    def creator(self, source: str, text: Optional[str]) -> None:
        text = (text or "").strip(" \0\t\r\n")
        if text:
            self._creators.setdefault(source, text)

    def capture_date(
        self, text: Optional[str], offset: Optional[str], field_name: str, source: str, file: Path
    ) -> None:
        """A capture date candidate: `field_name` is a key of DATE_RANK, `offset` a separate offset field.
        Parsed at the end, best first, only as far as needed."""
        self._dates.setdefault((DATE_RANK[field_name], CREATOR_RANK[source]), (text, offset, file))

    def _taken(self) -> Optional[tuple[str, Optional[str]]]:
        """The best usable date; a day only is completed by another field's time on that day.
        Warns once when impossible dates were all there was."""
        day, bad = None, None
        for key in sorted(self._dates):
            text, offset, file = self._dates[key]
            try:
                parsed = parse_date(text, offset)
            except BadDate as error:
                bad = bad or (file, str(error))
                continue
            if parsed is None or (day is not None and not parsed[0].startswith(day[0] + "T")):
                continue
            if "T" in parsed[0]:
                return parsed
            day = day or parsed
        if day is None and bad is not None:
            self.warn(*bad)
        return day

    def gps(self, latitude: Optional[float], longitude: Optional[float], source: str) -> None:
        found = position(latitude, longitude)
        if found is not None:
            self._positions.setdefault(POSITION_RANK[source], found)

    def dimensions(self, width: int, height: int) -> None:
        if not self.size_known and width > 0 and height > 0:
            self.meta.width, self.meta.height = int(width), int(height)
            self.size_known = True

    def xmp(self, data: bytes, source: str, file: Path) -> Optional[XmpValues]:
        """An XMP packet: a sidecar's ("xmp-sidecar") or one embedded in the photo ("xmp")."""
        try:
            values = parse_xmp(data)
        except XmpError as error:
            where = "sidecar" if source == "xmp-sidecar" else "embedded XMP"
            self.warn(file, f"{where} not read: {error}")
            self.meta.incomplete = True
            return None
        for field_name, text in values.keywords:
            self.keyword(text, source, field_name, file)
        self.creator(source, values.creator)
        for field_name, text in values.dates:
            self.capture_date(text, None, field_name, source, file)
        if values.latitude is not None:
            self.gps(xmp_coordinate(values.latitude, 90), xmp_coordinate(values.longitude, 180), source)
        return values

    def iptc(self, data: bytes, file: Path) -> None:
        """An IPTC-IIM block."""
        values = parse_iim(data)
        for text in values.keywords:
            self.keyword(text, "iptc", "IPTC:Keywords", file)
        if values.bylines:
            self.creator("iptc", values.bylines[0])
        if values.date_created:
            self.capture_date(
                iim_date(values.date_created, values.time_created), None, "IPTC:DateCreated", "iptc", file
            )
        for warning in values.warnings:
            self.warn(file, warning)
