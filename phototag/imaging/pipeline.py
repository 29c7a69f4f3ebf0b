"""Batched image loading for the model: worker processes decode, the main process infers.

`batches(paths, size, ...)` yields `Batch`es of uint8 tensors [B, 3, size, size]
(the central square of each photo, EXIF-oriented, JPEG draft-decoded through
`phototag.imaging.decode.load_rgb`) together with the paths that failed to
decode and why. Workers are torch DataLoader processes, so decoding overlaps
with inference in the main process; uint8 crosses the process boundary (4x less
than float) and is normalised on the device. On CUDA, batches come in pinned
memory so the host-to-device copy can run asynchronously.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from phototag.imaging.decode import DecodeError, load_rgb


@dataclass
class Batch:
    indices: list[int]  # positions in the input `paths` of the images in `images`
    images: torch.Tensor  # uint8 [B, 3, S, S]
    failed: list[tuple[int, str]] = field(default_factory=list)  # (position, one-line reason)

    def pin_memory(self) -> "Batch":  # called by DataLoader(pin_memory=True)
        return Batch(self.indices, self.images.pin_memory(), self.failed)


class PhotoDataset(Dataset):
    def __init__(self, paths: Sequence[Path], size: int):
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            image = load_rgb(self.paths[index], self.size, square=True)
            array = np.asarray(image, dtype=np.uint8)
            return index, torch.from_numpy(array.copy()).permute(2, 0, 1), None
        except DecodeError as error:
            return index, None, str(error)
        except OSError as error:  # vanished or unreadable between scan and suggest
            return index, None, f"{type(error).__name__}: {error.strerror or error}"


def _collate(items) -> Batch:
    ok = [(i, t) for i, t, e in items if t is not None]
    failed = [(i, e) for i, t, e in items if t is None]
    if ok:
        images = torch.stack([t for _, t in ok])
    else:
        images = torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    return Batch([i for i, _ in ok], images, failed)


def default_workers() -> int:
    """Decode workers: the CPUs this process may use, at most 8 (decoding is per-photo parallel)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def batches(
    paths: Sequence[Path],
    size: int,
    batch_size: int = 32,
    workers: Optional[int] = None,
    pin_memory: bool = False,
    gpu_decoder=None,
) -> Iterator[Batch]:
    """Decode `paths` and yield them in batches; `Batch.indices` are positions in `paths`.

    Without `gpu_decoder`: worker processes, in input order. With a
    `phototag.imaging.gpu.GpuDecoder`: JPEGs are decoded on the GPU in the main
    process (images arrive on the GPU) while the worker processes decode the
    other formats in the background; those batches follow.
    """
    if not paths:
        return
    if gpu_decoder is not None:
        yield from _mixed_batches(paths, size, batch_size, workers, pin_memory, gpu_decoder)
        return
    workers = default_workers() if workers is None else workers
    # Fewer workers than batches would idle; more processes than photos is waste.
    workers = min(workers, max(1, len(paths) // max(1, batch_size // 4)))
    loader = DataLoader(
        PhotoDataset(paths, size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers if len(paths) > 1 else 0,
        collate_fn=_collate,
        pin_memory=pin_memory and torch.cuda.is_available(),
        prefetch_factor=4 if workers and len(paths) > 1 else None,
        persistent_workers=False,
    )
    yield from loader


def _mixed_batches(paths, size, batch_size, workers, pin_memory, gpu_decoder) -> Iterator[Batch]:
    from phototag.imaging.gpu import gpu_candidate

    on_gpu = [i for i, path in enumerate(paths) if gpu_candidate(path)]
    on_cpu = [i for i, path in enumerate(paths) if not gpu_candidate(path)]
    # Start the CPU workers first so they decode while the GPU works.
    cpu_iter = iter(batches([paths[i] for i in on_cpu], size, batch_size, workers, pin_memory)) if on_cpu else iter(())
    for start in range(0, len(on_gpu), batch_size):
        chunk = on_gpu[start : start + batch_size]
        decoded = gpu_decoder.decode([paths[i] for i in chunk])
        yield Batch([chunk[i] for i in decoded.ok], decoded.images, [(chunk[i], r) for i, r in decoded.errors.items()])
    for batch in cpu_iter:
        yield Batch([on_cpu[i] for i in batch.indices], batch.images, [(on_cpu[i], r) for i, r in batch.failed])
