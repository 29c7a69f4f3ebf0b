#!/usr/bin/env python3
"""Rebuild examples/library/ from openly licensed photos in PyPI wheels and Debian packages.

Every photo comes from a named, versioned package; the builder checks each
original file against its SHA-256 below before using it, so the provenance in
examples/sources.json and examples/README.md can be checked by anyone.

Needs (Debian 12 "bookworm" or later):
    apt-get install exiftool dpkg          # exiftool writes the embedded keywords
    python -m pip install pillow pillow-heif   # phototag's own dependencies

Run from anywhere (downloads about 230 MB into the cache once):
    python examples/build_examples.py [--cache DIR] [--out DIR]

Packages are fetched with the ordinary clients:
    pip download --no-deps --only-binary=:all: scikit-image==0.26.0   (same for the other wheels)
    apt-get download lomiri-wallpapers-16.04=20.04.0-2                (same for the other .debs)

Each photo is EXIF-rotated, downscaled to at most 1024 px on its longest side,
saved as JPEG quality 85 without any of the original metadata (one PNG and one
HEIC keep those formats in the library), and then tagged through one channel
(sidecar or embedded), as a person's editors would have left it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
LONGEST_SIDE = 1024
JPEG_QUALITY = 85

# Package -> (kind, pinned version). The licence of every file is documented per photo below.
PACKAGES = {
    "scikit-image": ("pypi", "0.26.0"),
    "scikit-learn": ("pypi", "1.9.1"),
    "matplotlib": ("pypi", "3.11.2"),
    "lomiri-wallpapers-16.04": ("debian", "20.04.0-2"),
    "lomiri-wallpapers-20.04": ("debian", "20.04.0-2"),
    "mate-backgrounds": ("debian", "1.26.0-1"),
    "plasma-workspace-wallpapers": ("debian", "4:5.27.5-2"),
}

# Where each package states its licences.
LICENCE_EVIDENCE = {
    "scikit-image": "docstring of the skimage.data loader for this image (skimage/data/_fetchers.py)",
    "scikit-learn": "sklearn/datasets/images/README.txt",
    "matplotlib": "US Navy official photograph (public domain); shipped as matplotlib sample data",
    "lomiri-wallpapers-16.04": "/usr/share/doc/lomiri-wallpapers-16.04/copyright",
    "lomiri-wallpapers-20.04": "/usr/share/doc/lomiri-wallpapers-20.04/copyright",
    "mate-backgrounds": "/usr/share/doc/mate-backgrounds/copyright",
    "plasma-workspace-wallpapers": "metadata.json of the wallpaper (KPlugin Authors/License) and "
    "/usr/share/doc/plasma-workspace-wallpapers/copyright",
}

LICENCE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-2.0": "https://creativecommons.org/licenses/by/2.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "GPL-2.0-or-later": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    "LGPL-3.0-only": "https://www.gnu.org/licenses/lgpl-3.0.html",
    "public-domain": "https://en.wikipedia.org/wiki/Public_domain",
}

# Tag channels, i.e. where an editor would have put the keywords:
#   lightroom  IMG.xmp sidecar (dc:subject + lr:hierarchicalSubject)
#   darktable  IMG.jpg.xmp sidecar (dc:subject + lr:hierarchicalSubject)
#   digikam    IMG.jpg.xmp sidecar (dc:subject + digiKam:TagsList with '/')
#   embedded   IPTC Keywords + XMP dc:subject/lr:hierarchicalSubject inside the JPEG (exiftool)
#   iptc       IPTC Keywords only (exiftool)
#   xmp        embedded XMP only (exiftool)
#   xpkeywords EXIF XPKeywords, ';'-separated (Windows Explorer; exiftool)
CHANNELS = ("lightroom", "darktable", "digikam", "embedded", "iptc", "xmp", "xpkeywords")


@dataclass
class Photo:
    file: str  # path inside examples/library
    package: str
    member: str  # path inside the wheel or the .deb
    sha256: str  # of the original member
    licence: str  # SPDX id (or "public-domain")
    author: str
    subject: str  # what the photo shows
    tags: list[str] = field(default_factory=list)  # hierarchical ones with '|'
    channel: str | None = None
    creator: str | None = None  # dc:creator written with the tags
    object: str | None = None  # the one unambiguous everyday object it shows, if any
    # ImageNet-1k classes that fit the object; only listed where EfficientNet-Lite0 with the
    # packaged ImageNet weights has one of them in its top 5 (checked when this list was made)
    imagenet: list[str] = field(default_factory=list)


LOMIRI = "./usr/share/backgrounds/"
MATE = "./usr/share/backgrounds/mate/nature/"
PLASMA = "./usr/share/wallpapers/"

PHOTOS = [
    # --- pets
    Photo(
        "pets/cat-chelsea.jpg",
        "scikit-image",
        "skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "CC0-1.0",
        "Stefan van der Walt",
        "Close-up of a tabby cat (Chelsea)",
        ["Animals|Cat", "pets"],
        "lightroom",
        object="cat",
        imagenet=["tabby", "tiger cat", "Egyptian cat"],
    ),
    Photo(
        "pets/dogs-at-the-window.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "friends_by_Aitzol_Berasategi.jpg",
        "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d",
        "CC-BY-4.0",
        "Aitzol Berasategi",
        "Two brown spaniels looking out of the window of a wooden house",
        ["Animals|Dog", "pets"],
        "embedded",
        creator="Aitzol Berasategi",
        object="dog",
        imagenet=["Sussex spaniel", "cocker spaniel", "Welsh springer spaniel", "English springer"],
    ),
    # --- garden
    Photo(
        "garden/ladybird.jpg",
        "mate-backgrounds",
        MATE + "LadyBird.jpg",
        "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d",
        "GPL-2.0-or-later",
        "Charles Barbin",
        "Ladybird on a grass stem among forget-me-nots",
        ["Animals|Insect", "garden", "macro"],
        "darktable",
        object="ladybird",
        imagenet=["ladybug"],
    ),
    Photo(
        "garden/yellow-flower.jpg",
        "mate-backgrounds",
        MATE + "YellowFlower.jpg",
        "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306",
        "GPL-2.0-or-later",
        "Charles Barbin",
        "Yellow daisy-like flower (gerbera or similar), close-up",
        ["Flower", "garden", "macro"],
        "iptc",  # IPTC-IIM has no hierarchy
        object="flower",
        imagenet=["daisy"],
    ),
    Photo(
        "garden/marigold.jpg",
        "mate-backgrounds",
        MATE + "Garden.jpg",
        "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78",
        "GPL-2.0-or-later",
        "Charles Barbin",
        "Red and yellow marigold flower",
        ["Nature|Flower", "garden"],
        "lightroom",
    ),
    Photo(
        "garden/orange-flower.jpg",
        "mate-backgrounds",
        MATE + "FreshFlower.jpg",
        "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e",
        "GPL-2.0-or-later",
        "Jens Ansorg",
        "Orange flower petals, close-up",
    ),
    Photo(
        "garden/dandelion-seeds.jpg",
        "mate-backgrounds",
        MATE + "TwoWings.jpg",
        "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb",
        "GPL-2.0-or-later",
        "Charles Barbin, Hylke Bons",
        "Two dandelion seeds in front of orange flowers, macro",
    ),
    Photo(
        "garden/dandelions-at-dusk.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "seeding_by_Clements_Engelhardt.jpg",
        "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
        "CC0-1.0",
        "Clemens Engelhardt",
        "Dandelion clocks in a meadow against the low sun",
    ),
    Photo(
        "garden/raindrops-on-leaf.jpg",
        "mate-backgrounds",
        MATE + "RainDrops.jpg",
        "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16",
        "GPL-2.0-or-later",
        "blackcombwhistler07",
        "Raindrops on a green leaf",
    ),
    Photo(
        "garden/leaf-macro.jpg",
        "mate-backgrounds",
        MATE + "Blinds.jpg",
        "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600",
        "GPL-2.0-or-later",
        "Lennart Poettering, Andrea Cimitan",
        "Veins of a green leaf, macro",
        ["Nature|Plant", "garden", "macro"],
        "xmp",
    ),
    Photo(
        "garden/dahlia.jpg",
        "scikit-learn",
        "sklearn/datasets/images/flower.jpg",
        "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
        "CC-BY-2.0",
        "vultilion (Flickr)",
        "Orange dahlia flower",
        ["Nature|Flower", "garden"],
        "digikam",
    ),
    Photo(
        "garden/nuthatch.heic",
        "lomiri-wallpapers-20.04",
        LOMIRI + "Kleiber_by_Lukas_Baubkus.jpg",
        "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7",
        "CC-BY-SA-3.0",
        "Lukas Baubkus",
        "Nuthatch climbing a tree trunk (saved as HEIC)",
        ["Animals|Bird", "garden"],
        "lightroom",
    ),
    # --- hiking
    Photo(
        "hiking/aitzgorri.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "aitzgorri_by_Aitzol_Berasategi.jpg",
        "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36",
        "CC-BY-4.0",
        "Aitzol Berasategi",
        "Aitzgorri mountain range above autumn woods and a meadow",
        ["Places|Spain|Aitzgorri", "Nature|Mountains", "hiking", "autumn"],
        "lightroom",
        creator="Aitzol Berasategi",
    ),
    Photo(
        "hiking/picos-de-europa.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a",
        "CC-BY-4.0",
        "Aitzol Berasategi",
        "Trail across a pasture below the peaks of the Picos de Europa",
        ["Places|Spain|Picos de Europa", "Nature|Mountains", "hiking"],
        "lightroom",
        creator="Aitzol Berasategi",
    ),
    Photo(
        "hiking/forest-stream.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "life_by_Aitzol_Berasategi.jpg",
        "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05",
        "CC-BY-4.0",
        "Aitzol Berasategi",
        "Stream running over rocks through a forest",
    ),
    Photo(
        "hiking/mountain-sunset.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "sunset_by_Aitzol_Berasategi.jpg",
        "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18",
        "CC-BY-4.0",
        "Aitzol Berasategi",
        "Sun setting over mountain ridges, seen from a summit",
    ),
    Photo(
        "hiking/forest-path.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "Path/contents/images/2560x1600.jpg",
        "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8",
        "LGPL-3.0-only",
        "Risto Saukonpää",
        "Path through a dark pine forest",
    ),
    # --- 2022-holiday
    Photo(
        "2022-holiday/rowing-boats.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "EveningGlow/contents/images/2560x1600.jpg",
        "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a",
        "LGPL-3.0-only",
        "Ian Hex",
        "Wooden rowing boats on a lake shore at sunset",
        ["Nature|Lake", "holiday", "sunset", "boats"],
        "lightroom",
    ),
    Photo(
        "2022-holiday/pier-bw.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "ColdRipple/contents/images/2560x1600.jpg",
        "05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f",
        "LGPL-3.0-only",
        "Risto Saukonpää",
        "Wooden pier in fog, black and white",
        ["Nature|Lake", "holiday", "bw"],
        "darktable",
    ),
    Photo(
        "2022-holiday/boardwalk.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "BytheWater/contents/images/2560x1600.jpg",
        "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f",
        "LGPL-3.0-only",
        "Maciej Wiklo",
        "Wooden boardwalk by a lake, shallow depth of field",
        ["Nature|Lake", "holiday"],
        "embedded",
    ),
    Photo(
        "2022-holiday/kite.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "Kite/contents/images/2560x1600.jpg",
        "bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8",
        "LGPL-3.0-only",
        "Risto Saukonpää",
        "A kite high in a blue sky with clouds",
        ["holiday", "sky"],
        "xpkeywords",
    ),
    Photo(
        "2022-holiday/dune-grass.jpg",
        "mate-backgrounds",
        MATE + "Dune.jpg",
        "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91",
        "GPL-2.0-or-later",
        "Marco Cogoni, Hylke Bons",
        "Dune grass in front of the sea",
        ["Nature|Sea", "holiday"],
        "embedded",
    ),
    Photo(
        "2022-holiday/lake-at-dusk.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "summer_1am/contents/images/2560x1600.jpg",
        "c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8",
        "LGPL-3.0-only",
        "Risto Saukonpää",
        "Calm lake with reeds under a pink and violet dusk sky",
    ),
    Photo(
        "2022-holiday/storm-on-the-road.jpg",
        "mate-backgrounds",
        MATE + "Storm.jpg",
        "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957",
        "GPL-2.0-or-later",
        "Sergey Nazarov",
        "Storm clouds over fields, seen from a moving car",
    ),
    # --- home
    Photo(
        "home/espresso.jpg",
        "scikit-image",
        "skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        "CC0-1.0",
        "Rachel Michetti",
        "Espresso in a red cup and saucer on a wooden table",
        ["Food|Coffee", "home"],
        "lightroom",
        creator="Rachel Michetti",
        object="coffee cup",
        imagenet=["espresso", "cup", "coffee mug"],
    ),
    Photo(
        "home/fig-in-red-bowl.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "Picture_0B_by_freespace.jpg",
        "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
        "CC-BY-4.0",
        'Trevor "Freespace"',
        "Half a fig in a red bowl on concrete",
        ["Food|Fruit", "home"],
        "embedded",
        object="fig",
    ),
    Photo(
        "home/water-drop.jpg",
        "mate-backgrounds",
        MATE + "Aqua.jpg",
        "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce",
        "GPL-2.0-or-later",
        "Charles Barbin",
        "A drop splashing into water, macro",
        ["water", "macro", "home"],
        "embedded",
    ),
    Photo(
        "home/living-room.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "Wine_by_Jakkub_Mede.jpg",
        "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74",
        "CC-BY-4.0",
        "Jakub Mede",
        "Living room with a djembe on a beanbag and wine on a pallet table",
        ["home"],
        "lightroom",
    ),
    Photo(
        "home/paintbrushes.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "Picture_1A_by_freespace.jpg",
        "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b",
        "CC-BY-4.0",
        'Trevor "Freespace"',
        "Paintbrushes with coloured bristles in a jar",
        object="paintbrush",
        imagenet=["paintbrush"],
    ),
    Photo(
        "home/wall-clock.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "greentock_by_Peter_Nerlich.jpg",
        "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889",
        "CC-BY-SA-4.0",
        "Peter Nerlich",
        "Face of a modern wall clock, close-up at an angle",
        object="wall clock",
    ),
    Photo(
        "home/lamp-and-bird.jpg",
        "lomiri-wallpapers-16.04",
        LOMIRI + "free_by_Peter_Nerlich.jpg",
        "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373",
        "CC-BY-SA-4.0",
        "Peter Nerlich",
        "Toy bird hanging from a ceiling lamp",
    ),
    # --- city
    Photo(
        "city/building-facade-bw.jpg",
        "plasma-workspace-wallpapers",
        PLASMA + "Grey/contents/images/2560x1600.jpg",
        "88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed",
        "LGPL-3.0-only",
        "Sigi Sagi",
        "Woven metal facade of a modern building, black and white",
        ["architecture", "bw"],
        "darktable",
    ),
    Photo(
        "city/cameraman.png",
        "scikit-image",
        "skimage/data/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
        "CC0-1.0",
        "Lav Varshney",
        "Man with a film camera on a tripod, black and white (kept as PNG)",
        ["people", "bw"],
        "lightroom",
        object="tripod",
        imagenet=["tripod"],
    ),
    # --- 2011-beijing
    Photo(
        "2011-beijing/summer-palace.jpg",
        "scikit-learn",
        "sklearn/datasets/images/china.jpg",
        "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
        "CC-BY-2.0",
        "danielbuechele (Flickr)",
        "Tower of Buddhist Incense at the Summer Palace, Beijing",
        ["Places|China|Summer Palace", "architecture", "travel"],
        "embedded",
    ),
    # --- downloads
    Photo(
        "downloads/astronaut.jpg",
        "scikit-image",
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "public-domain",
        "NASA",
        "Portrait of astronaut Eileen Collins in her flight suit",
        ["space", "people"],
        "lightroom",
    ),
    Photo(
        "downloads/rocket-launch.jpg",
        "scikit-image",
        "skimage/data/rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
        "public-domain",
        "SpaceX",
        "Falcon 9 rocket on the launch pad at dusk (DSCOVR launch)",
        ["space"],
        "darktable",
        object="rocket",
        imagenet=["missile", "projectile", "space shuttle"],
    ),
    Photo(
        "downloads/hubble-deep-field.jpg",
        "scikit-image",
        "skimage/data/hubble_deep_field.jpg",
        "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
        "public-domain",
        "NASA",
        "Hubble eXtreme Deep Field: thousands of galaxies",
    ),
    Photo(
        "downloads/grace-hopper.jpg",
        "matplotlib",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        "public-domain",
        "James S. Davis, US Navy",
        "Official portrait of Commodore Grace Hopper",
    ),
]


# ---------------------------------------------------------------- sources


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def fetch_package(name: str, cache: Path, download: bool) -> Path:
    """Return the downloaded wheel or .deb of `name` (downloading it when missing)."""
    kind, version = PACKAGES[name]
    folder = cache / kind
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "pypi":
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(folder),
            f"{name}=={version}",
        ]
    else:
        pattern = f"{name}_*{version.split(':')[-1]}_*.deb"  # the epoch is written as %3a
        command = ["apt-get", "download", f"{name}={version}"]
    found = sorted(folder.glob(pattern))
    if not found and download:
        _run(command, cwd=folder)
        found = sorted(folder.glob(pattern))
    if not found:
        sys.exit(f"build_examples: {name} {version} is not in {folder} (run without --no-download)")
    return found[-1]


class Sources:
    """Reads members out of wheels (zip) and .debs (dpkg-deb --fsys-tarfile), checking hashes."""

    def __init__(self, cache: Path, download: bool):
        self.cache = cache
        self.download = download
        self._tars: dict[str, tarfile.TarFile] = {}

    def read(self, photo: Photo) -> bytes:
        archive = fetch_package(photo.package, self.cache, self.download)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                data = wheel.read(photo.member)
        else:
            if photo.package not in self._tars:
                tar_bytes = subprocess.run(
                    ["dpkg-deb", "--fsys-tarfile", str(archive)], check=True, capture_output=True
                ).stdout
                self._tars[photo.package] = tarfile.open(fileobj=io.BytesIO(tar_bytes))
            member = self._tars[photo.package].extractfile(photo.member)
            if member is None:
                sys.exit(f"build_examples: {photo.member} is not a file in {archive.name}")
            data = member.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != photo.sha256:
            sys.exit(f"build_examples: {photo.package}:{photo.member} has sha256 {digest}, expected {photo.sha256}")
        return data


# ---------------------------------------------------------------- images


def write_image(data: bytes, target: Path) -> None:
    """Downscale one original to `target`; nothing of the original metadata is copied but colour."""
    with Image.open(io.BytesIO(data)) as original:
        image = ImageOps.exif_transpose(original)
        icc = original.info.get("icc_profile")
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
    extension = target.suffix.lower()
    options: dict = {"icc_profile": icc} if icc else {}
    if extension == ".png":
        image.save(target, "PNG", optimize=True, **options)
    elif extension == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        image.save(target, "HEIF", quality=80, **options)
    else:
        image.save(target, "JPEG", quality=JPEG_QUALITY, optimize=True, **options)


# ---------------------------------------------------------------- tags


def leaf(tag: str) -> str:
    return tag.split("|")[-1]


def flat_tags(tags: list[str]) -> list[str]:
    """dc:subject / IPTC: the leaves of hierarchical tags plus the flat ones."""
    return list(dict.fromkeys(leaf(tag) for tag in tags))


def _bag(element: str, values: list[str], kind: str = "Bag") -> str:
    if not values:
        return ""
    items = "".join(f"\n     <rdf:li>{escape(value)}</rdf:li>" for value in values)
    return f"\n   <{element}>\n    <rdf:{kind}>{items}\n    </rdf:{kind}>\n   </{element}>"


def sidecar_xml(photo: Photo, style: str) -> str:
    """A sidecar in the shape the named editor writes (tool attribution is honest: this script)."""
    hierarchical = [tag for tag in photo.tags if "|" in tag]
    body = ""
    if photo.creator:
        body += _bag("dc:creator", [photo.creator], "Seq")
    body += _bag("dc:subject", flat_tags(photo.tags))
    namespaces = (
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"'
    )
    attributes = '   xmp:CreatorTool="phototag examples/build_examples.py"'
    if style == "darktable":
        namespaces += (
            '\n    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"\n    xmlns:darktable="http://darktable.sf.net/"'
        )
        attributes += (
            f'\n   xmpMM:DerivedFrom="{escape(Path(photo.file).name)}"'
            '\n   darktable:xmp_version="5"\n   darktable:raw_params="0"\n   darktable:history_end="0"'
        )
        body += _bag("lr:hierarchicalSubject", hierarchical)
        body += "\n   <darktable:history>\n    <rdf:Seq/>\n   </darktable:history>"
    elif style == "digikam":
        namespaces += '\n    xmlns:digiKam="http://www.digikam.org/ns/1.0/"'
        body += _bag("digiKam:TagsList", [tag.replace("|", "/") for tag in hierarchical], "Seq")
    else:  # lightroom
        body += _bag("lr:hierarchicalSubject", hierarchical)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        f"{namespaces}\n{attributes}>{body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
    )


def sidecar_path(photo_path: Path, style: str) -> Path:
    if style == "lightroom":
        return photo_path.with_suffix(".xmp")  # IMG.xmp
    return photo_path.with_name(photo_path.name + ".xmp")  # IMG.jpg.xmp


def write_tags(photo: Photo, path: Path) -> list[str]:
    """Tag one photo through its channel; returns the files written (relative names)."""
    if not photo.tags:
        return []
    channel = photo.channel
    if channel in ("lightroom", "darktable", "digikam"):
        sidecar = sidecar_path(path, channel)
        sidecar.write_text(sidecar_xml(photo, channel), encoding="utf-8")
        return [sidecar.name]
    hierarchical = [tag for tag in photo.tags if "|" in tag]
    arguments: list[str] = []
    if channel in ("embedded", "iptc"):
        arguments += ["-IPTC:CodedCharacterSet=UTF8"] + [f"-IPTC:Keywords={tag}" for tag in flat_tags(photo.tags)]
    if channel in ("embedded", "xmp"):
        arguments += [f"-XMP-dc:Subject={tag}" for tag in flat_tags(photo.tags)]
        arguments += [f"-XMP-lr:HierarchicalSubject={tag}" for tag in hierarchical]
        if photo.creator:
            arguments += [f"-XMP-dc:Creator={photo.creator}"]
    if channel == "xpkeywords":
        arguments += ["-EXIF:XPKeywords=" + ";".join(flat_tags(photo.tags))]
    if not arguments:
        raise ValueError(f"{photo.file}: unknown channel {channel!r}")
    _run(["exiftool", "-q", "-overwrite_original", *arguments, str(path)])
    return []


# ---------------------------------------------------------------- documents


def source_label(photo: Photo) -> str:
    kind, version = PACKAGES[photo.package]
    where = "PyPI" if kind == "pypi" else "Debian"
    return f"{where} `{photo.package}` {version}: `{photo.member.lstrip('./')}`"


def sources_json(photos: list[Photo]) -> dict:
    entries = []
    for photo in photos:
        kind, version = PACKAGES[photo.package]
        entries.append(
            {
                "file": photo.file,
                "source": {
                    "kind": kind,
                    "package": photo.package,
                    "version": version,
                    "path": photo.member.lstrip("./"),
                    "sha256": photo.sha256,
                },
                "licence": photo.licence,
                "licence_url": LICENCE_URLS[photo.licence],
                "licence_evidence": LICENCE_EVIDENCE[photo.package],
                "author": photo.author,
                "subject": photo.subject,
                "object": photo.object,
                "imagenet": photo.imagenet,
                "tags": photo.tags,
                "channel": photo.channel if photo.tags else None,
                "creator": photo.creator,
            }
        )
    tagged = [photo for photo in photos if photo.tags]
    by_channel = {channel: sum(1 for photo in tagged if photo.channel == channel) for channel in CHANNELS}
    return {
        "about": "Provenance of every file in examples/library (rebuilt by examples/build_examples.py).",
        "modifications": f"EXIF-rotated, downscaled to at most {LONGEST_SIDE} px, re-encoded (JPEG quality "
        f"{JPEG_QUALITY}), "
        "original metadata removed, keywords added as listed in 'tags'.",
        "summary": {
            "photos": len(photos),
            "tagged": len(tagged),
            "untagged": len(photos) - len(tagged),
            "by_channel": by_channel,
        },
        "photos": entries,
    }


README_HEAD = """\
# Example library

