"""When and where a photo was taken: the capture date and GPS position, parsed from the
text and numbers that EXIF and XMP give (the container readers find them, the collector
chooses among them).

A capture date is kept as the camera's local time, 'YYYY-MM-DDTHH:MM:SS' (seconds and
fractions beyond them dropped), or 'YYYY-MM-DD' when the file gives the day only, plus
the UTC offset '+HH:MM' when the file says it. A zero or blank date ('0000:00:00
00:00:00', what cameras write when their clock was never set) means "no date", silently;
an impossible one (month 13, hour 25, year 0200) raises `BadDate`, whose message is the
one-line warning. A year or a month alone is too vague to place a photo: no date.

A position is decimal degrees, south and west negative. (0, 0) is taken for "no fix":
GPS units write it when they had none, and it would make every such photo a neighbour.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Optional, Sequence

EARLIEST_YEAR, LATEST_YEAR = 1800, 2200  # outside: a broken clock or a broken file

_DATE = re.compile(
    r"(\d{4})[:\-/](\d{2})(?:[:\-/](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d*)?)?)?)?"
    r"\s*(Z|[+\-]\d{2}:?\d{2})?"
)
_OFFSET = re.compile(r"([+\-])(\d{2}):?(\d{2})")
# XMP GPS coordinates: 'DDD,MM,SSk' or 'DDD,MM.mmk' (k: N, S, E or W); a plain decimal is also seen
_XMP_COORDINATE = re.compile(r"(\d{1,3}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?(?:,(\d{1,2}(?:\.\d+)?))?([NSEWnsew])")


class BadDate(ValueError):
    """A date that cannot be: the message is one line and quotes it."""


def parse_date(text: Optional[str], offset: Optional[str] = None) -> Optional[tuple[str, Optional[str]]]:
    """(local time in ISO form, UTC offset or None) of an EXIF or XMP date, None when it gives none.

    `offset` is a separate offset field (EXIF OffsetTimeOriginal); an offset written in the
    date itself (XMP) wins over it. Raises BadDate for an impossible date.
    """
    text = (text or "").split("\0", 1)[0].strip()
    if not text.strip(" :-T0"):
        return None  # blank or zero: the camera's clock was never set
    match = _DATE.fullmatch(text)
    if match is None:
        if re.fullmatch(r"\d{4}", text):
            return None  # a year only
        raise BadDate(f"capture date {text[:40]!r} is not a date; ignored")
    year, month, day, hour, minute, second, own_offset = match.groups()
    if day is None or int(year) == int(month) == int(day) == 0:
        return None  # a month only, or a zero date with an offset or fractions
    try:
        when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise BadDate(f"capture date {text[:40]!r} is impossible; ignored") from None
    if not EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        raise BadDate(f"capture date {text[:40]!r} is impossible; ignored")
    iso = when.strftime("%Y-%m-%d") if hour is None else when.strftime("%Y-%m-%dT%H:%M:%S")
    return iso, _offset(own_offset) or (_offset(offset) if hour is not None else None)


def iim_date(date: str, time: str) -> str:
    """IPTC DateCreated 'CCYYMMDD' and TimeCreated 'HHMMSS+HHMM' as one date `parse_date` reads."""
    if not re.fullmatch(r"\d{8}", date):
        return date
    day = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    match = re.fullmatch(r"(\d{2})(\d{2})(\d{2})([+\-]\d{4})?", time)
    if match is None:
        return day
    hours, minutes, seconds, offset = match.groups()
    return f"{day}T{hours}:{minutes}:{seconds}{offset or ''}"


def _offset(text: Optional[str]) -> Optional[str]:
    """'+02:00', '-0430' or 'Z' as '+HH:MM'; None when absent or out of range."""
    text = (text or "").split("\0", 1)[0].strip()
    if text == "Z":
        return "+00:00"
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if int(hours) > 14 or int(minutes) >= 60:
        return None
    return f"{sign}{hours}:{minutes}"


def exif_coordinate(parts: Sequence[tuple[int, int]], ref: Optional[str], limit: float) -> Optional[float]:
    """Degrees, minutes, seconds as EXIF rationals, and a reference ('N', 'S', 'E', 'W'), in decimal degrees."""
    if not parts or any(denominator == 0 for _, denominator in parts):
        return None
    value = sum(numerator / denominator / 60**i for i, (numerator, denominator) in enumerate(parts[:3]))
    if (ref or "").strip("\0 ").upper() in ("S", "W"):
        value = -value
    return value if math.isfinite(value) and abs(value) <= limit else None


def xmp_coordinate(text: Optional[str], limit: float) -> Optional[float]:
    """An XMP exif:GPSLatitude / exif:GPSLongitude ('51,30.5N', '51,30,30N', or '-0.5') in decimal degrees."""
    text = (text or "").strip()
    match = _XMP_COORDINATE.fullmatch(text)
    if match is None:
        try:
            value = float(text)
        except ValueError:
            return None
    else:
        degrees, minutes, seconds, ref = match.groups()
        value = float(degrees) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
        if ref.upper() in ("S", "W"):
            value = -value
    return value if math.isfinite(value) and abs(value) <= limit else None


def position(latitude: Optional[float], longitude: Optional[float]) -> Optional[tuple[float, float]]:
    """(latitude, longitude) when both are known and are not (0, 0), the "no fix" of GPS units."""
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        return None
    return latitude, longitude
