"""Bad input never raises: empty, truncated, corrupt, non-image, unreadable and non-regular
files become one-line warnings naming the file, and everything else is still read."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from PIL import Image

from phototag.library.keywords import PhotoMetadata
from phototag.library.metadata import read_photo_metadata

TAGS = (
    "-IPTC:Keywords=iptc kw",
    "-XMP-dc:Subject=xmp kw",
    "-XPKeywords=exif kw",
    "-XMP-lr:HierarchicalSubject=A|B",
    "-Artist=Someone",
)


@pytest.fixture(scope="module")
def rich_files(tmp_path_factory, et) -> dict[str, bytes]:
    """The bytes of one fully tagged file per format."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    folder = tmp_path_factory.mktemp("rich")
    paths = []
    for name in ("a.jpg", "a.tif", "a.png", "a.webp", "a.heic", "a.gif"):
        image = Image.new("RGB", (40, 30), (90, 10, 160))
        image.save(folder / name)
        paths.append(folder / name)
    et.write(paths, *TAGS)
    return {path.suffix: path.read_bytes() for path in paths}


def _read_never_raises(path: Path, sidecars=()) -> PhotoMetadata:
    meta = read_photo_metadata(path, sidecars)
    assert isinstance(meta, PhotoMetadata)
    for warning in meta.warnings:
        assert warning.startswith(f"{path}: ") or any(warning.startswith(f"{s}: ") for s in sidecars)
        assert "\n" not in warning
    return meta


def test_complete_rich_files_read_cleanly(tmp_path, rich_files):
    for suffix, data in rich_files.items():
        path = tmp_path / f"whole{suffix}"
        path.write_bytes(data)
        meta = _read_never_raises(path)
        assert meta.warnings == [], suffix
        assert {"xmp kw"} <= meta.flat(), suffix


@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".png", ".webp", ".heic", ".gif"])
def test_truncated_at_every_point_never_raises(tmp_path, rich_files, suffix):
    data = rich_files[suffix]
    path = tmp_path / f"cut{suffix}"
    step = max(1, len(data) // 400)
    for cut in range(0, len(data), step):
        path.write_bytes(data[:cut])
        meta = _read_never_raises(path)
        if cut == 0:
            assert meta.warnings == [f"{path}: empty file (0 bytes)"]


@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".png", ".webp", ".heic", ".gif"])
def test_corrupted_bytes_never_raise(tmp_path, rich_files, suffix):
    data = rich_files[suffix]
    path = tmp_path / f"flip{suffix}"
    rng = random.Random(f"{suffix}-1")
    for _ in range(150):
        mutated = bytearray(data)
        for _ in range(rng.choice((1, 4, 32))):
            position = rng.randrange(min(len(mutated), 4096))  # where the metadata lives
            mutated[position] = rng.choice((0x00, 0xFF, 0x7F, rng.randrange(256)))
        path.write_bytes(bytes(mutated))
        _read_never_raises(path)