`examples/library/` is a small, made-up personal photo library of {photos} real photos,
for the quick start and for tests:

```
phototag scan examples/library
phototag tags examples/library
phototag suggest examples/library
```

It is organised like one person's folders (`pets/`, `garden/`, `hiking/`,
`2022-holiday/`, `home/`, `city/`, `2011-beijing/`, `downloads/`) and tagged
with one consistent personal vocabulary: hierarchical tags such as
`Animals|Cat`, `Nature|Flower`, `Places|Spain|Aitzgorri`, `Food|Coffee`, and
flat ones such as `garden`, `macro`, `holiday`, `hiking`, `bw`, `home`.
**{tagged} photos are tagged and {untagged} are untagged**, so `suggest` has
both a history to learn from and photos to suggest for. The tags are true to
what each photo shows.

The keywords are stored the ways real editors store them:

| channel | how | photos |
|---|---|---|
| Lightroom-style sidecar | `NAME.xmp` with `dc:subject` + `lr:hierarchicalSubject` | {lightroom} |
| darktable-style sidecar | `NAME.jpg.xmp` with `dc:subject` + `lr:hierarchicalSubject` | {darktable} |
| digiKam-style sidecar | `NAME.jpg.xmp` with `dc:subject` + `digiKam:TagsList` (`/`) | {digikam} |
| embedded IPTC + XMP | IPTC Keywords and XMP `dc:subject` (+ `lr:hierarchicalSubject`) inside the JPEG | {embedded} |
| embedded IPTC only | IPTC Keywords inside the JPEG | {iptc} |
| embedded XMP only | XMP `dc:subject` + `lr:hierarchicalSubject` inside the JPEG | {xmp} |
| EXIF XPKeywords | Windows Explorer's `XPKeywords` (`;`-separated) | {xpkeywords} |

