"""The keyword reader on real files: Pillow makes the images, exiftool writes the keywords,
and exiftool's reading of the same file is the reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from photos import make_jpeg, write_sidecar
from PIL import Image, features

from phototag.library.containers import jxl
from phototag.library.keywords import HIERARCHICAL_FIELDS, Keyword
from phototag.library.metadata import read_photo_metadata, read_sidecar

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpora" / "exiftool-keywords"

ALL_TAGS = (
    "-IPTC:Keywords=sunset",
    "-IPTC:Keywords=Café",
    "-IPTC:CodedCharacterSet=UTF8",
    "-XMP-dc:Subject=sunset",
    "-XMP-dc:Subject=東京",
    "-XMP-dc:Subject=rock, paper",  # a comma inside one keyword
    "-XPKeywords=beach;Zürich",
    "-XMP-lr:HierarchicalSubject=Places|Zürich|Altstadt",
    "-XMP-digiKam:TagsList=Places/Zürich",
    "-XMP-dc:Creator=Ana Lima",
    "-Artist=Camera Owner",
)


def _pillow_image(path: Path, size=(80, 60)) -> Path:
    image = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 4):
        image.putpixel((x, size[1] // 3), (250, 250, 250))
    kind = path.suffix.lower()
    if kind == ".heic":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
        image.save(path, quality=80)
    elif kind == ".webp" and path.stem.endswith("lossless"):
        image.save(path, lossless=True)
    else:
        image.save(path)
    return path


def _by_field(keywords: list[Keyword]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for keyword in keywords:
        fields.setdefault(keyword.field, []).append(keyword.text)
    return fields


FORMATS = {
    # format -> the keyword fields exiftool writes there (it writes no IPTC into WebP, HEIC or GIF,
    # and no EXIF into GIF)
    "jpg": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"},
    "png": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"},
    "tif": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"},
    "webp": {"dc:subject", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"},
    "lossless.webp": {"dc:subject", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"},
    "heic": {"dc:subject", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"},
    "gif": {"dc:subject", "lr:hierarchicalSubject", "digiKam:TagsList"},
}
if features.check("avif"):  # Pillow built with libavif
    FORMATS["avif"] = {"dc:subject", "XPKeywords", "lr:hierarchicalSubject", "digiKam:TagsList"}
WRITTEN = {
    "dc:subject": ["sunset", "東京", "rock, paper"],
    "IPTC:Keywords": ["sunset", "Café"],
    "XPKeywords": ["beach", "Zürich"],
    "lr:hierarchicalSubject": ["Places|Zürich|Altstadt"],
    "digiKam:TagsList": ["Places/Zürich"],
}
SOURCE_OF = {
    "dc:subject": "xmp",
    "lr:hierarchicalSubject": "xmp",
    "digiKam:TagsList": "xmp",
    "IPTC:Keywords": "iptc",
    "XPKeywords": "exif",
}


@pytest.fixture(scope="module")
def tagged_formats(tmp_path_factory, et) -> dict[str, Path]:
    """One small image per format, all tagged by one exiftool run."""
    folder = tmp_path_factory.mktemp("formats")
    files = {name: _pillow_image(folder / f"photo.{name}") for name in FORMATS}
    et.write(files.values(), *ALL_TAGS)
    return files


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_field_of_every_format_is_read_as_exiftool_reads_it(tagged_formats, et, name):
    path = tagged_formats[name]
    meta = read_photo_metadata(path)
    ours = _by_field(meta.keywords)
    # what we wrote really is in the file, per exiftool...
    theirs = et.fields(path)
    assert set(theirs) == FORMATS[name]
    for field_name in FORMATS[name]:
        assert sorted(theirs[field_name]) == sorted(WRITTEN[field_name]), field_name
    # ...and we read exactly that, labelled with its source and the photo as its file
    assert {f: sorted(v) for f, v in ours.items()} == {f: sorted(v) for f, v in theirs.items()}
    for keyword in meta.keywords:
        assert keyword.source == SOURCE_OF[keyword.field]
        assert keyword.file == path
    assert meta.creator == "Ana Lima"
    assert meta.warnings == []
    with Image.open(path) as image:  # the header size is the decoded size
        assert (meta.width, meta.height) == image.size


def test_hierarchical_paths_and_flat_view(tagged_formats):
    meta = read_photo_metadata(tagged_formats["jpg"])
    assert ("Places", "Zürich", "Altstadt") in meta.hierarchical()
    assert ("Places", "Zürich") in meta.hierarchical()
    assert meta.flat(["exif"]) == {"beach", "Zürich"}
    assert meta.flat() == {"sunset", "東京", "rock, paper", "Café", "beach", "Zürich"}


# Formats we cannot make with Pillow: exiftool's own sample files, copied to a temp folder and
# tagged there (the originals in ../shared are never touched).
RAW_SAMPLES = {
    "CanonRaw.cr2": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
    "CanonRaw.cr3": {"dc:subject", "XPKeywords", "lr:hierarchicalSubject"},
    "DNG.dng": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
    "Panasonic.rw2": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
    "FujiFilm.raf": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
    "Photoshop.psd": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
    "JXL2.jxl": {"dc:subject", "XPKeywords", "lr:hierarchicalSubject"},
    "GeoTiff.tif": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
    "ExtendedXMP.jpg": {"dc:subject", "IPTC:Keywords", "XPKeywords", "lr:hierarchicalSubject"},
}


@pytest.fixture(scope="module")
def tagged_samples(tmp_path_factory, et) -> dict[str, Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"exiftool sample corpus {CORPUS} is absent (it lives in ../shared)")
    folder = tmp_path_factory.mktemp("samples")
    files = {}
    for name in RAW_SAMPLES:
        files[name] = folder / name
        shutil.copyfile(CORPUS / name, files[name])
    et.write(
        files.values(),
        "-IPTC:Keywords=raw keyword",
        "-XMP-dc:Subject=raw subject",
        "-XMP-dc:Subject=Ölfeld",
        "-XPKeywords=xp one;xp two",
        "-XMP-lr:HierarchicalSubject=Camera|Raw",
    )
    return files


@pytest.mark.parametrize("name", sorted(RAW_SAMPLES))
def test_raw_and_other_containers_agree_with_exiftool(tagged_samples, et, name):
    path = tagged_samples[name]
    theirs = et.fields(path)
    assert set(theirs) == RAW_SAMPLES[name]
    meta = read_photo_metadata(path)
    if name == "JXL2.jxl" and jxl.brotli is not None:
        # the sample's own Brotli-compressed XMP box stays beside the one exiftool adds, and this
        # exiftool cannot read it (test_jpeg_xl_brotli_compressed_metadata)
        theirs["dc:subject"].append("ExifTool test")
    assert {f: sorted(v) for f, v in _by_field(meta.keywords).items()} == {f: sorted(v) for f, v in theirs.items()}
    assert all(k.source == SOURCE_OF[k.field] and k.file == path for k in meta.keywords)


@pytest.mark.parametrize(
    "name", ["CanonRaw.cr2", "CanonRaw.cr3", "DNG.dng", "Nikon.nef", "QuickTime.heic", "Photoshop.psd"]
)
def test_raw_dimensions_are_the_photo_size_not_a_preview(et, name):
    """CR2's IFD0 and DNG's/NEF's IFD0 are reduced previews; exiftool's Composite:ImageSize is
    the photo's size."""
    import json
    import subprocess

    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"exiftool sample corpus {CORPUS} is absent (it lives in ../shared)")
    out = subprocess.run(
        [et.executable, "-j", "-Composite:ImageSize", str(path)], capture_output=True, text=True, check=True
    )
    width, height = (int(v) for v in json.loads(out.stdout)[0]["ImageSize"].split("x"))
    meta = read_photo_metadata(path)
    assert (meta.width, meta.height) == (width, height)


