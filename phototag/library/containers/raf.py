"""Fujifilm RAF: its EXIF and XMP are in the embedded JPEG preview."""

from __future__ import annotations

from pathlib import Path

from phototag.library.byte_sources import Source, SourceView
from phototag.library.collector import MetadataCollector
from phototag.library.containers import jpeg


def read(src: Source, reading: MetadataCollector, file: Path) -> None:
    """RAF keeps its EXIF and XMP in the embedded JPEG preview."""
    offset, length = src.u32(84), src.u32(88)
    if not offset or not length or offset + length > src.size:
        reading.warn(file, "RAF header points outside the file; embedded metadata not read")
        return
    preview = SourceView(src, offset, length)
    if preview.read(0, 3) == b"\xff\xd8\xff":
        reading.size_known = True  # the preview's size is not the photo's
        jpeg.read(preview, reading, file)
