"""Batched image loading for the model: worker processes decode, the main process infers.

`batches(paths, size, ...)` yields `Batch`es of uint8 arrays [B, 3, size, size]
(the central square of each photo, EXIF-oriented, JPEG draft-decoded through
`phototag.imaging.decode.load_rgb`) together with the paths that failed to
decode and why. Workers are a pool of processes (numpy and Pillow only: no
PyTorch needed), each decoding a whole batch, so decoding overlaps with
inference in the main process; batches come back in input order, a few in
flight per worker, and uint8 crosses the process boundary (4x less than float).

With a GPU decoder, JPEG chunks wait in a work queue that both sides pull
from: the GPU decoder (main process) from the front, the CPU workers (fed by a
thread) from the back once the other formats are done, one chunk per free
worker. Both sides' batches are yielded as they finish, so they interleave.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from phototag.imaging.decode import load_rgb
from phototag.imaging.pixels import DecodeError


@dataclass
class Batch:
    indices: list[int]  # positions in the input `paths` of the images in `images`
    images: object  # uint8 [B, 3, S, S]: a numpy array (CPU workers) or a torch tensor on the GPU (GPU decoder)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (position, one-line reason)


def decode_square(path: Path, size: int) -> tuple[Optional[np.ndarray], Optional[str]]:
    """(uint8 [3, size, size] central square, None), or (None, one-line reason) when the photo cannot be decoded."""
    try:
        image = load_rgb(path, size, square=True)
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)), None
    except DecodeError as error:
        return None, str(error)
    except OSError as error:  # vanished or unreadable between scan and suggest
        return None, f"{type(error).__name__}: {error.strerror or error}"


class PhotoDataset:
    """`paths` decoded one at a time: item i is (i, uint8 [3, size, size] or None, reason or None)."""

    def __init__(self, paths: Sequence[Path], size: int):
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        return (index, *decode_square(self.paths[index], self.size))


def decode_batch(positions: Sequence[int], paths: Sequence[Path], size: int) -> Batch:
    """One batch: `paths` (at `positions` of the caller's list) decoded; what fails is in `failed`."""
    ok, images, failed = [], [], []
    for position, path in zip(positions, paths):
        image, reason = decode_square(path, size)
        if image is None:
            failed.append((position, reason))
        else:
            ok.append(position)
            images.append(image)
    stacked = np.stack(images) if images else np.empty((0, 3, size, size), dtype=np.uint8)
    return Batch(ok, stacked, failed)


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
    workers = workers if len(paths) > 1 else 0
    if gpu_decoder is not None:
        yield from _mixed_batches(paths, size, batch_size, workers, gpu_decoder)
    else:
        yield from _decoded(paths, size, _chunks(list(range(len(paths))), batch_size), workers, 4 * max(1, workers))


def _pool_context():
    """Forked workers on Linux, as torch's DataLoader had them: they start at once, need no `__main__` guard in
    the calling script, and only decode (no CUDA, no onnxruntime in them); elsewhere the platform's default."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


def _decoded(paths: Sequence[Path], size: int, chunks: Iterable[list[int]], workers: int, in_flight: int):
    """Batches of `chunks` (lists of positions in `paths`) in chunk order, decoded by `workers` processes with at
    most `in_flight` batches queued; the next chunk is taken only when a slot frees up. `workers` 0: in-process."""
    if workers == 0:
        for chunk in chunks:
            yield decode_batch(chunk, [paths[i] for i in chunk], size)
        return
    pending: deque[Future] = deque()
    chunks = iter(chunks)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    try:
        while True:
            while len(pending) < in_flight and (chunk := next(chunks, None)) is not None:
                pending.append(pool.submit(decode_batch, chunk, [paths[i] for i in chunk], size))
            if not pending:
                return
            yield pending.popleft().result()  # a worker's exception (not a decode failure) is raised here
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
    The pool asks for the next one only when a worker is free (one batch in flight per worker), so the
    CPU takes JPEGs at the pace it decodes them."""
    yield from own
    while (chunk := shared.take(from_back=True)) is not None:
        yield chunk


_DONE = object()


class _CpuSide:
    """Runs the worker pool's batch iterator in the background and hands its batches over through a small queue."""

    def __init__(self, decoded: Iterator[Batch], depth: int = 2):
        self._iterator = decoded
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
            self._iterator.close()  # shuts the worker processes down

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


def _mixed_batches(paths, size, batch_size, workers, gpu_decoder) -> Iterator[Batch]:
    from phototag.imaging.gpu import gpu_candidate

    on_gpu = [i for i, path in enumerate(paths) if gpu_candidate(path)]
    on_cpu = [i for i, path in enumerate(paths) if not gpu_candidate(path)]
    jpegs = _WorkQueue(_chunks(on_gpu, batch_size))
    chunks = _cpu_chunks(_chunks(on_cpu, batch_size), jpegs)
    cpu = _CpuSide(_decoded(paths, size, chunks, workers, in_flight=max(1, workers)))
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