def test_extended_xmp_is_reassembled(tmp_path, et):
    """exiftool moves a large dc:subject into ExtendedXMP APP1 chunks (>64 KB of XMP)."""
    path = make_jpeg(tmp_path / "big.jpg")
    subjects = [f"keyword {i:04d} " + "long description text " * 5 for i in range(900)]
    args = tmp_path / "args.txt"
    args.write_text("".join(f"-XMP-dc:Subject={s}\n" for s in subjects), encoding="utf-8")
    et.write(path, "-@", str(args))
    data = path.read_bytes()
    assert data.count(b"http://ns.adobe.com/xmp/extension/\0") >= 2  # really split over chunks
    meta = read_photo_metadata(path)
    assert sorted(k.text for k in meta.keywords if k.field == "dc:subject") == sorted(subjects)
    assert sorted(et.fields(path)["dc:subject"]) == sorted(subjects)
    assert meta.warnings == []


# --- IPTC character sets ---------------------------------------------------------------------


def test_iptc_latin_without_marker_is_read_as_cp1252(tmp_path, et):
    path = make_jpeg(tmp_path / "latin.jpg")
    et.write(path, "-charset", "iptc=Latin", "-IPTC:Keywords=Café", "-IPTC:Keywords=€uro", "-IPTC:Keywords=Ærø")
    data = path.read_bytes()
    assert b"Caf\xe9" in data and b"\x80uro" in data and b"\x1b%G" not in data  # really Latin, no marker
    keywords = [k.text for k in read_photo_metadata(path).keywords]
    assert sorted(keywords) == sorted(["Café", "€uro", "Ærø"])
    assert sorted(et.fields(path, "-charset", "iptc=Latin")["IPTC:Keywords"]) == sorted(keywords)


