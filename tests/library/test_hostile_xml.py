"""Hostile XMP (sidecars and embedded packets) is refused with one warning naming the file,
never followed, and the photo's other sources are still read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from photos import make_jpeg, xmp_sidecar
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from phototag.library.metadata import read_photo_metadata, read_sidecar

SECRET = "TOP-SECRET-7f3a9c"

HEAD = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
BODY = (
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<dc:subject><rdf:Bag><rdf:li>{value}</rdf:li><rdf:li>innocent</rdf:li></rdf:Bag></dc:subject>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta [{"".join(entities)}]>\n' + HEAD + BODY.format(value="&lol9;")


def external_entity(secret: Path) -> str:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        + HEAD
        + BODY.format(value="&xxe;")
    )


def external_parameter_entity(secret: Path) -> str:
    doctype = f'<!DOCTYPE x:xmpmeta [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]>'
    return f'<?xml version="1.0"?>\n{doctype}\n' + HEAD + BODY.format(value="x")


def external_dtd(secret: Path) -> str:
    return f'<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta SYSTEM "{secret.as_uri()}">\n' + HEAD + BODY.format(value="x")


def plain_dtd() -> str:
    return '<?xml version="1.0"?>\n<!DOCTYPE x:xmpmeta [<!ELEMENT x:xmpmeta ANY>]>\n' + HEAD + BODY.format(value="x")


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


HOSTILE = {
    "billion_laughs": lambda secret: billion_laughs(),
    "external_entity": external_entity,
    "external_parameter_entity": external_parameter_entity,
    "external_dtd": external_dtd,
    "plain_dtd": lambda secret: plain_dtd(),
}


def _assert_refused(meta, file: Path) -> None:
    assert SECRET not in repr(meta)
    assert "innocent" not in meta.flat()  # nothing of the packet is trusted
    refusals = [w for w in meta.warnings if "refused" in w]
    assert len(refusals) == 1, meta.warnings
    assert refusals[0].startswith(f"{file}: ")
    assert "\n" not in refusals[0]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_sidecar_is_refused_and_the_rest_is_read(tmp_path, secret, kind, et):
    photo = make_jpeg(tmp_path / "IMG_1.jpg")
    et.write(photo, "-IPTC:Keywords=embedded")
    hostile = tmp_path / "IMG_1.xmp"
    hostile.write_text(HOSTILE[kind](secret), encoding="utf-8")
    good = tmp_path / "IMG_1.jpg.xmp"
    good.write_text(xmp_sidecar(subjects=["from the good sidecar"]), encoding="utf-8")
    started = time.perf_counter()
    meta = read_photo_metadata(photo, [hostile, good])
    assert time.perf_counter() - started < 5  # no expansion happened
    _assert_refused(meta, hostile)
    assert meta.flat() == {"embedded", "from the good sidecar"}
    assert (meta.width, meta.height) == (96, 64)


def _jpeg_with_app1_xmp(path: Path, packet: bytes) -> Path:
    data = path.read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\0" + packet
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    path.write_bytes(data[:2] + segment + data[2:])
    return path


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_embedded_xmp_in_jpeg(tmp_path, secret, kind, et):
    photo = make_jpeg(tmp_path / "e.jpg")
    et.write(photo, "-IPTC:Keywords=iptc survives", "-XPKeywords=exif survives")
    _jpeg_with_app1_xmp(photo, HOSTILE[kind](secret).encode("utf-8"))
    with Image.open(photo) as image:  # still a valid JPEG
        image.load()
    meta = read_photo_metadata(photo)
    _assert_refused(meta, photo)
    assert meta.flat() == {"iptc survives", "exif survives"}


def test_hostile_embedded_xmp_in_png_itxt(tmp_path, secret):
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", external_entity(secret), zip=True)
    photo = tmp_path / "e.png"
    Image.new("RGB", (20, 10)).save(photo, pnginfo=info)
    assert b"xmpmeta" not in photo.read_bytes()  # stored compressed: the reader inflates it first
    meta = read_photo_metadata(photo)
    _assert_refused(meta, photo)
    assert (meta.width, meta.height) == (20, 10)


def test_entity_expansion_without_dtd_is_impossible_and_named_entities_fail_cleanly(tmp_path):
    sidecar = tmp_path / "undefined.xmp"
    sidecar.write_text(HEAD + BODY.format(value="&undefined;"), encoding="utf-8")
    meta = read_sidecar(sidecar)
    assert meta.keywords == []
    assert len(meta.warnings) == 1 and "malformed XMP" in meta.warnings[0] and str(sidecar) in meta.warnings[0]


def test_malformed_sidecars_warn_and_do_not_stop_the_others(tmp_path):
    photo = make_jpeg(tmp_path / "m.jpg")
    broken = {
        "unclosed.xmp": HEAD + "<rdf:Description>",
        "garbage.xmp": "this is not XML at all \x00\x01",
        "binary.xmp": None,
        "empty.xmp": "",
    }
    paths = []
    for name, text in broken.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(bytes(range(256)) * 4)
        else:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    good = tmp_path / "m.xmp"
    good.write_text(xmp_sidecar(subjects=["still here"]), encoding="utf-8")
    meta = read_photo_metadata(photo, [*paths, good])
    assert meta.flat() == {"still here"}
    assert len(meta.warnings) == len(paths)
    for path, warning in zip(paths, meta.warnings, strict=True):
        assert warning.startswith(f"{path}: sidecar not read")
