"""The review under a burst of full-size previews (issue 18 item 12): six 24 MP PNGs, 60 parallel
GET /photo/N, a real server on 127.0.0.1. The API keeps answering and the server's memory stays bounded
(before: /api/status took 17-77 s and the server peaked at 2.4-4.2 GB)."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from .conftest import start_review

pytestmark = pytest.mark.slow  # a real CLI process decoding 144 MP of PNG


def big_pngs(root: Path, count: int = 6) -> None:
    """`count` 6000 x 4000 PNGs: one picture saved once, each copy with its own trailer (its own fingerprint)."""
    size = (6000, 4000)
    bands = [
        Image.linear_gradient("L").resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
    ]
    buffer = io.BytesIO()
    Image.merge("RGB", bands).save(buffer, "PNG", compress_level=1)
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"big{i}.png").write_bytes(buffer.getvalue() + i.to_bytes(4, "little"))


def peak_memory_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def test_a_burst_of_previews_leaves_the_api_responsive_and_memory_bounded(tmp_path):
    library = tmp_path / "big"
    big_pngs(library)
    suggestions = tmp_path / "s.jsonl"
    suggestions.write_text(json.dumps({"path": "big0.png", "suggestions": [{"tag": "sky", "score": 0.5}]}) + "\n")
    review = start_review(library, tmp_path / "index.sqlite", "--from", str(suggestions))

    def get(path: str) -> bytes:
        sep = "&" if "?" in path else "?"
        with urllib.request.urlopen(f"{review.base}{path}{sep}token={review.token}", timeout=300) as response:
            return response.read()

    try:
        ids = [card["id"] for card in json.loads(get("/api/photos"))["cards"]]
        assert len(ids) == 6
        status_s: list[float] = []
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                get("/api/status")
                status_s.append(time.perf_counter() - started)
                time.sleep(0.1)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            with ThreadPoolExecutor(60) as pool:
                previews = list(pool.map(lambda n: get(f"/photo/{ids[n % 6]}"), range(60)))
        finally:
            done.set()
            poller.join()
        peak = peak_memory_mb(review.process.pid)
    finally:
        assert review.stop() == 0
    assert len(status_s) >= 5 and max(status_s) < 2, status_s  # about 0.4 s at worst on two loaded cores
    assert peak < 1000, peak  # about 300 MB
    for data in previews:
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.size == (1600, 1067)
