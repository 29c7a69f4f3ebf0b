"""Reading the keywords a person already gave a photo, from every place editors put them.

`read_photo_metadata` is the one entry point: the photo's embedded metadata (found by
its magic bytes, not its name: `phototag.library.formats` picks the container reader)
and its XMP sidecars, gathered by `phototag.library.collector` into a
`phototag.library.keywords.PhotoMetadata`.

Where embedded metadata is found: JPEG (APP1 EXIF/XMP/ExtendedXMP, APP13 Photoshop
IPTC, AFCP trailer), TIFF and TIFF-based RAW (CR2, NEF, DNG, ARW, ORF, PEF, RW2 and
its embedded JPEG: IFD0 tags 700, 33723, 34377), PNG (iTXt XMP, eXIf, raw profiles),
WebP, GIF, PSD, ISO-BMFF (HEIC/HEIF/AVIF items, CR3 boxes), JPEG XL boxes (Brotli
ones when the brotli package is installed) and RAF (its embedded JPEG). Only headers
and metadata blocks are read, never pixel data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from phototag.library.byte_sources import Corrupt, FileSource, NotRegularFile
from phototag.library.collector import MetadataCollector
from phototag.library.formats import HEAD_BYTES, identify
from phototag.library.keywords import PhotoMetadata
from phototag.library.xmp_read import MAX_SIDECAR_BYTES, too_large


def read_photo_metadata(photo: Path, sidecars: Sequence[Path] = ()) -> PhotoMetadata:
    """Read keywords (all sources), creator and cheap dimensions of one photo.

    Never raises for bad input: unreadable files, corrupt images and hostile XML
    become one-line entries in `warnings` and the rest is still read. A `.xmp`
    file given as the photo is read as a sidecar (a standalone XMP file).
    """
    reading = MetadataCollector()
    photo = Path(photo)
    if photo.suffix.lower() == ".xmp":
        _read_sidecar(reading, photo)
    else:
        _read_photo(reading, photo)
    for sidecar in sidecars:
        _read_sidecar(reading, Path(sidecar))
    return reading.result()


def read_sidecar(path: Path) -> PhotoMetadata:
    """Read one XMP sidecar (or standalone .xmp file) on its own."""
    reading = MetadataCollector()
    _read_sidecar(reading, Path(path))
    return reading.result()


def _read_sidecar(reading: MetadataCollector, path: Path) -> None:
    handle = _open(reading, path)
    if handle is None:
        return
    with handle:
        if handle.size > MAX_SIDECAR_BYTES:
            reading.warn(path, f"sidecar not read: {too_large(handle.size)}")
            reading.meta.incomplete = True
            return
        try:
            data = handle.read(0, handle.size)
        except OSError as error:
            reading.warn(path, f"read error: {error.strerror or error}")
            return
    reading.xmp(data, "xmp-sidecar", path)


def _read_photo(reading: MetadataCollector, path: Path) -> None:
    handle = _open(reading, path)
    if handle is None:
        return
    with handle:
        if handle.size == 0:
            reading.warn(path, "empty file (0 bytes)")
            return
        try:
            signature = identify(handle.read(0, HEAD_BYTES))
            if signature is None:
                reading.warn(path, "not a recognised image format; embedded metadata not read")
                return
            signature.read(handle, reading, path)
        except Corrupt as error:
            reading.warn(path, str(error))
        except OSError as error:
            reading.warn(path, f"read error: {error.strerror or error}")
        except Exception as error:  # noqa: BLE001 - a corrupt file must never stop a scan
            reading.warn(path, f"embedded metadata is corrupt; partly read ({type(error).__name__}: {error})")


def _open(reading: MetadataCollector, path: Path) -> Optional[FileSource]:
    try:
        return FileSource.open(path)
    except NotRegularFile as error:
        reading.warn(path, f"not read: {error}")
    except OSError as error:
        reading.warn(path, f"cannot open: {error.strerror or error}")
    except ValueError as error:  # a NUL byte in the name
        reading.warn(path, f"cannot open: {error}")
    return None
