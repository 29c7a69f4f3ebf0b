"""Builders for the imaging test library: real files made with Pillow, pillow-heif and tifffile."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The upright test picture: four quadrants of different colours, so every one of the
# 8 EXIF orientations (and any mix-up of width/height) gives a different decoded picture.
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 255, 255)
QUADRANTS = {"top_left": RED, "top_right": GREEN, "bottom_left": BLUE, "bottom_right": WHITE}

# Stored pixels for EXIF orientation k are the upright picture transformed by the inverse of
# what a viewer applies for k, so that applying k gives the upright picture back.
INVERSE_OF_ORIENTATION = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # viewer rotates 90 deg clockwise (ROTATE_270)
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,  # viewer rotates 90 deg counter-clockwise (ROTATE_90)
}


def quadrant_image(width: int = 640, height: int = 480, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (width, height), WHITE)
    half_w, half_h = width // 2, height // 2
    image.paste(RED, (0, 0, half_w, half_h))
    image.paste(GREEN, (half_w, 0, width, half_h))
    image.paste(BLUE, (0, half_h, half_w, height))
    return image.convert(mode) if mode != "RGB" else image


def stored_for_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    inverse = INVERSE_OF_ORIENTATION[orientation]
    return upright.transpose(inverse) if inverse is not None else upright.copy()


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def assert_quadrants(image: Image.Image, tolerance: int = 60) -> None:
    """The decoded image is upright: each quadrant centre has the expected colour."""
    assert image.mode == "RGB"
    width, height = image.size
    points = {
        "top_left": (width // 4, height // 4),
        "top_right": (3 * width // 4, height // 4),
        "bottom_left": (width // 4, 3 * height // 4),
        "bottom_right": (3 * width // 4, 3 * height // 4),
    }
    for name, point in points.items():
        got = image.getpixel(point)
        want = QUADRANTS[name]
        assert all(abs(g - w) <= tolerance for g, w in zip(got, want)), f"{name}: got {got}, want {want}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_png_rgb48(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write those), written chunk by chunk."""
    height, width, _ = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def write_png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims a huge size (decompression-bomb test): header, empty data, end."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


# sRGB (D65) XYZ -> linear RGB: as the DNG ColorMatrix1 it makes the "camera" an sRGB camera,
# so the demosaiced colours come out close to the scene colours.
_XYZ_TO_SRGB = [
    [3.2406, -1.5372, -0.4986],
    [-0.9689, 1.8758, 0.0415],
    [0.0557, -0.2040, 1.0570],
]


def _ifd(entries: list[tuple[int, int, list]], offset: int, next_ifd: int = 0) -> bytes:
    """One little-endian TIFF IFD placed at `offset`; values longer than 4 bytes follow it."""
    formats = {1: "B", 2: "B", 3: "H", 4: "I", 5: "I", 10: "i"}
    per_value = {5: 2, 10: 2}  # RATIONAL/SRATIONAL: two numbers each
    entries = sorted(entries)
    data_at = offset + 2 + 12 * len(entries) + 4
    table, extra = b"", b""
    for tag, kind, values in entries:
        packed = struct.pack(f"<{len(values)}{formats[kind]}", *values)
        count = len(values) // per_value.get(kind, 1)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field = struct.pack("<I", data_at + len(extra))
            extra += packed + (b"\0" if len(packed) % 2 else b"")
        table += struct.pack("<HHI", tag, kind, count) + field
    return struct.pack("<H", len(entries)) + table + struct.pack("<I", next_ifd) + extra