def test_iptc_utf8_with_marker(tmp_path, et):
    path = make_jpeg(tmp_path / "utf8.jpg")
    et.write(path, "-IPTC:CodedCharacterSet=UTF8", "-IPTC:Keywords=Café", "-IPTC:Keywords=Łódź", "-IPTC:Keywords=東京")
    data = path.read_bytes()
    assert b"\x1b%G" in data and "Łódź".encode() in data
    assert sorted(k.text for k in read_photo_metadata(path).keywords) == sorted(["Café", "Łódź", "東京"])


def test_iim_decoding_rules():
    from phototag.library.iptc import parse_iim

    def dataset(record: int, number: int, value: bytes) -> bytes:
        return bytes([0x1C, record, number]) + len(value).to_bytes(2, "big") + value

    marker = dataset(1, 90, b"\x1b%G")
    # declared UTF-8
    assert parse_iim(marker + dataset(2, 25, "Łódź".encode())).keywords == ["Łódź"]
    # declared UTF-8 but the bytes are not: read as Windows-1252 rather than lost
    assert parse_iim(marker + dataset(2, 25, b"Caf\xe9")).keywords == ["Café"]
    # undeclared, valid UTF-8 (writers that omit the marker)
    assert parse_iim(dataset(2, 25, "Zürich".encode())).keywords == ["Zürich"]
    # undeclared Latin; 0x81 is undefined in Windows-1252 and falls back to Latin-1
    assert parse_iim(dataset(2, 25, b"\x80 Caf\xe9")).keywords == ["€ Café"]
    assert parse_iim(dataset(2, 25, b"a\x81b")).keywords == ["a\x81b"]
    # a declared non-UTF-8 set (ISO 2022 escape for Latin-1) is honoured even when bytes look like UTF-8
    assert parse_iim(dataset(1, 90, b"\x1b.A") + dataset(2, 25, "é".encode())).keywords == ["Ã©"]
    # extended-length dataset, then a truncated one: what came before stands, one warning
    long_value = b"x" * 40000
    extended = bytes([0x1C, 2, 25, 0x80, 0x04]) + len(long_value).to_bytes(4, "big") + long_value
    values = parse_iim(extended + dataset(2, 25, b"kept") + dataset(2, 25, b"cut")[:-2])
    assert values.keywords == ["x" * 40000, "kept"]
    assert len(values.warnings) == 1


# --- sidecars --------------------------------------------------------------------------------


def test_sidecars_in_both_namings_are_read_with_their_own_file(tmp_path):
    photo = make_jpeg(tmp_path / "IMG_0001.JPG")
    lightroom = write_sidecar(
        tmp_path / "IMG_0001.xmp", subjects=["dog"], hierarchical=["Animals|Dog"], creator="Side Car"
    )
    darktable = write_sidecar(tmp_path / "IMG_0001.JPG.xmp", subjects=["park"], digikam=["Places/Park"], seq=True)
    meta = read_photo_metadata(photo, [lightroom, darktable])
    assert [(k.text, k.source, k.field, k.file) for k in meta.keywords] == [
        ("dog", "xmp-sidecar", "dc:subject", lightroom),
        ("Animals|Dog", "xmp-sidecar", "lr:hierarchicalSubject", lightroom),
        ("park", "xmp-sidecar", "dc:subject", darktable),
        ("Places/Park", "xmp-sidecar", "digiKam:TagsList", darktable),
    ]
    assert meta.creator == "Side Car"
    assert (meta.width, meta.height) == (96, 64)


def test_creator_prefers_sidecar_then_embedded_xmp_then_exif_artist(tmp_path, et):
    photo = make_jpeg(tmp_path / "c.jpg")
    et.write(photo, "-Artist=Exif Artist")
    assert read_photo_metadata(photo).creator == "Exif Artist"
    et.write(photo, "-XMP-dc:Creator=First Creator", "-XMP-dc:Creator=Second Creator")
    assert read_photo_metadata(photo).creator == "First Creator"
    sidecar = write_sidecar(tmp_path / "c.xmp", creator="Sidecar Creator")
    assert read_photo_metadata(photo, [sidecar]).creator == "Sidecar Creator"


