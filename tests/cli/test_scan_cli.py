"""`phototag scan` and `phototag tags` end to end, as a person runs them (real process, real files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from exiftool_corpus import keywords_exiftool_missed
from photos import make_jpeg, write_sidecar

pytestmark = pytest.mark.slow  # every test runs phototag in a real process
REPO = Path(__file__).resolve().parents[2]
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&lol3;</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def phototag(*args: str, check_codes=(0,)) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "phototag", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode in check_codes, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "Pictures"
    a = make_jpeg(root / "2023" / "beach" / "IMG_0001.jpg")
    write_sidecar(a.with_suffix(".xmp"), subjects=["Beach", "sea"], hierarchical=["Places|Spain|Cadiz"], creator="Ana")
    make_jpeg(root / "2023" / "beach" / "IMG_0002.JPG")
    write_sidecar(root / "2023" / "beach" / "IMG_0002.JPG.xmp", subjects=["beach", "Sunset"])
    make_jpeg(root / "2024" / "untagged.jpg")
    return root


def test_scan_then_tags(library):
    proc = phototag("scan", str(library))
    assert "photos in library" in proc.stderr and "3" in proc.stderr
    tags = json.loads(phototag("tags", str(library), "--json").stdout)["tags"]
    by_tag = {row["tag"]: row for row in tags}
    assert by_tag["Beach"]["count"] == 2  # 'beach' merged, owner's majority spelling... tie -> alphabetical
    assert by_tag["Cadiz"]["hierarchy"] == "Places|Spain|Cadiz"
    assert by_tag["Beach"]["share"] == 1.0
    table = phototag("tags", str(library)).stdout
    assert "Beach" in table and "Places|Spain|Cadiz" in table


def test_scan_json_lines_fields(library):
    records = json_lines(phototag("scan", str(library), "--json", "--owner-from", "creator").stdout)
    assert len(records) == 3 and all(r["type"] == "photo" for r in records)
    first = next(r for r in records if r["path"].endswith("IMG_0001.jpg"))
    assert set(first["keywords"]) == {"Beach", "sea"}
    assert first["hierarchical"] == ["Places|Spain|Cadiz"]
    assert first["owner"] == "Ana"
    assert {s["source"] for s in first["sources"]} == {"xmp-sidecar"}
    assert first["sources"][0]["file"].endswith("IMG_0001.xmp")


def test_rescan_is_incremental_and_follows_changes(library):
    phototag("scan", str(library))
    again = phototag("scan", str(library), "--json")
    assert "read (new or changed)          0" in " ".join(again.stderr.split("\n")) or " 0 " in again.stderr
    sidecar = library / "2023" / "beach" / "IMG_0002.JPG.xmp"
    write_sidecar(sidecar, subjects=["beach", "Sunset", "surf"])
    changed = json_lines(phototag("scan", str(library), "--json", "-q").stdout)
    assert "surf" in next(r for r in changed if r["path"].endswith("IMG_0002.JPG"))["keywords"]
    # move one photo (with its sidecar), delete another
    (library / "moved").mkdir()
    shutil.move(library / "2023" / "beach" / "IMG_0001.jpg", library / "moved" / "IMG_0001.jpg")
    shutil.move(library / "2023" / "beach" / "IMG_0001.xmp", library / "moved" / "IMG_0001.xmp")
    (library / "2024" / "untagged.jpg").unlink()
    proc = phototag("scan", str(library), "--json")
    paths = sorted(r["path"] for r in json_lines(proc.stdout))
    assert paths == ["2023/beach/IMG_0002.JPG", "moved/IMG_0001.jpg"]
    assert "1 moved" in proc.stderr


def test_bad_input_is_skipped_with_reasons_and_exit_3(tmp_path):
    root = tmp_path / "lib"
    good = make_jpeg(root / "good.jpg")
    write_sidecar(good.with_suffix(".xmp"), subjects=["fine"])
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.png").write_text("this is not a PNG")
    (root / "garbage.JPG").write_bytes(os.urandom(4096))
    (root / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    make_jpeg(root / "hostile.jpg")
    (root / "hostile.xmp").write_text(BILLION_LAUGHS)
    odd = make_jpeg(Path(os.fsdecode(os.fsencode(root) + b"/odd \xff\xfe name.jpg")))
    write_sidecar(Path(os.fsdecode(os.fsencode(odd)[:-4] + b".xmp")), subjects=["odd"])
    proc = phototag("scan", str(root), "--json", check_codes=(3,))
    records = {r["path"]: r for r in json_lines(proc.stdout)}
    assert set(records) == {"good.jpg", "hostile.jpg", "odd \\xff\\xfe name.jpg"}
    assert records["odd \\xff\\xfe name.jpg"]["keywords"] == ["odd"]
    assert records["hostile.jpg"]["keywords"] == []  # entity bomb refused, not expanded
    for reason in ["empty file", "not an image", "truncated JPEG"]:
        assert reason in proc.stderr
    log = Path(proc.stderr.split("details in ")[-1].split()[0].strip())
    text = log.read_text()
    for name in ["zero.jpg", "text.png", "garbage.JPG", "truncated.jpg", "hostile.xmp"]:
        assert name in text
    assert "lollol" not in proc.stdout


def test_exiftool_corpus_scan_agrees_with_exiftool(shared_dir, tmp_path):
    corpus = shared_dir / "corpora" / "exiftool-keywords"
    expected = json.loads((corpus / "expected.json").read_text())
    proc = phototag("scan", str(corpus), "--json", "--index", str(tmp_path / "i.sqlite"), check_codes=(0, 3))
    found: dict[str, set[str]] = {}
    records = json_lines(proc.stdout)
    apple = next(r for r in records if r["path"] == "Apple.jpg")  # EXIF DateTimeOriginal and GPS
    assert (apple["taken"], apple["taken_offset"]) == ("2016-09-28T18:18:05", None)
    assert (apple["latitude"], apple["longitude"]) == pytest.approx((53.3828472222, -1.4566777778))
    for record in records:
        if record["type"] == "sidecar":
            found.setdefault(record["path"], set()).update(record["keywords"])
            continue
        found.setdefault(record["path"], set())
        for source in record["sources"]:
            if source["field"] in ("dc:subject", "IPTC:Keywords", "XPKeywords"):
                found.setdefault(source["file"], set()).update(source["keywords"])
    for name, entry in expected.items():
        wanted = set(entry["keywords"]) | keywords_exiftool_missed(corpus / name)
        assert found.get(name, set()) == wanted, name
    # every file of the corpus was seen, as a photo or as a sidecar
    assert set(expected) <= set(found)


def test_tags_on_unscanned_library_says_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = phototag("tags", str(tmp_path / "empty"), check_codes=(1,))
    assert "phototag scan" in proc.stderr


def test_usage_error_exit_code_2(tmp_path):
    phototag("scan", str(tmp_path / "does-not-exist"), check_codes=(2,))
    phototag("tags", str(tmp_path), "--owner-from", "nonsense", check_codes=(2,))