def test_empty_garbage_and_text_files_with_photo_names(tmp_path):
    cases = {
        "empty.jpg": b"",
        "text.jpg": b"Hello, this is a shopping list, not a photo.\n",
        "random.nef": bytes(random.Random(3).randrange(256) for _ in range(5000)),
        "html.png": b"<html><body>404 not found</body></html>",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        meta = _read_never_raises(path)
        assert meta.keywords == [] and len(meta.warnings) == 1, name
    assert "empty file" in read_photo_metadata(tmp_path / "empty.jpg").warnings[0]
    assert "not a recognised image format" in read_photo_metadata(tmp_path / "text.jpg").warnings[0]


def test_a_zero_byte_photo_still_gets_its_sidecar(tmp_path):
    photo = tmp_path / "z.jpg"
    photo.write_bytes(b"")
    sidecar = write_sidecar(tmp_path / "z.xmp", subjects=["kept"])
    meta = read_photo_metadata(photo, [sidecar])
    assert meta.flat() == {"kept"} and len(meta.warnings) == 1


def test_truncated_jpeg_keeps_what_was_read_before_the_cut(tmp_path, et):
    photo = make_jpeg(tmp_path / "t.jpg")
    et.write(photo, "-XPKeywords=early", "-XMP-dc:Subject=late")
    data = photo.read_bytes()
    xmp_at = data.index(b"http://ns.adobe.com/xap/1.0/")
    assert data.index(b"Exif\0") < xmp_at  # EXIF segment first, then the XMP one
    photo.write_bytes(data[: xmp_at + 40])
    meta = read_photo_metadata(photo)
    assert meta.flat() == {"early"}
    assert meta.warnings == [f"{photo}: JPEG is truncated inside its metadata segments"]


def test_folder_with_a_photo_name(tmp_path):
    folder = tmp_path / "IMG_0001.JPG"
    folder.mkdir()
    meta = _read_never_raises(folder)
    assert meta.warnings == [f"{folder}: not read: it is a folder"]


def _alarm(seconds: int):
    def fail(signum, frame):
        raise TimeoutError("the reader blocked")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    return previous


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_with_a_photo_name_does_not_hang(tmp_path):
    fifo = tmp_path / "IMG_0002.jpg"
    os.mkfifo(fifo)
    sidecar = write_sidecar(tmp_path / "IMG_0002.xmp", subjects=["sidecar still read"])
    previous = _alarm(10)
    try:
        meta = _read_never_raises(fifo, [sidecar])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert meta.warnings == [f"{fifo}: not read: not a regular file"]
    assert meta.flat() == {"sidecar still read"}


def test_broken_symlink_sidecar(tmp_path):
    photo = make_jpeg(tmp_path / "s.jpg")
    link = tmp_path / "s.xmp"
    link.symlink_to(tmp_path / "gone.xmp")
    meta = _read_never_raises(photo, [link])
    assert len(meta.warnings) == 1 and meta.warnings[0].startswith(f"{link}: cannot open: No such file")
    assert (meta.width, meta.height) == (96, 64)


def _read_as_other_user(photo: Path, sidecars: list[Path]) -> dict:
    """Run the reader in a forked child that has dropped root (uid/gid nobody), so permission
    bits apply. Everything the reader needs is already imported in this process."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status = 1
        try:
            signal.alarm(30)  # never leave the parent waiting on a stuck child
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            meta = read_photo_metadata(photo, sidecars)
            result = {"flat": sorted(meta.flat()), "warnings": meta.warnings, "uid": os.getuid()}
            os.write(write_end, json.dumps(result).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and output, "the unprivileged child failed"
    return json.loads(output)


def test_unreadable_photo_and_sidecar(et):
    # Its own world-traversable folder: pytest's tmp folders are private to root.
    folder = Path(tempfile.mkdtemp(prefix="phototag-perm-"))
    try:
        folder.chmod(0o755)
        photo = make_jpeg(folder / "locked.jpg")
        et.write(photo, "-IPTC:Keywords=hidden")
        open_photo = make_jpeg(folder / "open.jpg")
        et.write(open_photo, "-IPTC:Keywords=visible")
        locked_sidecar = write_sidecar(folder / "open.xmp", subjects=["hidden too"])
        readable_sidecar = write_sidecar(folder / "locked.jpg.xmp", subjects=["readable sidecar"])
        for path in (folder / "locked.jpg", folder / "open.jpg", locked_sidecar, readable_sidecar):
            path.chmod(0o644)
        photo.chmod(0)
        locked_sidecar.chmod(0)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            if not hasattr(os, "fork"):
                pytest.skip("running as root without fork(): cannot drop privileges to test permissions")
            locked = _read_as_other_user(photo, [readable_sidecar])
            unlocked = _read_as_other_user(open_photo, [locked_sidecar])
            assert locked["uid"] == 65534
        else:
            meta = read_photo_metadata(photo, [readable_sidecar])
            locked = {"flat": sorted(meta.flat()), "warnings": meta.warnings}
            meta = read_photo_metadata(open_photo, [locked_sidecar])
            unlocked = {"flat": sorted(meta.flat()), "warnings": meta.warnings}
        assert locked["flat"] == ["readable sidecar"]
        assert locked["warnings"] == [f"{photo}: cannot open: Permission denied"]
        assert unlocked["flat"] == ["visible"]
        assert unlocked["warnings"] == [f"{locked_sidecar}: cannot open: Permission denied"]
    finally:
        for path in folder.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        shutil.rmtree(folder)


def test_photo_files_are_never_modified(tmp_path, rich_files):
    for suffix, data in rich_files.items():
        path = tmp_path / f"ro{suffix}"
        path.write_bytes(data)
        path.chmod(0o444)
        before = path.stat()
        read_photo_metadata(path)
        after = path.stat()
        assert path.read_bytes() == data
        assert (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)


def test_heif_with_absurd_item_location_counts_finishes_quickly(tmp_path, rich_files):
    """A corrupt iloc box (zero-size extents, 65535 items) must not make the reader loop."""
    import time

    data = bytearray(rich_files[".heic"])
    iloc = data.index(b"iloc") + 4
    data[iloc + 4] = 0  # offset_size = length_size = 0
    data[iloc + 5] = 0  # base_offset_size = 0
    if data[iloc] < 2:
        data[iloc + 6 : iloc + 8] = b"\xff\xff"  # item count
    path = tmp_path / "iloc.heic"
    path.write_bytes(bytes(data))
    started = time.perf_counter()
    meta = _read_never_raises(path)
    assert time.perf_counter() - started < 2
    assert "xmp kw" not in meta.flat()  # the XMP item can no longer be located...
    assert f"{path}: HEIF metadata item has no readable location; not read" in meta.warnings  # ...and we say so


def test_a_corrupt_exif_block_costs_only_itself(tmp_path, et):
    photo = make_jpeg(tmp_path / "bad-exif.jpg")
    et.write(photo, "-XPKeywords=lost", "-XMP-dc:Subject=xmp kept", "-IPTC:Keywords=iptc kept")
    data = bytearray(photo.read_bytes())
    tiff = data.index(b"Exif\0\0") + 6
    data[tiff + 4 : tiff + 8] = b"\xff\xff\xff\x00" if data[tiff] == ord("M") else b"\x00\xff\xff\xff"
    photo.write_bytes(bytes(data))
    meta = read_photo_metadata(photo)
    assert meta.flat() == {"xmp kept", "iptc kept"}
    assert len(meta.warnings) == 1 and "directory offset" in meta.warnings[0]


def _with_bad_irb(photo: Path, change) -> Path:
    """`photo` with its APP13 Photoshop resources replaced by change(resources) (the segment length fixed)."""
    import struct

    data = photo.read_bytes()
    start = data.index(b"Photoshop 3.0\0") + 14
    segment = data.rindex(b"\xff\xed", 0, start)
    end = segment + 2 + struct.unpack(">H", data[segment + 2 : segment + 4])[0]
    resources = change(data[start:end])
    head = data[: segment + 2] + struct.pack(">H", start - segment - 2 + len(resources))
    photo.write_bytes(head + data[segment + 4 : start] + resources + data[end:])
    return photo


def test_a_bad_photoshop_resource_size_warns_and_keeps_the_iptc(tmp_path, et):
    """exiftool warns "Bad Photoshop resource data size" and stops; phototag warns once and reads what is there."""
    import struct
    import subprocess

    photo = make_jpeg(tmp_path / "iptc.jpg")
    et.write(photo, "-IPTC:Keywords=one", "-IPTC:Keywords=two")
    iptc_too_long = _with_bad_irb(photo, lambda r: r[:8] + struct.pack(">I", 4096) + r[12:])
    meta = read_photo_metadata(iptc_too_long)
    assert meta.flat() == {"one", "two"}
    assert meta.warnings == [
        f"{photo}: Photoshop resource 0x0404 has a bad size (4,096 bytes, 24 left); read what is there"
    ]

    before = tmp_path / "before.jpg"
    make_jpeg(before)
    et.write(before, "-IPTC:Keywords=after the bad one")
    bad_first = b"8BIM\x03\xed\x00\x00" + struct.pack(">I", 5000) + b"\0" * 16  # ResolutionInfo claiming 5,000 bytes
    _with_bad_irb(before, lambda r: bad_first + r)
    meta = read_photo_metadata(before)
    assert meta.flat() == {"after the bad one"}
    assert len(meta.warnings) == 1 and "Photoshop resource 0x03ED has a bad size (5,000 bytes" in meta.warnings[0]
    for path in (iptc_too_long, before):  # what exiftool says of the same files
        warning = subprocess.run([et.executable, "-s3", "-Warning", str(path)], capture_output=True, text=True).stdout
        assert warning.startswith("Bad Photoshop resource data size"), path