def write_dng(
    path: Path, upright: Image.Image, orientation: int = 1, preview: bool = True, preview_exif: int | None = None
) -> None:
    """A minimal valid DNG 1.4, written by hand: IFD0 = baseline-JPEG preview (NewSubfileType 1,
    Compression 7) + the DNG tags + Orientation; its SubIFD = 12-bit RGGB Bayer CFA sensor data of
    the same scene. Sensor data and preview are stored in sensor orientation; `orientation`
    (EXIF/TIFF values 1-8) says how to turn them upright. The preview JPEG carries no EXIF, so a
    reader must take the orientation from the DNG, unless `preview_exif` is given: then the
    preview's pixels are stored for that EXIF orientation, which the preview JPEG carries.
    Without `preview`, IFD0 is a 1/16-size uncompressed RGB thumbnail (what old DNGs have)."""
    sensor = stored_for_orientation(upright, orientation)
    rgb = np.asarray(sensor, dtype=np.float64) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    white = 4095
    cfa = np.empty(rgb.shape[:2], dtype="<u2")
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0] * white  # R
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1] * white  # G
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1] * white  # G
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2] * white  # B

    if preview:
        buffer = io.BytesIO()
        if preview_exif is None:
            sensor.save(buffer, "JPEG", quality=90)
        else:
            shown = stored_for_orientation(upright, preview_exif)
            shown.save(buffer, "JPEG", quality=90, exif=exif_with_orientation(preview_exif))
            # Camera previews start with their Exif APP1; drop Pillow's JFIF APP0 so this one does
            # too (LibRaw prepends an Exif block of its own, from the RAW's orientation, otherwise).
            data = buffer.getvalue()
            assert data[2:4] == b"\xff\xe0"
            buffer = io.BytesIO(data[:2] + data[4 + int.from_bytes(data[4:6], "big") :])
        preview_bytes, preview_size = buffer.getvalue(), sensor.size
        preview_tags = [(259, 3, [7]), (262, 3, [6]), (530, 3, [2, 2])]  # JPEG, YCbCr, 4:2:0
    else:
        thumb = sensor.resize((sensor.width // 16, sensor.height // 16))
        preview_bytes, preview_size = thumb.tobytes(), thumb.size
        preview_tags = [(259, 3, [1]), (262, 3, [2])]  # uncompressed RGB
    raw_bytes = cfa.tobytes()
    preview_at = 8
    raw_at = preview_at + len(preview_bytes) + len(preview_bytes) % 2
    ifd0_at = raw_at + len(raw_bytes)

    def ascii_(text: str) -> list[int]:
        return list(text.encode() + b"\0")

    matrix = [x for row in _XYZ_TO_SRGB for x in row]
    ifd0 = [
        (254, 4, [1]),  # NewSubfileType: reduced-resolution (preview)
        (256, 4, [preview_size[0]]),
        (257, 4, [preview_size[1]]),
        (258, 3, [8, 8, 8]),
        (271, 2, ascii_("phototag")),
        (272, 2, ascii_("test camera")),
        (273, 4, [preview_at]),
        (274, 3, [orientation]),
        (277, 3, [3]),
        (278, 4, [preview_size[1]]),
        (279, 4, [len(preview_bytes)]),
        (284, 3, [1]),
        (330, 4, [0]),  # SubIFDs: offset filled in below
        (50706, 1, [1, 4, 0, 0]),  # DNGVersion
        (50707, 1, [1, 1, 0, 0]),  # DNGBackwardVersion
        (50708, 2, ascii_("phototag test camera")),  # UniqueCameraModel
        (50721, 10, [v for x in matrix for v in (round(x * 10000), 10000)]),  # ColorMatrix1
        (50728, 5, [1, 1, 1, 1, 1, 1]),  # AsShotNeutral
        (50778, 3, [21]),  # CalibrationIlluminant1: D65
    ] + preview_tags
    sub_at = ifd0_at + len(_ifd(ifd0, ifd0_at))
    ifd0 = [(tag, kind, [sub_at] if tag == 330 else values) for tag, kind, values in ifd0]
    sub = [
        (254, 4, [0]),  # full-resolution image
        (256, 4, [sensor.width]),
        (257, 4, [sensor.height]),
        (258, 3, [16]),
        (259, 3, [1]),
        (262, 3, [32803]),  # CFA
        (273, 4, [raw_at]),
        (277, 3, [1]),
        (278, 4, [sensor.height]),
        (279, 4, [len(raw_bytes)]),
        (284, 3, [1]),
        (33421, 3, [2, 2]),  # CFARepeatPatternDim
        (33422, 1, [0, 1, 1, 2]),  # CFAPattern: RGGB
        (50710, 1, [0, 1, 2]),  # CFAPlaneColor
        (50711, 3, [1]),  # CFALayout: rectangular
        (50714, 3, [0]),  # BlackLevel
        (50717, 3, [white]),  # WhiteLevel
    ]
    content = (
        b"II*\0"
        + struct.pack("<I", ifd0_at)
        + preview_bytes.ljust(raw_at - preview_at, b"\0")
        + raw_bytes
        + _ifd(ifd0, ifd0_at)
        + _ifd(sub, sub_at)
    )
    path.write_bytes(content)


@pytest.fixture
def upright() -> Image.Image:
    return quadrant_image()