A few photos also carry `dc:creator` (the photographer's name). One photo is a
PNG (`city/cameraman.png`) and one a HEIC (`garden/nuthatch.heic`, with a
sidecar); the rest are JPEGs.

Photos of one unambiguous everyday object ({objects}) name it in
`sources.json` (`object`). Where EfficientNet-Lite0 with the packaged ImageNet
weights puts a fitting ImageNet-1k class in its top 5, those classes are listed
in `imagenet`, so a model check can use these photos; the surest are
`pets/cat-chelsea.jpg` (tabby), `home/espresso.jpg` (espresso),
`home/paintbrushes.jpg` (paintbrush) and `city/cameraman.png` (tripod).

## Sources and licences

Every photo is a real photograph taken from an openly licensed file in a PyPI
wheel or a Debian package; `sources.json` has the same facts in machine-readable
form, with the SHA-256 of each original. Our copies are modified: EXIF-rotated,
downscaled to at most {side} px on the longest side, re-encoded (JPEG quality
{quality}), all original metadata removed, and keywords added. Redistribution
follows each licence: CC BY / CC BY-SA photos are credited below (and the BY-SA
ones stay under BY-SA), GPL/LGPL photos come from the named packages, whose
sources are public.

Rebuild (checks every original's SHA-256, needs Debian's `exiftool`,
`apt-get`, `dpkg-deb`, and Pillow + pillow-heif):

```
python examples/build_examples.py            # downloads ~230 MB into ~/.cache/phototag-examples once
```

| file | shows | source (package version: path) | author | licence |
|---|---|---|---|---|
"""

README_TAIL = """
Where each licence is stated: scikit-image — the docstring of the matching
`skimage.data` loader (`chelsea`, `coffee`, `camera`: "CC0 by the photographer";
`astronaut`, `rocket`, `hubble_deep_field`: NASA/SpaceX, public domain);
scikit-learn — `sklearn/datasets/images/README.txt` (CC BY 2.0, Flickr users
danielbuechele for china.jpg and vultilion for flower.jpg: that README repeats
danielbuechele's name in flower.jpg's attribution line, but links vultilion's
photo, and the JPEG's own XMP Rights field says www.vultilion.de); matplotlib — `grace_hopper.jpg` is the official
US Navy portrait of Grace Hopper (James S. Davis, 1984), a work of the US
government and in the public domain; Debian packages —
`/usr/share/doc/<package>/copyright` (and, for plasma-workspace-wallpapers,
each wallpaper's `metadata.json`, which names author and licence).
"""


def readme(photos: list[Photo], summary: dict) -> str:
    text = README_HEAD.format(
        photos=summary["photos"],
        tagged=summary["tagged"],
        untagged=summary["untagged"],
        side=LONGEST_SIDE,
        quality=JPEG_QUALITY,
        **summary["by_channel"],
        objects=", ".join(photo.object for photo in photos if photo.object),
    )
    for photo in photos:
        link = f"[{photo.licence}]({LICENCE_URLS[photo.licence]})"
        text += f"| `{photo.file}` | {photo.subject} | {source_label(photo)} | {photo.author} | {link} |\n"
    return text + README_TAIL


# ---------------------------------------------------------------- main


def build(cache: Path, out: Path, download: bool) -> dict:
    sources = Sources(cache, download)
    staging = Path(tempfile.mkdtemp(prefix=".library-", dir=out.parent))
    try:
        for photo in PHOTOS:
            target = staging / photo.file
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(sources.read(photo), target)
            write_tags(photo, target)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    document = sources_json(PHOTOS)
    (out.parent / "sources.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out.parent / "README.md").write_text(readme(PHOTOS, document["summary"]), encoding="utf-8")
    return document["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "phototag-examples",
        help="where downloaded wheels and .debs are kept",
    )
    parser.add_argument("--out", type=Path, default=HERE / "library", help="library folder to (re)create")
    parser.add_argument("--no-download", action="store_true", help="use only what is already in the cache")
    args = parser.parse_args()
    if shutil.which("exiftool") is None:
        sys.exit("build_examples: exiftool is needed (apt-get install exiftool)")
    summary = build(args.cache.resolve(), args.out.resolve(), not args.no_download)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
