"""When and where a photo was taken: EXIF and XMP capture dates and GPS positions, read during
scan and stored in the index, checked against exiftool on real files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest
from photos import make_jpeg
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from phototag.library.capture import BadDate, iim_date, parse_date, xmp_coordinate
from phototag.library.index import Index
from phototag.library.metadata import read_photo_metadata
from phototag.library.scan import scan_library
from phototag.reporting import CollectingReporter

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpora" / "exiftool-keywords"
EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def exif_jpeg(path: Path, original=None, digitized=None, offset=None, gps=None) -> Path:
    """A JPEG made by Pillow with EXIF DateTimeOriginal / DateTimeDigitized / OffsetTimeOriginal
    and a GPS IFD: gps = ((ref, (d, m, s)), (ref, (d, m, s))) with s a float."""
    exif = Image.Exif()
    exif[0x0110] = "TestCam"
    sub = exif.get_ifd(EXIF_IFD)
    for tag, value in ((0x9003, original), (0x9004, digitized), (0x9011, offset)):
        if value is not None:
            sub[tag] = value
    if gps is not None:
        block = exif.get_ifd(GPS_IFD)
        for (ref, (d, m, s)), tags in zip(gps, ((1, 2), (3, 4))):
            block[tags[0]] = ref
            block[tags[1]] = (IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(s * 100), 100))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), (90, 120, 30)).save(path, "JPEG", exif=exif)
    return path


def exiftool() -> str:
    executable = shutil.which("exiftool")
    if executable is None:
        pytest.skip("exiftool (Debian libimage-exiftool-perl) is not installed")
    return executable


def exiftool_capture(paths: list[Path]) -> dict[str, dict]:
    """file name -> what exiftool reads (-n: numbers; Composite:GPSLatitude is signed by its reference)."""
    executable = exiftool()
    tags = ["-DateTimeOriginal", "-CreateDate", "-DateCreated", "-OffsetTimeOriginal", "-GPSLatitude", "-GPSLongitude"]
    result = subprocess.run([executable, "-j", "-G1", "-n", *tags, *map(str, paths)], capture_output=True, text=True)
    assert result.stdout, result.stderr
    return {Path(entry.pop("SourceFile")).name: entry for entry in json.loads(result.stdout)}


def exif_date(text: str) -> str:
    """exiftool's '2021:07:14 09:30:05' as ours, '2021-07-14T09:30:05'."""
    day, _, time = text.partition(" ")
    return day.replace(":", "-") + "T" + time[:8]


def scanned(library: Path, db: Path) -> tuple[dict, CollectingReporter]:
    reporter = CollectingReporter()
    with Index(db, library) as index:
        scan_library(index, reporter)
        return {row.display_path: row for row in index.photos()}, reporter


def xmp_packet(attributes: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
        f" {attributes}/></rdf:RDF></x:xmpmeta>"
    )


def test_jpeg_exif_date_and_gps_read_by_scan_as_exiftool_reads_them(tmp_path):
    library = tmp_path / "lib"
    south = exif_jpeg(
        library / "south.jpg",
        "2021:07:14 09:30:05",
        offset="-04:00",
        gps=(("S", (33, 51, 54.15)), ("W", (70, 39, 3.0))),
    )
    north = exif_jpeg(library / "north.jpg", "1999:12:31 23:59:59", gps=(("N", (51, 30, 26.46)), ("E", (0, 7, 39.0))))
    oracle = exiftool_capture([south, north])
    rows, reporter = scanned(library, tmp_path / "i.sqlite")
    assert reporter.warnings == []
    for name in ("south.jpg", "north.jpg"):
        row, expected = rows[name], oracle[name]
        assert row.taken == exif_date(expected["ExifIFD:DateTimeOriginal"])
        assert row.latitude == pytest.approx(expected["Composite:GPSLatitude"], abs=1e-9)
        assert row.longitude == pytest.approx(expected["Composite:GPSLongitude"], abs=1e-9)
    assert rows["south.jpg"].taken == "2021-07-14T09:30:05" and rows["south.jpg"].taken_offset == "-04:00"
    assert rows["south.jpg"].latitude < 0 and rows["south.jpg"].longitude < 0
    assert rows["north.jpg"].taken_offset is None
    assert rows["north.jpg"].metadata().taken == "1999-12-31T23:59:59"  # PhotoRow -> PhotoMetadata keeps it


