"""Thumbnails: the pipeline's decoder (upright, HEIC, RAW previews), made once, cached beside the index."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from phototag.app.scan import scan
from phototag.library.index import Index
from phototag.reporting import CollectingReporter
from phototag.web.thumbs import THUMB_SIZE, Thumbnails

from ..imaging.conftest import (
    assert_quadrants,
    exif_with_orientation,
    quadrant_image,
    stored_for_orientation,
    write_dng,
)


@pytest.fixture
def photos(tmp_path):
    """A JPEG stored turned (EXIF orientation 6), a HEIC likewise, a DNG with its preview; all scanned."""
    root = tmp_path / "lib"
    root.mkdir()
    upright = quadrant_image(1200, 900)
    stored_for_orientation(upright, 6).save(root / "turned.jpg", "JPEG", quality=92, exif=exif_with_orientation(6))
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(stored_for_orientation(upright, 6)).save(
        root / "phone.heic", quality=90, exif=exif_with_orientation(6)
    )
    write_dng(root / "IMG_0001.dng", quadrant_image(), orientation=6)
    with Index.for_library(root, tmp_path / "index.sqlite") as index:
        scan(index, CollectingReporter())
        yield index, {p.path.name: p for p in index.photos()}


def test_thumbnails_are_upright_for_jpeg_heic_and_raw(photos):
    index, by_name = photos
    cache = Thumbnails(index.data_dir / "thumbnails")
    for name in ("turned.jpg", "phone.heic", "IMG_0001.dng"):
        image = Image.open(io.BytesIO(cache.get(by_name[name])))
        assert image.format == "JPEG" and max(image.size) == THUMB_SIZE, name
        assert image.size[0] > image.size[1], name  # landscape again: the orientation was applied
        assert_quadrants(image.convert("RGB"))


def test_a_thumbnail_is_made_once_and_kept_beside_the_index(photos, monkeypatch):
    index, by_name = photos
    cache = Thumbnails(index.data_dir / "thumbnails")
    photo = by_name["turned.jpg"]
    first = cache.get(photo)
    path = cache.path_of(photo)
    assert path.is_file() and path.is_relative_to(index.data_dir) and photo.fingerprint in path.name
    assert not any(
        p.suffix == ".jpg" for p in photo.path.parent.iterdir() if p.name != "turned.jpg"
    )  # library untouched

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr("phototag.web.thumbs.load_rgb", no_decoding)
    assert cache.get(photo) == first
    os.utime(photo.path)  # same content: the fingerprint, hence the thumbnail, stays
    assert Thumbnails(index.data_dir / "thumbnails").get(photo) == first


def test_the_thumbnail_cache_is_private(photos):
    """Issue 18 item 14: thumbnails show a person's photos; their folders are 0700, their files 0600
    (whatever the umask), and a cache folder an older phototag made 0755 is narrowed."""
    import stat

    index, by_name = photos
    folder = index.data_dir / "thumbnails"
    folder.mkdir(mode=0o755, parents=True)
    os.chmod(folder, 0o755)
    previous = os.umask(0o022)
    try:
        cache = Thumbnails(folder)
        cache.get(by_name["turned.jpg"])
    finally:
        os.umask(previous)
    path = cache.path_of(by_name["turned.jpg"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_thumbnails_are_private_whatever_the_umask(photos):
    import stat

    index, by_name = photos
    previous = os.umask(0)
    try:
        cache = Thumbnails(index.data_dir / "thumbnails")
        cache.get(by_name["turned.jpg"])
    finally:
        os.umask(previous)
    path = cache.path_of(by_name["turned.jpg"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in (path.parent, path.parent.parent, index.data_dir)} == {0o700}


def test_a_burst_of_previews_of_one_photo_is_made_once_and_kept_within_the_budget(photos, monkeypatch):
    import asyncio

    from phototag.web import thumbs

    index, by_name = photos
    made = []
    real = thumbs.encode
    monkeypatch.setattr(thumbs, "encode", lambda path, size: made.append(path.name) or real(path, size))
    renderer = thumbs.Renderer(Thumbnails(index.data_dir / "thumbnails"))
    try:

        async def burst(photo, count):
            return await asyncio.gather(*(renderer.preview(photo) for _ in range(count)))

        first = asyncio.run(burst(by_name["turned.jpg"], 10))
        assert made == ["turned.jpg"] and len(set(first)) == 1  # ten requests, one render
        image = Image.open(io.BytesIO(first[0]))
        assert image.size == (1200, 900)  # upright, never enlarged past the photo
        assert asyncio.run(burst(by_name["turned.jpg"], 1)) == first[:1] and made == ["turned.jpg"]  # kept
        heic = len(real(by_name["phone.heic"].path, thumbs.PREVIEW_SIZE))
        renderer.budget = max(len(first[0]), heic)  # room for one preview: the next one pushes it out
        asyncio.run(burst(by_name["phone.heic"], 1))
        asyncio.run(burst(by_name["turned.jpg"], 1))
        assert made == ["turned.jpg", "phone.heic", "turned.jpg"]
    finally:
        renderer.close()
