"""Which XMP sidecar a photo has, and which one it gets when it has none.

Sidecar naming rule (names compared case-insensitively, as in
`phototag.library.walk.match_sidecars`):
  1. A photo's existing sidecars are reused: `IMG_0001.CR2.xmp` (darktable,
     digiKam) and `IMG_0001.xmp` (Lightroom, Capture One). When both exist,
     both are updated, so each editor sees the tags in the file it reads.
     darktable duplicates (`IMG_0001_01.CR2.xmp`) are left alone.
  2. When the photo has none, a new one follows the convention the folder
     already uses (the majority of its existing sidecars; a name whose stem
     ends in a photo extension counts as darktable style).
  3. Otherwise (no sidecars in the folder, or a tie) `style` decides:
     "darktable" (default) -> `IMG_0001.CR2.xmp`, which never collides for a
     RAW+JPEG pair; "lightroom" -> `IMG_0001.xmp`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from phototag.filetypes import PHOTO_EXTENSIONS, SIDECAR_EXTENSION

SIDECAR_STYLES = ("darktable", "lightroom")
DEFAULT_SIDECAR_STYLE = "darktable"


def validate_sidecar_style(style: str) -> str:
    """`style` when it is one of SIDECAR_STYLES; raises ValueError saying which ones are."""
    if style not in SIDECAR_STYLES:
        raise ValueError(f"sidecar style must be one of {', '.join(SIDECAR_STYLES)}, not {style!r}")
    return style


def is_sidecar_name(name: str) -> bool:
    """A visible `.xmp` file (hidden ones are temp files or editors' private copies)."""
    return name.lower().endswith("." + SIDECAR_EXTENSION) and not name.startswith(".")


def _is_darktable_name(name: str) -> bool:
    stem = name[: -len(".xmp")]
    _, dot, ext = stem.rpartition(".")
    return bool(dot) and ext.lower() in PHOTO_EXTENSIONS


def sidecar_names_for(photo_name: str) -> tuple[str, str]:
    """(darktable name, lightroom name) of a photo's sidecar."""
    stem = photo_name.rpartition(".")[0] or photo_name
    return f"{photo_name}.xmp", f"{stem}.xmp"


def folder_style(sidecar_names: Sequence[str], default: str) -> str:
    """The convention most sidecars of a folder follow; `default` when none or tied."""
    darktable = sum(1 for n in sidecar_names if _is_darktable_name(n))
    lightroom = len(sidecar_names) - darktable
    if darktable > lightroom:
        return "darktable"
    if lightroom > darktable:
        return "lightroom"
    return default


def choose_sidecars(photo: Path, folder_sidecars: Sequence[str], style: str) -> tuple[list[Path], Optional[Path]]:
    """(existing sidecars to update, new sidecar to create or None) following the naming rule."""
    darktable, lightroom = sidecar_names_for(photo.name)
    by_lower: dict[str, str] = {}
    for name in sorted(folder_sidecars):
        by_lower.setdefault(name.lower(), name)
    existing = [by_lower[n.lower()] for n in dict.fromkeys((darktable, lightroom)) if n.lower() in by_lower]
    if existing:
        return [photo.parent / n for n in existing], None
    chosen = folder_style(folder_sidecars, style)
    return [], photo.parent / (darktable if chosen == "darktable" else lightroom)
