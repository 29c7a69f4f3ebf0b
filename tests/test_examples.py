"""The example library shipped in examples/: provenance, image sizes and where its keywords live.

The keywords are read three ways: with Pillow + defusedxml (independent of phototag),
with phototag's own reader (as `phototag scan` does), and with exiftool where it
is installed, and all three must agree with examples/sources.json.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from defusedxml import ElementTree
from PIL import Image, IptcImagePlugin

from phototag.filetypes import PHOTO_EXTENSIONS
from phototag.library.history import normalise, photo_tags_of
from phototag.library.metadata import read_photo_metadata
from phototag.library.walk import match_sidecars

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LIBRARY = EXAMPLES / "library"
SOURCES = json.loads((EXAMPLES / "sources.json").read_text(encoding="utf-8"))
ENTRIES = {entry["file"]: entry for entry in SOURCES["photos"]}

# Licences that allow redistribution of a modified copy.
REDISTRIBUTABLE = {
    "CC0-1.0",
    "public-domain",
    "CC-BY-2.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "GPL-2.0-or-later",
    "LGPL-3.0-only",
}
SIDECAR_CHANNELS = {"lightroom", "darktable", "digikam"}
MAX_SIDE = 1600
MAX_TOTAL_BYTES = 8 * 1024 * 1024

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XMP_FIELDS = {
    "{http://purl.org/dc/elements/1.1/}subject": "flat",
    "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject": "hierarchical",
    "{http://www.digikam.org/ns/1.0/}TagsList": "digikam",
    "{http://purl.org/dc/elements/1.1/}creator": "creator",
}


def library_files() -> list[Path]:
    return sorted(path for path in LIBRARY.rglob("*") if path.is_file())


def photo_files() -> list[Path]:
    return [path for path in library_files() if path.suffix.lower().lstrip(".") in PHOTO_EXTENSIONS]


def relative(path: Path) -> str:
    return path.relative_to(LIBRARY).as_posix()


def sidecars_of(photo: Path) -> list[Path]:
    names = [path.name for path in photo.parent.iterdir() if path.suffix.lower() == ".xmp"]
    pairs, _ = match_sidecars([photo.name], names)
    return [photo.parent / name for name in pairs[photo.name]]


def xmp_values(data: bytes) -> dict[str, list[str]]:
    values: dict[str, list[str]] = defaultdict(list)
    root = ElementTree.fromstring(data.strip(b"\x00 \n"))
    for name, kind in XMP_FIELDS.items():
        for element in root.iter(name):
            values[kind] += [item.text or "" for item in element.iter(RDF + "li")]
    return dict(values)


def read_keywords(photo: Path) -> dict[str, dict[str, list[str]]]:
    """Keywords by channel, read with Pillow and defusedxml only."""
    found: dict[str, dict[str, list[str]]] = {}
    for sidecar in sidecars_of(photo):
        channel = "lightroom" if sidecar.name.lower() == photo.with_suffix(".xmp").name.lower() else "jpg.xmp"
        found[channel] = xmp_values(sidecar.read_bytes())
    if photo.suffix.lower() == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(photo) as image:
        if image.info.get("xmp"):
            found["xmp"] = xmp_values(image.info["xmp"])
        iptc = IptcImagePlugin.getiptcinfo(image) if image.format == "JPEG" else None
        if iptc and (2, 25) in iptc:
            keywords = iptc[(2, 25)]
            keywords = keywords if isinstance(keywords, list) else [keywords]
            found["iptc"] = {"flat": [keyword.decode("utf-8") for keyword in keywords]}
        xp = image.getexif().get(0x9C9E)
        if xp:
            text = bytes(xp).decode("utf-16-le").rstrip("\x00")
            found["xpkeywords"] = {"flat": text.split(";")}
    return found


def expected_flat(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tag.split("|")[-1] for tag in tags))


def test_every_file_has_a_redistributable_licence_entry():
    photos = {relative(path) for path in photo_files()}
    assert len(photos) == SOURCES["summary"]["photos"]
    assert 30 <= len(photos) <= 40
    assert photos == set(ENTRIES), "sources.json and examples/library list different photos"
    for entry in SOURCES["photos"]:
        assert entry["licence"] in REDISTRIBUTABLE, entry["file"]
        assert entry["licence_url"].startswith("https://"), entry["file"]
        assert entry["author"] and entry["subject"] and entry["licence_evidence"], entry["file"]
        source = entry["source"]
        assert source["kind"] in ("pypi", "debian") and source["package"] and source["version"] and source["path"]
        assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), entry["file"]
    # Everything else in the library is a sidecar of one of those photos.
    paired = {sidecar for path in photo_files() for sidecar in sidecars_of(path)}
    others = set(library_files()) - set(photo_files())
    assert others == paired, f"files that are neither listed photos nor their sidecars: {sorted(others - paired)}"


def test_readme_table_gives_every_photo_with_its_licence():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \| (.+?) \| (.+?) \| \[([^\]]+)\]\(([^)]+)\) \|$", readme, re.M)
    table = {row[0]: row for row in rows}
    assert set(table) == set(ENTRIES)
    for file, (_, subject, source, author, licence, url) in table.items():
        entry = ENTRIES[file]
        assert (subject, author, licence, url) == (
            entry["subject"],
            entry["author"],
            entry["licence"],
            entry["licence_url"],
        )
        assert entry["source"]["package"] in source and entry["source"]["path"] in source
    summary = SOURCES["summary"]
    assert f"**{summary['tagged']} photos are tagged and {summary['untagged']} are untagged**" in readme


def test_committed_documents_are_what_the_builder_writes():
    """sources.json and README.md must be regenerated whenever build_examples.py changes."""
    spec = importlib.util.spec_from_file_location("build_examples", EXAMPLES / "build_examples.py")
    builder = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = builder  # dataclasses look their module up while the class is built
    spec.loader.exec_module(builder)
    document = builder.sources_json(builder.PHOTOS)
    assert document == SOURCES
    assert builder.readme(builder.PHOTOS, document["summary"]) == (EXAMPLES / "README.md").read_text(encoding="utf-8")


def test_every_image_opens_and_is_small():
    import pillow_heif

    pillow_heif.register_heif_opener()
    formats = Counter()
    for path in photo_files():
        with Image.open(path) as image:
            image.load()
            assert max(image.size) <= MAX_SIDE, f"{relative(path)} is {image.size}"
            assert min(image.size) >= 256, f"{relative(path)} is too small to be useful: {image.size}"
            assert image.mode in ("RGB", "L"), f"{relative(path)}: {image.mode}"
            formats[image.format] += 1
    assert formats["JPEG"] >= 30 and formats["PNG"] == 1 and formats["HEIF"] == 1
    total = sum(path.stat().st_size for path in library_files())
    assert total < MAX_TOTAL_BYTES, f"examples/library is {total / 2**20:.1f} MiB"


@pytest.mark.parametrize("file", sorted(ENTRIES))
def test_keywords_are_exactly_where_sources_json_says(file):
    entry = ENTRIES[file]
    found = read_keywords(LIBRARY / file)
    tags, channel = entry["tags"], entry["channel"]
    flat = expected_flat(tags)
    hierarchical = [tag for tag in tags if "|" in tag]
    creator = [entry["creator"]] if entry["creator"] else []
    if not tags:
        assert found == {}, f"{file} is documented as untagged but carries {found}"
        return
    if channel in SIDECAR_CHANNELS:
        assert set(found) == {"lightroom" if channel == "lightroom" else "jpg.xmp"}, found
        values = next(iter(found.values()))
        assert values.get("flat") == flat
        assert values.get("creator", []) == creator
        if channel == "digikam":
            assert values.get("digikam") == [tag.replace("|", "/") for tag in hierarchical]
        else:
            assert values.get("hierarchical", []) == hierarchical
    elif channel == "embedded":
        assert set(found) == {"xmp", "iptc"}, found
        assert found["iptc"]["flat"] == flat
        assert found["xmp"].get("flat") == flat and found["xmp"].get("hierarchical", []) == hierarchical
        assert found["xmp"].get("creator", []) == creator
    elif channel == "xmp":
        assert set(found) == {"xmp"}, found
        assert found["xmp"].get("flat") == flat and found["xmp"].get("hierarchical", []) == hierarchical
    elif channel in ("iptc", "xpkeywords"):
        assert found == {channel: {"flat": flat}}
    else:
        pytest.fail(f"{file}: unknown channel {channel}")


def test_split_and_channels_are_as_documented():
    tagged = [file for file in ENTRIES if read_keywords(LIBRARY / file)]
    summary = SOURCES["summary"]
    assert len(tagged) == summary["tagged"] and len(ENTRIES) - len(tagged) == summary["untagged"]
    assert 0.5 <= len(tagged) / len(ENTRIES) <= 0.7  # "roughly 60% tagged"
    by_channel = Counter(ENTRIES[file]["channel"] for file in tagged)
    assert dict(by_channel) == {channel: count for channel, count in summary["by_channel"].items() if count}
    assert set(by_channel) == {"lightroom", "darktable", "digikam", "embedded", "iptc", "xmp", "xpkeywords"}
    assert sum(1 for entry in ENTRIES.values() if entry["creator"]) >= 3
    # Every folder except single-purpose ones mixes tagged and untagged photos, like a real library.
    untagged_folders = {file.split("/")[0] for file in ENTRIES if file not in tagged}
    assert len(untagged_folders) >= 5


def test_phototag_reader_sees_the_documented_tags():
    for file, entry in ENTRIES.items():
        photo = LIBRARY / file
        metadata = read_photo_metadata(photo, sidecars_of(photo))
        assert metadata.warnings == [], metadata.warnings
        tags = photo_tags_of(metadata.keywords)
        assert sorted(tags.keys) == sorted(normalise(tag) for tag in expected_flat(entry["tags"])), file
        for tag in entry["tags"]:
            if "|" in tag:
                assert tags.paths[normalise(tag.split("|")[-1])] == tuple(tag.split("|")), file
        assert metadata.creator == entry["creator"], file


def test_exiftool_reads_the_same_keywords(exiftool):
    output = subprocess.run(
        [
            exiftool,
            "-json",
            "-r",
            "-G1",
            "-struct",
            "-IPTC:Keywords",
            "-XMP-dc:Subject",
            "-XMP-lr:HierarchicalSubject",
            "-XMP-digiKam:TagsList",
            "-XPKeywords",
            "-ext+",
            "xmp",
            str(LIBRARY),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, set[str]] = defaultdict(set)
    for record in json.loads(output):
        path = Path(record["SourceFile"])
        name = path.name[: -len(".xmp")] if path.suffix.lower() == ".xmp" else path.name
        if path.suffix.lower() == ".xmp" and "." not in name:  # Lightroom-style NAME.xmp
            name = next(p.name for p in path.parent.iterdir() if p.stem == name and p.suffix.lower() != ".xmp")
        key = relative(path.parent / name)
        for field, value in record.items():
            if field == "SourceFile":
                continue
            values = value if isinstance(value, list) else str(value).split(";" if "XPKeywords" in field else "\x00")
            found[key] |= {str(item).replace("/", "|") for item in values}
    for file, entry in ENTRIES.items():
        assert found.get(file, set()) == set(expected_flat(entry["tags"])) | {t for t in entry["tags"] if "|" in t}, (
            file
        )
