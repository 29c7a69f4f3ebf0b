"""File name extensions phototag treats as photos and sidecars (shared by library and imaging).

Extensions only pick candidates; what a file really is, is judged by its first bytes
(`phototag.library.formats.sniff_format`).
"""

from __future__ import annotations

RAW_EXTENSIONS = frozenset(
    {
        "cr2",
        "cr3",
        "crw",
        "nef",
        "nrw",
        "arw",
        "srf",
        "sr2",
        "dng",
        "orf",
        "rw2",
        "raf",
        "pef",
        "srw",
        "x3f",
        "3fr",
        "iiq",
        "rwl",
    }
)
PHOTO_EXTENSIONS = (
    frozenset({"jpg", "jpeg", "jpe", "png", "tif", "tiff", "webp", "heic", "heif", "avif", "gif", "psd", "jxl"})
    | RAW_EXTENSIONS
)
SIDECAR_EXTENSION = "xmp"


def extension(name: str) -> str:
    """Lower-case extension without the dot ('' when there is none)."""
    dot = name.rfind(".")
    return name[dot + 1 :].lower() if dot > 0 else ""


def is_raw_name(name: str) -> bool:
    return extension(name) in RAW_EXTENSIONS