def test_sidecar_written_by_exiftool(tmp_path, et):
    photo = make_jpeg(tmp_path / "p.jpg")
    sidecar = tmp_path / "p.xmp"
    import subprocess

    subprocess.run(
        [
            et.executable,
            "-q",
            "-o",
            str(sidecar),
            "-XMP-dc:Subject=alpha",
            "-XMP-dc:Subject=beta & gamma <x>",
            "-XMP-lr:HierarchicalSubject=A|B",
            "-XMP-mediapro:CatalogSets=Sets|One",
            "-XMP-microsoft:LastKeywordXMP=Win/Key",
            str(photo),
        ],
        check=True,
    )
    meta = read_sidecar(sidecar)
    assert {f: sorted(v) for f, v in _by_field(meta.keywords).items()} == {
        f: sorted(v) for f, v in et.fields(sidecar).items()
    }
    assert ("Sets", "One") in meta.hierarchical() and ("Win", "Key") in meta.hierarchical()
    assert "beta & gamma <x>" in meta.flat()
    assert all(k.source == "xmp-sidecar" and k.file == sidecar for k in meta.keywords)


RDF_FORMS = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:subj="http://purl.org/dc/elements/1.1/"
     xmlns:LR="http://ns.adobe.com/lightroom/1.0/"
     xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/"
     xmlns:mediapro="http://ns.iview-multimedia.com/mediapro/1.0/">
   <subj:subject>
    <rdf:Seq>
     <rdf:li xml:lang="en">seq item</rdf:li>
     <rdf:li>  spaced  </rdf:li>
     <rdf:li>&lt;angle&gt; &#x263A;</rdf:li>
     <rdf:li></rdf:li>
    </rdf:Seq>
   </subj:subject>
   <LR:hierarchicalSubject rdf:nodeID="h"/>
   <MicrosoftPhoto:LastKeywordXMP><rdf:Bag><rdf:li>Win/Tag</rdf:li></rdf:Bag></MicrosoftPhoto:LastKeywordXMP>
   <mediapro:CatalogSets><rdf:Bag><rdf:li>Cat|Set</rdf:li></rdf:Bag></mediapro:CatalogSets>
  </rdf:Description>
  <rdf:Bag rdf:nodeID="h"><rdf:li>Node|Ref</rdf:li></rdf:Bag>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_rdf_forms_read_as_exiftool_reads_them(tmp_path, et):
    sidecar = tmp_path / "forms.xmp"
    sidecar.write_text(RDF_FORMS, encoding="utf-8")
    meta = read_sidecar(sidecar)
    ours = {f: sorted(v) for f, v in _by_field(meta.keywords).items()}
    assert ours == {
        "dc:subject": sorted(["seq item", "  spaced  ", "<angle> \u263a"]),
        "lr:hierarchicalSubject": ["Node|Ref"],
        "MicrosoftPhoto:LastKeywordXMP": ["Win/Tag"],
        "mediapro:CatalogSets": ["Cat|Set"],
    }
    theirs = {f: sorted(v) for f, v in et.fields(sidecar).items()}
    # an empty <rdf:li/> is not a keyword for us; exiftool lists it as ""
    assert "" in theirs["dc:subject"]
    theirs["dc:subject"].remove("")
    assert ours == theirs
    assert meta.warnings == []


ATTRIBUTE_FORM = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:lr="http://ns.adobe.com/lightroom/1.0/" dc:subject="attribute form" lr:hierarchicalSubject="A|B"/>
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:creator><rdf:Seq><rdf:li>
   <rdf:Description><rdf:value>Qualified Creator</rdf:value></rdf:Description>
  </rdf:li></rdf:Seq></dc:creator>
 </rdf:Description>
