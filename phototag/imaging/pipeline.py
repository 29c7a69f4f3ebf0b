"""Batched image loading for the model: worker processes decode, the main process infers.

`batches(paths, size, ...)` yields `Batch`es of uint8 tensors [B, 3, size, size]
(the central square of each photo, EXIF-oriented, JPEG draft-decoded through
`phototag.imaging.decode.load_rgb`) together with the paths that failed to
decode and why. Workers are torch DataLoader processes, so decoding overlaps
with inference in the main process; uint8 crosses the process boundary (4x less
than float) and is normalised on the device. On CUDA, batches come in pinned
memory so the host-to-device copy can run asynchronously.

With a GPU decoder, JPEG chunks wait in a work queue that both sides pull
from: the GPU decoder (main process) from the front, the CPU workers (fed by a
thread) from the back once the other formats are done, one chunk per free
worker. Both sides' batches are yielded as they finish, so they interleave.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError


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
    other formats and take JPEG chunks the GPU has not reached yet; batches of
    both kinds come as they are ready, not in input order.
    """
    if not paths:
        return
    workers = default_workers() if workers is None else workers
    # Fewer workers than batches would idle; more processes than photos is waste.
    workers = min(workers, max(1, len(paths) // max(1, batch_size // 4)))
    if gpu_decoder is not None:
        yield from _mixed_batches(paths, size, batch_size, workers, pin_memory, gpu_decoder)
    else:
        yield from _loader(paths, size, workers, pin_memory, prefetch=4, batch_size=batch_size, shuffle=False)


def _loader(paths: Sequence[Path], size: int, workers: int, pin_memory: bool, prefetch: int, **batching) -> DataLoader:
    workers = workers if len(paths) > 1 else 0
    return DataLoader(
        PhotoDataset(paths, size),
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin_memory and torch.cuda.is_available(),
        prefetch_factor=prefetch if workers else None,
        persistent_workers=False,
        **batching,
    )


def _chunks(positions: list[int], size: int) -> list[list[int]]:
    return [positions[start : start + size] for start in range(0, len(positions), size)]


class _WorkQueue:
    """Chunks of JPEG positions: the GPU decoder takes from the front, the CPU workers from the back."""

    def __init__(self, chunks: Iterable[list[int]]):
        self._chunks = deque(chunks)  # deque pops are atomic: no lock needed between the two threads

    def take(self, from_back: bool = False) -> Optional[list[int]]:
        try:
            return self._chunks.pop() if from_back else self._chunks.popleft()
        except IndexError:
            return None


def _cpu_chunks(own: list[list[int]], shared: _WorkQueue) -> Iterator[list[int]]:
    """The CPU workers' batches: the files only they decode, then JPEG chunks the GPU has not taken.
    The DataLoader asks for the next one only when a worker is free (prefetch_factor=1), so the CPU
    takes JPEGs at the pace it decodes them."""
    yield from own
    while (chunk := shared.take(from_back=True)) is not None:
        yield chunk


_DONE = object()


class _CpuSide:
    """Runs a DataLoader iterator in the background and hands its batches over through a small queue."""

    def __init__(self, loader: DataLoader, depth: int = 2):
        # Worker processes are started here, in the calling thread, before any GPU work runs beside them.
        self._iterator = iter(loader)
        self._ready: queue.Queue = queue.Queue(maxsize=depth)  # a bound, so decoding stays near the consumer
        self._closing = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="phototag-cpu-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for batch in self._iterator:
                if not self._put(batch):
                    return
            self._put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(error)
        finally:
            del self._iterator  # shuts the worker processes down

    def _put(self, item) -> bool:
        while not self._closing.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def finished(self) -> Iterator[Batch]:
        """The batches that are ready now (at most `depth`), without waiting."""
        for _ in range(self._ready.qsize()):
            yield from self._receive(self._ready.get())

    def rest(self) -> Iterator[Batch]:
        """Every remaining batch, waiting for each."""
        while not self._done:
            try:
                item = self._ready.get(timeout=1.0)
            except queue.Empty:
                if not self._thread.is_alive() and self._ready.empty():
                    raise RuntimeError("the CPU decode thread ended without finishing") from None
                continue
            yield from self._receive(item)

    def _receive(self, item) -> Iterator[Batch]:
        if item is _DONE:
            self._done = True
        elif isinstance(item, BaseException):
            raise item
        else:
            yield item

    def close(self) -> None:
        self._closing.set()
        self._thread.join()


def _mixed_batches(paths, size, batch_size, workers, pin_memory, gpu_decoder) -> Iterator[Batch]:
    from phototag.imaging.gpu import gpu_candidate

    on_gpu = [i for i, path in enumerate(paths) if gpu_candidate(path)]
    on_cpu = [i for i, path in enumerate(paths) if not gpu_candidate(path)]
    jpegs = _WorkQueue(_chunks(on_gpu, batch_size))
    # The dataset holds every path, so the CPU side's positions need no mapping back.
    sampler = _cpu_chunks(_chunks(on_cpu, batch_size), jpegs)
    cpu = _CpuSide(_loader(paths, size, workers, pin_memory, prefetch=1, batch_sampler=sampler))
    try:
        while True:
            yield from cpu.finished()
            chunk = jpegs.take()
            if chunk is None:
                break
            decoded = gpu_decoder.decode([paths[i] for i in chunk])
            failed = [(chunk[i], reason) for i, reason in decoded.errors.items()]
            yield Batch([chunk[i] for i in decoded.ok], decoded.images, failed)
        yield from cpu.rest()
    finally:
        cpu.close()