def test_png_webp_and_tiff_dated_and_geotagged_by_exiftool(tmp_path):
    """exiftool as the independent writer: EXIF in PNG (eXIf), WebP (RIFF EXIF) and TIFF (IFD0)."""
    files = [tmp_path / "a.png", tmp_path / "b.webp", tmp_path / "c.tif"]
    for file in files:
        Image.new("RGB", (16, 16), (10, 20, 30)).save(file)
    subprocess.run(
        [
            exiftool(),
            "-q",
            "-overwrite_original",
            "-DateTimeOriginal=2018:03:04 05:06:07",
            "-OffsetTimeOriginal=+05:30",
            "-GPSLatitude=12.5",
            "-GPSLatitudeRef=S",
            "-GPSLongitude=100.25",
            "-GPSLongitudeRef=E",
            *map(str, files),
        ],
        check=True,
    )
    oracle = exiftool_capture(files)
    for file in files:
        meta, expected = read_photo_metadata(file), oracle[file.name]
        assert meta.taken == exif_date(expected["ExifIFD:DateTimeOriginal"]) == "2018-03-04T05:06:07", file.name
        assert meta.taken_offset == expected["ExifIFD:OffsetTimeOriginal"] == "+05:30"
        assert (meta.latitude, meta.longitude) == pytest.approx(
            (expected["Composite:GPSLatitude"], expected["Composite:GPSLongitude"])
        )
        assert (meta.latitude, meta.longitude) == pytest.approx((-12.5, 100.25))


def test_a_sidecar_alone_dates_and_places_a_photo(tmp_path):
    library = tmp_path / "lib"
    photo = make_jpeg(library / "scan.jpg")
    sidecar = photo.with_suffix(".xmp")
    sidecar.write_text(
        xmp_packet(
            'xmp:CreateDate="2020-01-02T10:00:00Z" photoshop:DateCreated="1987-06-05T14:15:16+01:00"'
            ' exif:GPSLatitude="51,30.5N" exif:GPSLongitude="0,7,30W"'
        ),
        encoding="utf-8",
    )
    oracle = exiftool_capture([sidecar])["scan.xmp"]
    rows, reporter = scanned(library, tmp_path / "i.sqlite")
    row = rows["scan.jpg"]
    assert reporter.warnings == []
    # photoshop:DateCreated is when the picture was taken; xmp:CreateDate when this file was made (the scan)
    assert (row.taken, row.taken_offset) == ("1987-06-05T14:15:16", "+01:00")
    assert (row.latitude, row.longitude) == pytest.approx(
        (oracle["XMP-exif:GPSLatitude"], oracle["XMP-exif:GPSLongitude"])
    )
    assert (row.latitude, row.longitude) == pytest.approx((51.508333333, -0.125))


def test_exif_comes_before_the_sidecar_and_the_original_before_the_digitized_date(tmp_path):
    photo = exif_jpeg(
        tmp_path / "p.jpg",
        "2010:10:10 10:10:10",
        digitized="2011:11:11 11:11:11",
        gps=(("N", (1, 0, 0)), ("E", (2, 0, 0))),
    )
    sidecar = tmp_path / "p.xmp"
    sidecar.write_text(
        xmp_packet('exif:DateTimeOriginal="2012-12-12T12:12:12" exif:GPSLatitude="3,0N" exif:GPSLongitude="4,0E"'),
        encoding="utf-8",
    )
    meta = read_photo_metadata(photo, [sidecar])
    assert (meta.taken, meta.latitude, meta.longitude) == ("2010-10-10T10:10:10", 1.0, 2.0)
    only_digitized = read_photo_metadata(exif_jpeg(tmp_path / "d.jpg", digitized="2011:11:11 11:11:11"), [sidecar])
    assert only_digitized.taken == "2011-11-11T11:11:11"
    assert read_photo_metadata(make_jpeg(tmp_path / "none.jpg"), [sidecar]).taken == "2012-12-12T12:12:12"