</rdf:RDF></x:xmpmeta>"""


def test_attribute_form_and_qualified_values(tmp_path, et):
    sidecar = tmp_path / "attr.xmp"
    sidecar.write_text(ATTRIBUTE_FORM, encoding="utf-8")
    meta = read_sidecar(sidecar)
    assert _by_field(meta.keywords) == {"dc:subject": ["attribute form"], "lr:hierarchicalSubject": ["A|B"]}
    assert _by_field(meta.keywords) == et.fields(sidecar)
    assert meta.creator == "Qualified Creator"


def test_utf16_sidecar(tmp_path):
    sidecar = tmp_path / "wide.xmp"
    packet_start = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    text = RDF_FORMS.replace(packet_start, '<?xml version="1.0" encoding="UTF-16"?>')
    sidecar.write_bytes(text.encode("utf-16"))
    assert "seq item" in read_sidecar(sidecar).flat()


def test_dimensions_of_each_pillow_format_without_keywords(tmp_path):
    for name in ("a.jpg", "a.png", "a.tif", "a.webp", "a_lossless.webp", "a.gif", "a.heic"):
        path = _pillow_image(tmp_path / name, size=(123, 45))
        meta = read_photo_metadata(path)
        assert (meta.width, meta.height) == (123, 45), name
        assert meta.keywords == [] and meta.warnings == [], name
    progressive = tmp_path / "progressive.jpg"
    Image.new("RGB", (321, 77)).save(progressive, progressive=True)
    assert (read_photo_metadata(progressive).width, read_photo_metadata(progressive).height) == (321, 77)


def test_hierarchical_fields_cover_the_documented_separators():
    assert HIERARCHICAL_FIELDS == {
        "lr:hierarchicalSubject": "|",
        "digiKam:TagsList": "/",
        "mediapro:CatalogSets": "|",
        "MicrosoftPhoto:LastKeywordXMP": "/",
    }


# Any keyword a person can type survives the trip through a sidecar exactly (XML-legal
# characters; XML itself turns a carriage return into a line feed, so none here).
_KEYWORD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip())


@settings(max_examples=60, deadline=None)
@given(
    subjects=st.lists(_KEYWORD_TEXT, min_size=1, max_size=6, unique=True),
    hierarchical=st.lists(_KEYWORD_TEXT, max_size=3, unique=True),
)
def test_any_keyword_text_round_trips_through_a_sidecar(tmp_path_factory, subjects, hierarchical):
    sidecar = tmp_path_factory.mktemp("roundtrip") / "k.xmp"
    write_sidecar(sidecar, subjects=subjects, hierarchical=hierarchical)
    meta = read_sidecar(sidecar)
    assert [k.text for k in meta.keywords if k.field == "dc:subject"] == subjects
    assert [k.text for k in meta.keywords if k.field == "lr:hierarchicalSubject"] == hierarchical
    assert meta.warnings == []


def test_jpeg_xl_brotli_compressed_metadata(monkeypatch):
    """cjxl compresses metadata boxes with Brotli ('brob'); they are read when the brotli
    package is there, and named in a warning when it is not."""
    pytest.importorskip("brotli")
    path = CORPUS / "JXL2.jxl"
    if not path.is_file():
        pytest.skip(f"exiftool sample corpus {CORPUS} is absent (it lives in ../shared)")
    meta = read_photo_metadata(path)
    assert [(k.text, k.source, k.field) for k in meta.keywords] == [("ExifTool test", "xmp", "dc:subject")]
    assert meta.warnings == []
    monkeypatch.setattr(jxl, "brotli", None)
    meta = read_photo_metadata(path)
    assert meta.keywords == []
    assert meta.warnings == [f"{path}: Brotli-compressed JPEG XL metadata not read (install the brotli package)"]


def test_heif_xmp_item_is_the_one_libheif_sees(tagged_formats):
    """Our own ISO-BMFF walk finds the same XMP item as pillow-heif (libheif)."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from phototag.library.xmp_read import parse_xmp

    path = tagged_formats["heic"]
    libheif_xmp = pillow_heif.open_heif(path).info["xmp"]
    expected = sorted(parse_xmp(libheif_xmp).keywords)
    ours = sorted((k.field, k.text) for k in read_photo_metadata(path).keywords if k.source == "xmp")
    assert ours == expected and len(ours) == 5


def test_early_photoshop_xmp_signature_in_jpeg(tmp_path, et):
    """Early Photoshop wrote APP1 XMP under 'XMP\\0://ns.adobe.com/xap/1.0/'; exiftool reads it too."""
    from photos import xmp_sidecar

    photo = make_jpeg(tmp_path / "old.jpg")
    payload = b"XMP\0://ns.adobe.com/xap/1.0/\0" + xmp_sidecar(subjects=["old signature"]).encode("utf-8")
    data = photo.read_bytes()
    photo.write_bytes(data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:])
    meta = read_photo_metadata(photo)
    assert [(k.text, k.source) for k in meta.keywords] == [("old signature", "xmp")]
    assert et.fields(photo) == {"dc:subject": ["old signature"]}
