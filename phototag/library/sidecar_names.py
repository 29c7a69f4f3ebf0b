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
  4. A name is never shared: when another photo of the folder has the same stem
     (`IMG_0001.JPG` beside `IMG_0001.CR2`, `.TIF`, `.DNG`), a new sidecar is
     `IMG_0001.JPG.xmp` whatever the convention, since `IMG_0001.xmp` would become
     the other photo's sidecar too (the scan pairs it with both) and hide its own
     keywords. An existing `IMG_0001.xmp` of such a folder is left as it is (it is
     both photos', `shared_sidecar` names it so the writer can say so) and the photo
     gets its own `IMG_0001.JPG.xmp`.
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


def _same_stem(photo_name: str, folder_photos: Sequence[str]) -> list[str]:
    """The other photos of the folder whose Lightroom-style sidecar name is this photo's."""
    lightroom = sidecar_names_for(photo_name)[1].lower()
    own = photo_name.lower()
    return sorted(n for n in folder_photos if n.lower() != own and sidecar_names_for(n)[1].lower() == lightroom)


def _by_lower(folder_sidecars: Sequence[str]) -> dict[str, str]:
    by_lower: dict[str, str] = {}
    for name in sorted(folder_sidecars):
        by_lower.setdefault(name.lower(), name)
    return by_lower


def choose_sidecars(
    photo: Path, folder_sidecars: Sequence[str], style: str, folder_photos: Sequence[str] = ()
) -> tuple[list[Path], Optional[Path]]:
    """(existing sidecars to update, new sidecar to create or None) following the naming rule.

    `folder_photos`: the names of the photos in the folder (rule 4)."""
    darktable, lightroom = sidecar_names_for(photo.name)
    shared = bool(_same_stem(photo.name, folder_photos))
    by_lower = _by_lower(folder_sidecars)
    own = (darktable,) if shared else (darktable, lightroom)
    existing = [by_lower[n.lower()] for n in dict.fromkeys(own) if n.lower() in by_lower]
    if existing:
        return [photo.parent / n for n in existing], None
    chosen = "darktable" if shared else folder_style(folder_sidecars, style)
    return [], photo.parent / (darktable if chosen == "darktable" else lightroom)


def shared_sidecar(
    photo: Path, folder_sidecars: Sequence[str], folder_photos: Sequence[str]
) -> Optional[tuple[Path, list[str]]]:
    """(the existing `IMG.xmp` that `choose_sidecars` leaves alone, the other photos it also belongs to)."""
    others = _same_stem(photo.name, folder_photos)
    name = _by_lower(folder_sidecars).get(sidecar_names_for(photo.name)[1].lower())
    return (photo.parent / name, others) if others and name is not None else None
