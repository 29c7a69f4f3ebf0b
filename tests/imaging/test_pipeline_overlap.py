"""GPU and CPU decoding overlap: run on the CPU with a slow stand-in for the GPU decoder."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import torch
from PIL import Image

from phototag.imaging.decode import load_rgb
from phototag.imaging.gpu import DecodedBatch
from phototag.imaging.pipeline import PhotoDataset, batches
from phototag.imaging.pixels import DecodeError

SIZE = 32


class SlowGpuDecoder:
    """Keeps `phototag.imaging.gpu.GpuDecoder.decode`'s contract (a DecodedBatch in input order, one-line
    reasons for failures) but decodes on the CPU and takes `seconds` per batch, like a busy GPU."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.seen: set[Path] = set()

    def decode(self, paths: Sequence[Path]) -> DecodedBatch:
        time.sleep(self.seconds)
        self.seen.update(paths)
        ok, images, errors = [], [], {}
        for index, path in enumerate(paths):
            try:
                array = np.array(load_rgb(path, SIZE, square=True))
            except DecodeError as error:
                errors[index] = str(error)
                continue
            ok.append(index)
            images.append(torch.from_numpy(array).permute(2, 0, 1))
        stacked = torch.stack(images) if images else torch.empty((0, 3, SIZE, SIZE), dtype=torch.uint8)
        return DecodedBatch(images=stacked, ok=ok, errors=errors, on_gpu=len(ok))


def mixed_library(folder: Path, each: int = 8) -> list[Path]:
    """`each` JPEGs and `each` PNGs, alternating, plus one broken file of each kind."""
    paths = []
    for i in range(each):
        for suffix in ("jpg", "png"):
            path = folder / f"{i:02d}.{suffix}"
            Image.new("RGB", (64, 48), (20 * i, 100, 200 if suffix == "png" else 0)).save(path)
            paths.append(path)
    for name in ("broken.jpg", "broken.png"):
        (folder / name).write_bytes(b"not a photo")
        paths.append(folder / name)
    return paths


def test_gpu_and_cpu_batches_interleave(tmp_path):
    paths = mixed_library(tmp_path)
    gpu = SlowGpuDecoder(seconds=0.3)
    sources, seen, failed = [], {}, {}
    for batch in batches(paths, SIZE, batch_size=2, workers=1, gpu_decoder=gpu):
        positions = batch.indices + [i for i, _ in batch.failed]
        on_gpu = {paths[i] in gpu.seen for i in positions}
        assert len(on_gpu) == 1, "a batch comes from one side"
        sources.append("gpu" if on_gpu.pop() else "cpu")
        for i, image in zip(batch.indices, batch.images):
            assert i not in seen and i not in failed
            seen[i] = image
        failed.update(batch.failed)

    print("batch sources:", " ".join(sources))
    broken = {paths.index(tmp_path / "broken.jpg"), paths.index(tmp_path / "broken.png")}
    assert set(failed) == broken and all(failed.values())
    assert sorted(seen) == sorted(set(range(len(paths))) - broken)
    for i, image in seen.items():  # positions point at the right pictures, whichever side decoded them
        assert np.array_equal(np.asarray(image), PhotoDataset(paths, SIZE)[i][1])
    # Interleaved: CPU batches arrive while the GPU still has batches to come (not all GPU, then all CPU).
    runs = 1 + sum(a != b for a, b in zip(sources, sources[1:]))
    assert runs >= 3 and sources.index("cpu") < len(sources) - 1 - sources[::-1].index("gpu"), sources
    # The busy GPU left JPEGs to the CPU workers, and never got anything but JPEGs.
    cpu_jpegs = {p for p in paths if p.suffix == ".jpg" and p not in gpu.seen}
    assert cpu_jpegs and all(p.suffix == ".jpg" for p in gpu.seen)


class FailingGpuDecoder(SlowGpuDecoder):
    def decode(self, paths):
        super().decode(paths)
        raise RuntimeError("GPU decoder broke")


def cpu_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "phototag-cpu-decode"]


def test_stopping_early_or_a_gpu_error_stops_the_cpu_side(tmp_path):
    paths = mixed_library(tmp_path, each=4)
    stream = batches(paths, SIZE, batch_size=2, workers=1, gpu_decoder=SlowGpuDecoder(seconds=0.0))
    next(stream)
    stream.close()  # the consumer stops after one batch
    assert not cpu_threads()
    with pytest.raises(RuntimeError, match="GPU decoder broke"):
        for _ in batches(paths, SIZE, batch_size=2, workers=1, gpu_decoder=FailingGpuDecoder(seconds=0.0)):
            pass
    assert not cpu_threads()
