"""What the exiftool keyword oracle (../shared/corpora/exiftool-keywords) could not see.

exiftool there (Debian 12.57) has no IO::Uncompress::Brotli, so it could not read the XMP in
JXL2.jxl's Brotli-compressed box and expected.json lists no keyword for it. Our reader does read
that box when the brotli package is installed; `keywords_exiftool_missed` proves the extra keyword
is really in the file, independently of the reader, so tests may add it to what they expect.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

UNREAD_BY_THIS_EXIFTOOL = {"JXL2.jxl"}


def brotli_installed() -> bool:
    return importlib.util.find_spec("brotli") is not None


def brotli_box_keywords(path: Path) -> set[str]:
    """dc:subject items inside the Brotli-compressed ('brob') XMP box of a JPEG XL file, found
    without the reader: walk the top-level boxes, decompress with the brotli library, pick the
    rdf:li items of dc:subject with a regular expression."""
    import brotli

    data = path.read_bytes()
    pos, found = 0, set()
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        if kind == b"brob" and data[pos + 8 : pos + 12] == b"xml ":
            xmp = brotli.decompress(data[pos + 12 : pos + size]).decode("utf-8")
            subject = re.search(r"<dc:subject>(.*?)</dc:subject>", xmp, re.S)
            found |= set(re.findall(r"<rdf:li>([^<]*)</rdf:li>", subject.group(1))) if subject else set()
        pos += size
    return found


def keywords_exiftool_missed(path: Path) -> set[str]:
    """Flat keywords in `path` that expected.json lacks only because that exiftool had no Brotli."""
    if path.name not in UNREAD_BY_THIS_EXIFTOOL or not brotli_installed():
        return set()
    extra = brotli_box_keywords(path)
    assert extra == {"ExifTool test"}  # the file is what we think it is
    return extra
