"""The web review under test: a small real library, the real server started by the real CLI
(`python -m phototag review DIR --web --no-browser`), and Debian's chromium through selenium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
from photos import make_jpeg, write_sidecar
from PIL import ExifTags, Image

pytest.importorskip("starlette", reason="the web extra (pip install -e '.[web]') is not installed")
pytest.importorskip("uvicorn", reason="the web extra (pip install -e '.[web]') is not installed")

REPO = Path(__file__).resolve().parents[2]


def taken(when: str) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = when
    return exif.tobytes()


@pytest.fixture
def library(tmp_path) -> Path:
    """Four photos: a.jpg untagged but with a sidecar (a creator, no keywords), b.jpg tagged
    `Places|Harbour` (the vocabulary's hierarchy), c.jpg without sidecar, trip/d.jpg tagged `boat`;
    c.jpg was taken on 2022-07-14, trip/d.jpg on 2023-05-01 (EXIF), the others have no date."""
    root = tmp_path / "Pictures"
    make_jpeg(root / "a.jpg", size=(120, 80), color=(30, 90, 200))
    write_sidecar(root / "a.jpg.xmp", creator="Ann")
    make_jpeg(root / "b.jpg", size=(120, 80), color=(200, 160, 40))
    write_sidecar(root / "b.jpg.xmp", subjects=["Harbour"], hierarchical=["Places|Harbour"])
    make_jpeg(root / "c.jpg", size=(80, 120), color=(40, 160, 90), exif=taken("2022:07:14 10:00:00"))
    make_jpeg(root / "trip" / "d.jpg", size=(120, 80), color=(150, 40, 150), exif=taken("2023:05:01 18:30:00"))
    write_sidecar(root / "trip" / "d.jpg.xmp", subjects=["boat"])
    return root


@pytest.fixture
def suggestions(library, tmp_path) -> Path:
    """A saved `phototag suggest --json` output for the library (fixed scores: the tests do not rank)."""

    def record(name, tags):
        return {
            "path": name,
            "suggestions": [{"tag": t, "score": s, "source": source} for t, s, source in tags],
            "model": "personal-test",
        }

    records = [
        record("a.jpg", [("sea", 0.91, "personal"), ("boat", 0.72, "knn"), ("evening", 0.55, "general")]),
        record("c.jpg", [("forest", 0.66, "personal"), ("Places|Harbour", 0.54, "history")]),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@dataclass
class ReviewServer:
    """`phototag review DIR --web --no-browser ...` running in a subprocess."""

    process: subprocess.Popen
    url: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(re.match(r"http://127\.0\.0\.1:(\d+)/", self.url).group(1))

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30) -> int:
        """Ctrl-C, as a person would press it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)


def start_review(
    library: Path, index: Path, *args: str, timeout: float = 120, browser: Optional[str] = None
) -> ReviewServer:
    """The review of `library`; `browser`: a command the review opens its page with (as $BROWSER), else
    --no-browser."""
    opening = ["--no-browser"] if browser is None else []
    command = [
        sys.executable,
        "-m",
        "phototag",
        "review",
        str(library),
        "--web",
        *opening,
        "--index",
        str(index),
        *args,
    ]
    env = None if browser is None else {**os.environ, "BROWSER": browser}
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    server = ReviewServer(process)
    announced = threading.Event()

    def read() -> None:
        for line in process.stderr:
            server.lines.append(line.rstrip("\n"))
            found = re.search(r"Review at (http://\S+)", line)
            if found:
                server.url = found.group(1)
                announced.set()
        announced.set()  # the process ended

    threading.Thread(target=read, daemon=True).start()
    if not announced.wait(timeout) or not server.url:
        process.kill()
        raise AssertionError("the review did not start:\n" + "\n".join(server.lines))
    return server


@pytest.fixture
def review(library, suggestions, tmp_path):
    """The review of `library` with the suggestions of `suggestions`, stopped after the test."""
    server = start_review(library, tmp_path / "index.sqlite", "--from", str(suggestions))
    yield server
    server.stop()


@pytest.fixture
def browser():
    """Headless Debian chromium driven by chromedriver (selenium)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    chromium = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver; "
            ".ci/run does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 20, interval: float = 0.05, message: str = "condition"):
    """Poll `condition()` until it returns something true; that value. An element the page replaced
    meanwhile (cards are redrawn when the server answers), or one not there yet (LookupError), counts
    as not yet."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (StaleElementReferenceException, LookupError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def listening_addresses(port: int) -> Optional[list[str]]:
    """The local addresses of the sockets listening on `port` (Linux /proc/net), None elsewhere."""
    found = []
    for name in ("tcp", "tcp6"):
        table = Path("/proc/net") / name
        if not table.exists():
            return None
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.append(address)
    return found
