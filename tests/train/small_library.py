"""A small real library for training tests: Pillow-made JPEGs whose look decides their tags, with XMP sidecars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.photos import write_sidecar

# look -> (base colour, tags the owner gives it; hierarchical ones written as lr:hierarchicalSubject)
LOOKS = {
    "sunset": ((235, 120, 30), ["sunset", "Places|Beach"]),
    "sea": ((30, 80, 200), ["sea", "Places|Beach"]),
    "forest": ((30, 150, 40), ["forest", "hike"]),
    "snow": ((235, 235, 245), ["snow", "hike"]),
}


def make_photo(path: Path, colour, seed: int, size=(80, 60)) -> Path:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-25, 26, size=(size[1], size[0], 3))
    pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=90)
    return path


def build_library(root: Path, per_look: int = 6, folders: bool = False) -> Path:
    """per_look photos of each look; with `folders`, two owners' folders (alice, bob)."""
    seed = 0
    for look, (colour, tags) in LOOKS.items():
        for i in range(per_look):
            folder = root / (("alice" if i % 2 == 0 else "bob") if folders else "") / look
            photo = make_photo(folder / f"{look}_{i:02d}.jpg", colour, seed)
            flat = [t for t in tags if "|" not in t]
            hierarchical = [t for t in tags if "|" in t]
            write_sidecar(photo.with_suffix(".xmp"), subjects=flat, hierarchical=hierarchical)
            seed += 1
    return root


def scanned_with_random_features(root: Path):
    """A folder-structured build_library scanned into its index: its photos and a random feature map per photo
    (the plumbing of eval's rows, not their quality)."""
    import torch

    from phototag.app.scan import scan
    from phototag.library.index import Index
    from phototag.reporting import CollectingReporter

    library = build_library(root, per_look=6, folders=True)
    with Index.for_library(library) as index:
        scan(index, CollectingReporter())
        photos = index.photos()
    generator = torch.Generator().manual_seed(0)
    return photos, {p.fingerprint: torch.rand(320, 7, 7, generator=generator) for p in photos}