def test_a_corrupt_date_gives_no_date_and_one_warning_at_most(tmp_path):
    library = tmp_path / "lib"
    exif_jpeg(library / "corrupt.jpg", "2019:13:45 25:61:00", digitized="garbage!", offset="+99:99")
    exif_jpeg(library / "zero.jpg", "0000:00:00 00:00:00", digitized="    :  :     :  :  ")
    exif_jpeg(library / "fallback.jpg", "2019:02:30 10:00:00", digitized="2019:02:28 10:00:00")
    rows, reporter = scanned(library, tmp_path / "i.sqlite")
    assert rows["corrupt.jpg"].taken is None and rows["zero.jpg"].taken is None
    assert rows["fallback.jpg"].taken == "2019-02-28T10:00:00"
    assert len(reporter.warnings) == 1, reporter.warnings  # the corrupt one; zero dates are no news
    assert "corrupt.jpg" in reporter.warnings[0] and "2019:13:45 25:61:00" in reporter.warnings[0]


def test_an_unchanged_photo_scanned_by_schema_2_gets_its_date_on_the_next_scan(tmp_path, monkeypatch):
    from phototag.library import index as index_module

    library, db = tmp_path / "lib", tmp_path / "i.sqlite"
    photo = exif_jpeg(library / "old.jpg", "2005:05:05 05:05:05", gps=(("N", (10, 30, 0)), ("W", (20, 15, 0))))
    stat = photo.stat()
    with monkeypatch.context() as old:  # an index written by a phototag of schema 2, which read no dates
        old.setattr(index_module, "SCHEMA_VERSION", 2)
        with Index(db, library) as index, index.write() as connection:
            connection.execute(
                "INSERT INTO photos(path, display_path, folder, size, mtime_ns, sidecars, scanned_at)"
                " VALUES (?, 'old.jpg', '', ?, ?, x'', 0)",
                (b"old.jpg", stat.st_size, stat.st_mtime_ns),
            )
    with Index(db, library) as index:
        assert index.schema_version == index_module.SCHEMA_VERSION
        assert index.photos()[0].taken is None
        summary = scan_library(index, CollectingReporter())
        assert (summary.read, summary.unchanged) == (1, 0)  # read again though its file is unchanged
        row = index.photos()[0]
        assert (row.taken, row.latitude, row.longitude) == ("2005-05-05T05:05:05", 10.5, -20.25)
        again = scan_library(index, CollectingReporter())
        assert (again.read, again.unchanged) == (0, 1)


@pytest.mark.parametrize(
    "text, offset, expected",
    [
        ("2003:12:04 06:46:52", None, ("2003-12-04T06:46:52", None)),
        ("2003:12:04 06:46:52\0", "+01:00\0", ("2003-12-04T06:46:52", "+01:00")),
        ("2005-06-09T20:09:27+02:00", None, ("2005-06-09T20:09:27", "+02:00")),
        ("2005-06-09T20:09:27.123Z", "+05:00", ("2005-06-09T20:09:27", "+00:00")),  # the date's own offset wins
        ("1993:01:01 03:11:11.311+01:00", None, ("1993-01-01T03:11:11", "+01:00")),
        ("2005-06-09T20:09", None, ("2005-06-09T20:09:00", None)),
        ("2004-02-26", "+01:00", ("2004-02-26", None)),  # a day only: an offset means nothing without a time
        ("2004:02:26 10:00:00", "+1:00", ("2004-02-26T10:00:00", None)),  # a malformed offset is dropped
        ("2004", None, None),
        ("2004-02", None, None),
        ("0000:00:00 00:00:00", None, None),
        ("    :  :     :  :  ", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_date_forms(text, offset, expected):
    assert parse_date(text, offset) == expected


@pytest.mark.parametrize(
    "text", ["2019:13:01 00:00:00", "2019:02:29 10:00:00", "2019:01:01 24:00:00", "0200:01:01 00:00:00", "yesterday"]
)
def test_impossible_dates(text):
    with pytest.raises(BadDate, match="capture date"):
        parse_date(text)


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("51,30.5N", 90, 51.508333333),
        ("51,30,30S", 90, -51.508333333),
        ("0,7.5W", 180, -0.125),
        ("-33.5", 90, -33.5),
        ("91,0N", 90, None),
        ("north", 90, None),
        ("", 90, None),
    ],
)
def test_xmp_coordinates(text, limit, expected):
    assert xmp_coordinate(text, limit) == (pytest.approx(expected) if expected is not None else None)


@pytest.fixture(scope="module")
def corpus_oracle() -> dict[str, dict]:
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"exiftool keyword corpus {CORPUS} is absent")
    files = sorted(p for p in CORPUS.iterdir() if p.name not in ("README.md", "expected.json"))
    return exiftool_capture(files)


