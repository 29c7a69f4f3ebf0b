"""Optional GPU JPEG decoding: batched nvJPEG (torchvision) or nvImageCodec, batched GPU resize.

Only imported when CUDA is available (the `phototag[gpu]` extra adds nvImageCodec;
torchvision's nvJPEG path needs nothing extra). A batch of paths becomes one
uint8 tensor [N, 3, target, target] on the GPU, in input order:

  * files that look like plain JPEGs (SOI marker, RGB/grey, not CMYK, within the
    decompression-bomb limit) are decoded together on the GPU;
  * everything else, and every JPEG the GPU decoder refuses, goes through the
    CPU path (`load_rgb(..., square=True)`) one by one and is uploaded;
  * files the CPU path cannot decode either are reported with their reason.

EXIF orientation is read from the JPEG header on the CPU (nvJPEG does not apply
it) and applied on the GPU with flips/rotations; the central square (times
`crop_fraction`) is then resized in groups of equal size with antialiased
bicubic interpolation, which matches the CPU path's Pillow resize closely.

STATUS: the tensor helpers (orientation, crop, resize) are tested on CPU tensors;
the decoder calls themselves have not been run in this project yet (no GPU).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import ORIENTATION_TAG, DecodeError


@dataclass
class DecodedBatch:
    images: torch.Tensor  # [len(ok), 3, target, target] uint8, on the decoder's device
    ok: list[int]  # indices into the input paths, in the order of `images`
    errors: dict[int, str] = field(default_factory=dict)  # index -> one-line reason
    on_gpu: int = 0  # how many were decoded by the GPU decoder (the rest by the CPU path)


JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe"})


def gpu_candidate(path: Path) -> bool:
    """Cheap routing test for a pipeline: send these to the GPU decoder, everything else straight
    to the CPU workers (the GPU decoder would hand them to the CPU path one by one anyway)."""
    return Path(path).suffix.lower() in JPEG_SUFFIXES


def cuda_available() -> bool:
    return torch.cuda.is_available()


def nvimgcodec_available() -> bool:
    try:
        from nvidia import nvimgcodec  # noqa: F401
    except ImportError:
        return False
    return True


class GpuDecoder:
    """Batched GPU decoding of JPEGs to model-sized squares, with a per-file CPU fallback."""

    def __init__(
        self,
        target: int = 224,
        *,
        crop_fraction: float = 1.0,
        device: str | torch.device = "cuda",
        backend: str = "auto",
        raw_full: bool = False,
    ) -> None:
        if backend not in ("auto", "nvimgcodec", "torchvision"):
            raise ValueError(f"unknown GPU decode backend {backend!r}")
        self.target = target
        self.crop_fraction = crop_fraction
        self.device = torch.device(device)
        self.raw_full = raw_full
        self._nvimgcodec = None
        if backend in ("auto", "nvimgcodec") and nvimgcodec_available():
            from nvidia import nvimgcodec

            self._nvimgcodec = nvimgcodec.Decoder(device_id=self.device.index or 0)
            try:  # orientation is applied here (same code for both backends), output is RGB
                self._nv_params = nvimgcodec.DecodeParams(
                    apply_exif_orientation=False, color_spec=nvimgcodec.ColorSpec.RGB
                )
            except (TypeError, AttributeError):  # an older/newer signature: defaults, then our setting
                self._nv_params = nvimgcodec.DecodeParams()
                self._nv_params.apply_exif_orientation = False
        elif backend == "nvimgcodec":
            raise RuntimeError("nvImageCodec is not installed (pip install 'phototag[gpu]')")
        self.backend = "nvimgcodec" if self._nvimgcodec is not None else "torchvision-nvjpeg"

    def decode(self, paths: Sequence[Path]) -> DecodedBatch:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        gpu_items: list[tuple[int, bytes, int]] = []  # (index, file bytes, EXIF orientation)
        cpu_indices: list[int] = []
        # torchvision's batched nvJPEG call fails whole batches on one refused file, so progressive
        # JPEGs (not decodable by the hardware engine) go to the CPU there; nvImageCodec copes per file
        allow_progressive = self._nvimgcodec is not None
        for index, path in enumerate(paths):
            data, orientation = _read_plain_jpeg(Path(path), limit, allow_progressive)
            if data is None:
                cpu_indices.append(index)
            else:
                gpu_items.append((index, data, orientation))

        decoded: dict[int, torch.Tensor] = {}  # index -> [3, H, W] uint8 on device, upright
        refused = self._decode_on_gpu(gpu_items, decoded)
        cpu_indices.extend(refused)
        squares = resize_squares(
            {index: center_square(image, self.crop_fraction) for index, image in decoded.items()}, self.target
        )
        on_gpu = len(squares)

        errors: dict[int, str] = {}
        for index in sorted(cpu_indices):
            try:
                image = load_rgb(
                    paths[index], self.target, raw_full=self.raw_full, square=True, crop_fraction=self.crop_fraction
                )
            except DecodeError as error:
                errors[index] = str(error)
                continue
            array = torch.from_numpy(np.array(image))  # HWC uint8, writable copy
            squares[index] = array.permute(2, 0, 1).to(self.device, non_blocking=True)

        ok = sorted(squares)
        images = (
            torch.stack([squares[index] for index in ok])
            if ok
            else torch.empty((0, 3, self.target, self.target), dtype=torch.uint8, device=self.device)
        )
        return DecodedBatch(images=images, ok=ok, errors=errors, on_gpu=on_gpu)

    def _decode_on_gpu(self, items: list[tuple[int, bytes, int]], out: dict[int, torch.Tensor]) -> list[int]:
        """Decode `items` into `out` (upright CHW uint8); return the indices the GPU refused."""
        if not items:
            return []
        if self._nvimgcodec is not None:
            datas = [data for _, data, _ in items]
            stream = torch.cuda.current_stream(self.device)
            try:
                try:  # decode on torch's stream, so later torch work is ordered after it
                    images = self._nvimgcodec.decode(datas, params=self._nv_params, cuda_stream=stream.cuda_stream)
                except TypeError:  # an nvImageCodec without the cuda_stream argument
                    images = self._nvimgcodec.decode(datas, params=self._nv_params)
                    torch.cuda.synchronize(self.device)
            except Exception:  # noqa: BLE001 - a failed batch: every file goes to the CPU path
                return [index for index, _, _ in items]
            refused = []
            for (index, _, orientation), image in zip(items, images):
                if image is None:  # nvImageCodec returns None for an image it could not decode
                    refused.append(index)
                    continue
                hwc = torch.as_tensor(image, device=self.device)  # __cuda_array_interface__, no copy
                out[index] = orient(hwc.permute(2, 0, 1), orientation)
            return refused

        from torchvision.io import ImageReadMode, decode_jpeg

        tensors = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for _, data, _ in items]
        try:
            images = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=self.device)
        except RuntimeError:
            # nvJPEG gives no partial results: find the refused files one by one
            images = []
            for tensor in tensors:
                try:
                    images.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=self.device))
                except RuntimeError:
                    images.append(None)
        refused = []
        for (index, _, orientation), image in zip(items, images):
            if image is None:
                refused.append(index)
            else:
                out[index] = orient(image, orientation)
        return refused


def _read_plain_jpeg(path: Path, limit: int, allow_progressive: bool = True) -> tuple[bytes | None, int]:
    """The file's bytes and EXIF orientation if it is a JPEG the GPU decoders handle, else (None, 1)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, 1  # the CPU path reports the reason
    if not data.startswith(b"\xff\xd8"):
        return None, 1
    try:
        with Image.open(io.BytesIO(data)) as header:  # parses headers only, no pixel decoding
            if header.mode not in ("RGB", "L") or (limit and header.width * header.height > limit):
                return None, 1
            if not allow_progressive and (header.info.get("progressive") or header.info.get("progression")):
                return None, 1
            orientation = int(header.getexif().get(ORIENTATION_TAG, 1) or 1)
    except Exception:  # noqa: BLE001 - anything odd goes to the CPU path, which explains it
        return None, 1
    return data, orientation if orientation in range(1, 9) else 1


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Apply EXIF orientation 1-8 to a [C, H, W] tensor (same results as Pillow's exif_transpose)."""
    if orientation == 2:
        return image.flip(2)
    if orientation == 3:
        return image.flip(1, 2)
    if orientation == 4:
        return image.flip(1)
    if orientation == 5:
        return image.transpose(1, 2)
    if orientation == 6:
        return torch.rot90(image, -1, dims=(1, 2))  # 90 degrees clockwise
    if orientation == 7:
        return image.transpose(1, 2).flip(1, 2)
    if orientation == 8:
        return torch.rot90(image, 1, dims=(1, 2))  # 90 degrees counter-clockwise
    return image


def center_square(image: torch.Tensor, crop_fraction: float = 1.0) -> torch.Tensor:
    """The central square of a [C, H, W] tensor, side = shorter side * crop_fraction (a view)."""
    _, height, width = image.shape
    side = max(1, round(min(height, width) * crop_fraction))
    top, left = (height - side) // 2, (width - side) // 2
    return image[:, top : top + side, left : left + side]


def resize_squares(squares: dict[int, torch.Tensor], target: int) -> dict[int, torch.Tensor]:
    """Resize square [C, S, S] uint8 tensors to [C, target, target], one batched call per size S."""
    by_side: dict[int, list[int]] = {}
    for index, square in squares.items():
        by_side.setdefault(square.shape[-1], []).append(index)
    out: dict[int, torch.Tensor] = {}
    for side, indices in by_side.items():
        batch = torch.stack([squares[index] for index in indices]).float()
        if side != target:
            batch = F.interpolate(batch, size=(target, target), mode="bicubic", antialias=True, align_corners=False)
        batch = batch.round_().clamp_(0, 255).to(torch.uint8)
        out.update(zip(indices, batch))
    return out
