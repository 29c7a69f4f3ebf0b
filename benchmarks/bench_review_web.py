"""How fast the web review (`phototag review DIR --web`) opens on a 10,000-photo library.

    .venv/bin/python benchmarks/bench_review_web.py [--count 10000] [--repeats 5] [--workdir DIR]

The library is synthetic: `--count` small JPEGs (400 x 300, quality 85, made from 48
generated pictures with a unique trailer each, so every file has its own fingerprint) in
folders of 200; every third photo has a sidecar with 3-6 tags from a 120-word vocabulary
(a third of them hierarchical). Suggestions come from a suggest file (`--from`, five per
untagged photo): the figures measure the page and its thumbnails, not the ranking (live
suggestions arrive in the background, chunk by chunk, at `phototag suggest`'s speed; see
bench_suggest).

Figures (medians over --repeats, each in a fresh headless chromium with an empty cache):
  start_cold_s        command start -> "Review at" printed, new index (includes the first scan)
  start_warm_s        the same with the index already there (the common case)
  thumbs_cold_s       the first page's 200 thumbnails made (6 parallel requests, as a browser)
  thumbs_cached_s     the same 200 requests again, served from the cache (the server's share)
  page_open_s         navigation start -> the first page of 200 cards drawn (data in)
  visible_thumbs_s    navigation start -> every thumbnail in a 1400 x 1000 window shown (cached)
  page_thumbs_s       navigation start -> all 200 thumbnails of the first page shown (cached;
                      a window tall enough to show the whole page, so lazy loading loads all)
  api_page_ms         GET /api/photos: page 1, the last page, and a tag filter (over 10,000 photos)
Results go to benchmarks/results/bench_review_web.json.

    .venv/bin/python benchmarks/bench_review_web.py --preview-load [--requests 60]

measures the review under a burst of full-size previews instead (issue 18 item 12): six 24 MP
PNGs (6000 x 4000), `--requests` parallel GET /photo/N over them, while /api/status is asked
every 0.2 s; figures: the slowest and median /api/status answer during the burst, the time for
all previews, and the server's peak and final resident memory (VmHWM, VmRSS). Results go to
benchmarks/results/bench_review_web_load.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from photos import xmp_sidecar  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

WORDS = [f"tag{i:03}" for i in range(120)]
TALL = (2400, 10000)  # 9 columns x 23 rows of cards: the whole first page on screen


def build_library(root: Path, count: int, seed: int = 0) -> Path:
    """The library, and a suggest file with five suggestions for each untagged photo."""
    rng = random.Random(seed)
    templates = []
    for i in range(48):
        image = Image.linear_gradient("L").resize((400, 300)).convert("RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randrange(360), rng.randrange(260)
            draw.ellipse(
                (x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120)),
                fill=tuple(rng.randrange(256) for _ in range(3)),
            )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        templates.append(buffer.getvalue())
    records = []
    for i in range(count):
        folder = root / f"{2010 + i // 2000}" / f"event-{i // 200:03}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"IMG_{i:05}.jpg"
        (folder / name).write_bytes(templates[i % len(templates)] + i.to_bytes(4, "little"))
        if i % 3 == 0:
            tags = rng.sample(WORDS, rng.randint(3, 6))
            hierarchical = [f"Topics|{t}" for t in tags[:2]] if i % 9 == 0 else []
            (folder / f"{name}.xmp").write_text(xmp_sidecar(subjects=tags, hierarchical=hierarchical), encoding="utf-8")
        else:
            scores = sorted((rng.random() for _ in range(5)), reverse=True)
            records.append(
                {
                    "path": str((folder / name).relative_to(root)),
                    "suggestions": [
                        {"tag": t, "score": round(s, 4), "source": rng.choice(["personal", "knn", "general"])}
                        for t, s in zip(rng.sample(WORDS, 5), scores)
                    ],
                    "model": "bench",
                }
            )
    suggestions = root.parent / "suggestions.jsonl"
    suggestions.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return suggestions


class Server:
    def __init__(self, library: Path, suggestions: Path, data: Path):
        env = {**os.environ, "PHOTOTAG_DATA_DIR": str(data), "PHOTOTAG_LOG_DIR": str(data / "logs")}
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "phototag",
                "review",
                str(library),
                "--web",
                "--no-browser",
                "--from",
                str(suggestions),
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in self.process.stderr:
            found = re.search(r"Review at (http://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        else:
            raise SystemExit("the review did not start")
        self.start_s = time.perf_counter() - started
        self.base, self.token = self.url.split("/?token=")

    def get(self, path: str) -> bytes:
        sep = "&" if "?" in path else "?"
        with urllib.request.urlopen(f"{self.base}{path}{sep}token={self.token}", timeout=120) as response:
            return response.read()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)


def browser(size: tuple[int, int]):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    driver.set_script_timeout(120)
    return driver


# Waits without disturbing what it measures: the page stamps each thumbnail's load event
# (img.dataset.shown = performance.now()); this looks every 250 ms (a tight loop of layout
# queries would hold up the very image loads it waits for).
WAIT_FOR_THUMBNAILS = """
const done = arguments[arguments.length - 1];
function check() {
  const loaded = performance.getEntriesByName("phototag-loaded");
  const shown = loaded.length ? [...document.querySelectorAll(".thumb img")].filter((i) => {
    const r = i.getBoundingClientRect();
    return r.top < innerHeight && r.bottom > 0;
  }) : [];
  if (shown.length && shown.every((i) => i.dataset.shown))
    done([loaded[0].startTime, Math.max(...shown.map((i) => Number(i.dataset.shown))), shown.length]);
  else setTimeout(check, 250);
}
check();
"""


def page_timings(server: Server, size: tuple[int, int]) -> tuple[float, float, int]:
    """(page open s, thumbnails shown s, how many thumbnails were on screen) in a fresh browser."""
    driver = browser(size)
    try:
        driver.get(server.url)
        opened, thumbs, shown = driver.execute_async_script(WAIT_FOR_THUMBNAILS)
        return opened / 1000, thumbs / 1000, shown
    finally:
        driver.quit()


def first_page_thumbs(server: Server) -> float:
    cards = json.loads(server.get("/api/photos?untagged=1"))["cards"]
    started = time.perf_counter()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda card: server.get(card["thumb"]), cards))
    return time.perf_counter() - started


def api_ms(server: Server, path: str, repeats: int = 10) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        server.get(path)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def measure(work: Path, count: int, repeats: int) -> dict:
    library, data = work / "library", work / "data"
    if not library.is_dir():
        started = time.perf_counter()
        build_library(library, count)
        print(f"library of {count:,} photos made in {time.perf_counter() - started:.0f} s", flush=True)
    shutil.rmtree(data, ignore_errors=True)
    server = Server(library, work / "suggestions.jsonl", data)
    start_cold = server.start_s
    thumbs_cold = first_page_thumbs(server)
    server.stop()
    server = Server(library, work / "suggestions.jsonl", data)
    try:
        pages = json.loads(server.get("/api/photos?untagged=1"))["pages"]
        figures = {
            "start_cold_s": round(start_cold, 2),
            "start_warm_s": round(server.start_s, 2),
            "thumbs_cold_s": round(thumbs_cold, 2),
            "thumbs_cached_s": round(statistics.median(first_page_thumbs(server) for _ in range(repeats)), 2),
            "api_page_ms": {
                "first": api_ms(server, "/api/photos?untagged=1"),
                "last": api_ms(server, f"/api/photos?untagged=1&page={pages}"),
                "tag filter": api_ms(server, "/api/photos?tag=tag007"),
            },
        }
        print(json.dumps(figures), flush=True)
        normal = [page_timings(server, (1400, 1000)) for _ in range(repeats)]
        tall = [page_timings(server, TALL) for _ in range(repeats)]
    finally:
        server.stop()
    figures.update(
        {
            "page_open_s": round(statistics.median(t[0] for t in normal), 3),
            "visible_thumbs_s": round(statistics.median(t[1] for t in normal), 3),
            "visible_thumbs_count": normal[0][2],
            "page_thumbs_s": round(statistics.median(t[1] for t in tall), 3),
            "page_thumbs_count": tall[0][2],
            "runs": {"normal": normal, "tall": tall},
        }
    )
    return figures


def big_pngs(root: Path, count: int = 6) -> None:
    """`count` 24 MP PNGs: one picture saved once, each copy with its own trailer (its own fingerprint)."""
    root.mkdir(parents=True, exist_ok=True)
    size = (6000, 4000)
    bands = [
        Image.linear_gradient("L").resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
    ]
    buffer = io.BytesIO()
    Image.merge("RGB", bands).save(buffer, "PNG", compress_level=1)
    for i in range(count):
        (root / f"big{i}.png").write_bytes(buffer.getvalue() + i.to_bytes(4, "little"))


def memory_kb(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmHWM", "VmRSS")}


def measure_preview_load(work: Path, requests: int) -> dict:
    import threading

    library, data = work / "library", work / "data"
    if not library.is_dir():
        big_pngs(library)
    shutil.rmtree(data, ignore_errors=True)
    suggestions = work / "suggestions.jsonl"
    record = {"path": "big0.png", "suggestions": [{"tag": "sky", "score": 0.5, "source": "knn"}], "model": "bench"}
    suggestions.write_text(json.dumps(record) + "\n", encoding="utf-8")
    server = Server(library, suggestions, data)
    try:
        ids = [card["id"] for card in json.loads(server.get("/api/photos"))["cards"]]
        before = memory_kb(server.process.pid)
        status_ms: list[float] = []
        burst_over = threading.Event()

        def poll_status() -> None:
            while not burst_over.is_set():
                started = time.perf_counter()
                server.get("/api/status")
                status_ms.append((time.perf_counter() - started) * 1000)
                time.sleep(0.2)

        poller = threading.Thread(target=poll_status)
        poller.start()
        started = time.perf_counter()
        with ThreadPoolExecutor(requests) as pool:
            sizes = list(pool.map(lambda i: len(server.get(f"/photo/{ids[i % len(ids)]}")), range(requests)))
        burst_s = time.perf_counter() - started
        burst_over.set()
        poller.join()
        time.sleep(1)
        after = memory_kb(server.process.pid)
    finally:
        server.stop()
    return {
        "photos": len(ids),
        "requests": requests,
        "previews_s": round(burst_s, 2),
        "preview_bytes": max(sizes),
        "status_ms_max": round(max(status_ms), 1),
        "status_ms_median": round(statistics.median(status_ms), 1),
        "status_asked": len(status_ms),
        "rss_start_mb": before["VmRSS"] // 1024,
        "rss_peak_mb": after["VmHWM"] // 1024,
        "rss_after_mb": after["VmRSS"] // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="keep the library here between runs (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="where the results go (default: benchmarks/results/)")
    parser.add_argument("--preview-load", action="store_true", help="measure a burst of full-size previews instead")
    parser.add_argument("--requests", type=int, default=60, help="with --preview-load: parallel /photo/N requests")
    args = parser.parse_args()
    load_before = os.getloadavg()
    if args.preview_load:
        with tempfile.TemporaryDirectory(prefix="phototag-bench-web-load-") as work:
            figures = measure_preview_load(args.workdir or Path(work), args.requests)
        figures.update(
            {
                "benchmark": "review --web, a burst of /photo/N on 24 MP PNGs",
                "date": time.strftime("%Y-%m-%d"),
                "machine": {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before]},
            }
        )
        out = args.out or REPO / "benchmarks" / "results" / "bench_review_web_load.json"
        out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(figures, indent=2))
        return
    args.out = args.out or REPO / "benchmarks" / "results" / "bench_review_web.json"
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures = measure(args.workdir, args.count, args.repeats)
    else:
        with tempfile.TemporaryDirectory(prefix="phototag-bench-web-") as work:
            figures = measure(Path(work), args.count, args.repeats)
    result = {
        "benchmark": "review --web",
        "photos": args.count,
        "page_size": 200,
        "suggestions": "from a suggest file (--from): ranking not timed",
        **figures,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