def exiftool_taken(found: dict) -> tuple[Optional[str], Optional[str]]:
    """The capture date we must read, by exiftool: EXIF DateTimeOriginal, else XMP exif:DateTimeOriginal,
    else exiftool's own composite (IPTC DateCreated + TimeCreated), else a DateCreated day."""
    for key in (
        "ExifIFD:DateTimeOriginal",
        "IFD0:DateTimeOriginal",
        "XMP-exif:DateTimeOriginal",
        "Composite:DateTimeOriginal",
    ):
        if key in found:
            day, _, time = found[key].partition(" ")
            offset = re.search(r"[+-]\d\d:\d\d$", time)
            return exif_date(found[key]), offset.group() if offset else found.get("ExifIFD:OffsetTimeOriginal")
    days = [value for key, value in found.items() if key.endswith(":DateCreated")]
    return (days[0][:10].replace(":", "-"), None) if days else (None, None)


def test_exiftool_corpus_dates_and_positions_agree_with_exiftool(corpus_oracle):
    dated = placed = 0
    for name, found in corpus_oracle.items():
        meta = read_photo_metadata(CORPUS / name)
        assert (meta.taken, meta.taken_offset) == exiftool_taken(found), name
        dated += meta.taken is not None
        if "Composite:GPSLatitude" in found:
            placed += 1
            assert (meta.latitude, meta.longitude) == pytest.approx(
                (found["Composite:GPSLatitude"], found["Composite:GPSLongitude"]), abs=1e-9
            ), name
        else:
            assert meta.latitude is None, name
    # of the 43 files, 18 have an EXIF DateTimeOriginal, 5 more an XMP or IPTC date, 2 a GPS position (exiftool 12.57);
    # CasioQVCI.jpg's date is in a maker note, QuickTime.heic has none: neither counts
    assert (dated, placed) == (23, 2)
    assert read_photo_metadata(CORPUS / "XMP.xmp").taken == "2005-06-09T20:09:27"  # XMP exif:DateTimeOriginal
    # photoshop:DateCreated gives the day only; IPTC TimeCreated gives the time of that day
    assert read_photo_metadata(CORPUS / "PhotoMechanic.jpg").taken == "2006-10-29T06:27:51"
    assert read_photo_metadata(CORPUS / "IPTC.jpg").taken == "2004-02-26"  # IPTC DateCreated only


@pytest.mark.parametrize(
    "date, time, expected",
    [
        ("20061029", "062751-0500", ("2006-10-29T06:27:51", "-05:00")),
        ("20040226", "", ("2004-02-26", None)),
        ("00000000", "000000+0000", None),
        ("2004-02-26", "", ("2004-02-26", None)),
    ],
)
def test_iptc_dates(date, time, expected):
    assert parse_date(iim_date(date, time)) == expected


def test_hostile_value_counts_are_not_read_whole():
    """A date or a GPS coordinate claiming 100 million items: only the few bytes needed are read."""
    import struct

    from phototag.library.collector import MetadataCollector
    from phototag.library.containers.exif import read_exif_block

    def ifd(entries) -> bytes:
        return struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI4s", *e) for e in entries) + b"\0" * 4

    data = bytearray(b"II*\0" + struct.pack("<I", 8))
    data += ifd([(0x8769, 4, 1, struct.pack("<I", 100)), (0x8825, 4, 1, struct.pack("<I", 200))])
    data += bytes(100 - len(data)) + ifd([(0x9003, 2, 100_000_000, struct.pack("<I", 300))])
    gps = [
        (1, 2, 2, b"N\0\0\0"),
        (2, 5, 100_000_000, struct.pack("<I", 330)),
        (3, 2, 2, b"E\0\0\0"),
        (4, 5, 3, struct.pack("<I", 330)),
    ]
    data += bytes(200 - len(data)) + ifd(gps)
    data += bytes(300 - len(data)) + b"2020:01:02 03:04:05\0".ljust(30, b"\0")
    data += struct.pack("<6I", 10, 1, 30, 1, 0, 1)  # 10 deg 30'
    reading = MetadataCollector()
    read_exif_block(bytes(data), reading, Path("hostile.jpg"))
    meta = reading.result()
    assert (meta.taken, meta.latitude, meta.longitude, meta.warnings) == ("2020-01-02T03:04:05", 10.5, 10.5, [])
