"""What a photo's files say about it: the keywords a person gave it, exactly as written.

Sources (the `source` of a Keyword):
  - "xmp-sidecar": an XMP sidecar file next to the photo
  - "xmp":         XMP embedded in the image file
  - "iptc":        IPTC-IIM Keywords (2:25), any IPTC block of the file
  - "exif":        EXIF XPKeywords (Windows), UTF-16LE, ';'-separated

Fields (the `field` of a Keyword): flat ones are "dc:subject", "IPTC:Keywords",
"XPKeywords"; hierarchical ones are "lr:hierarchicalSubject" ('|'),
"digiKam:TagsList" ('/'), "mediapro:CatalogSets" ('|'),
"MicrosoftPhoto:LastKeywordXMP" ('/').

No trimming, no case folding; empty items are dropped. Normalisation and precedence
between sources belong to `phototag.library.history`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

FLAT_FIELDS = ("dc:subject", "IPTC:Keywords", "XPKeywords")
HIERARCHICAL_FIELDS = {
    "lr:hierarchicalSubject": "|",
    "digiKam:TagsList": "/",
    "mediapro:CatalogSets": "|",
    "MicrosoftPhoto:LastKeywordXMP": "/",
}


@dataclass(frozen=True)
class Keyword:
    text: str  # exactly as stored in the file
    source: str  # "xmp-sidecar" | "xmp" | "iptc" | "exif"
    field: str  # one of FLAT_FIELDS or HIERARCHICAL_FIELDS
    file: Path  # the file it was read from (the photo or its sidecar)

    @property
    def is_hierarchical(self) -> bool:
        return self.field in HIERARCHICAL_FIELDS

    @property
    def path(self) -> tuple[str, ...]:
        """Hierarchy components (a flat keyword is a path of one)."""
        separator = HIERARCHICAL_FIELDS.get(self.field)
        if separator is None:
            return (self.text,)
        return tuple(part for part in self.text.split(separator) if part.strip())


@dataclass
class PhotoMetadata:
    keywords: list[Keyword] = field(default_factory=list)
    creator: Optional[str] = None  # XMP dc:creator (first) or EXIF Artist
    width: Optional[int] = None
    height: Optional[int] = None
    taken: Optional[str] = None  # capture time, local: 'YYYY-MM-DDTHH:MM:SS' or 'YYYY-MM-DD' (library.capture)
    taken_offset: Optional[str] = None  # its UTC offset, '+HH:MM', when the file says it
    latitude: Optional[float] = None  # decimal degrees, south negative
    longitude: Optional[float] = None  # decimal degrees, west negative
    warnings: list[str] = field(default_factory=list)  # one line each, file named
    incomplete: bool = False  # some keywords were not read (a refused XMP packet, more than the cap)

    def flat(self, sources: Optional[Sequence[str]] = None) -> set[str]:
        return {k.text for k in self.keywords if not k.is_hierarchical and (sources is None or k.source in sources)}

    def hierarchical(self, sources: Optional[Sequence[str]] = None) -> list[tuple[str, ...]]:
        seen: dict[tuple[str, ...], None] = {}
        for k in self.keywords:
            if k.is_hierarchical and (sources is None or k.source in sources):
                seen.setdefault(k.path, None)
        return list(seen)
