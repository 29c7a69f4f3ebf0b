"""Screenshots of the web review (`phototag review DIR --web`) on a copy of examples/library,
on a desktop (1440 x 1100) and on a phone (390 x 844 CSS pixels, touch, 2x pixels).

    .venv/bin/python benchmarks/screenshot_review_web.py [--out benchmarks/results/review-web.png]
        [--phone-out benchmarks/results/review-web-phone.png]

The copy is reviewed as `phototag review DIR --web` shows it by default: its untagged photos
with live suggestions (ranked exactly as `phototag suggest` ranks them); a few chips are
accepted, one rejected and one tag typed, so the picture shows each state, then headless
Debian chromium takes the screenshot.
Nothing in examples/library is changed. Needs chromium, chromium-driver and selenium.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start(library: Path, data: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PHOTOTAG_DATA_DIR": str(data), "PHOTOTAG_LOG_DIR": str(data / "logs")}
    process = subprocess.Popen(
        [sys.executable, "-m", "phototag", "review", str(library), "--web", "--no-browser"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        found = re.search(r"Review at (http://\S+)", line)
        if found:
            return process, found.group(1)
    raise SystemExit("the review did not start")


def wait_until_ranked(url: str) -> None:
    base, token = url.split("/?token=")
    while True:
        with urllib.request.urlopen(f"{base}/api/status?token={token}") as response:
            status = json.loads(response.read())
        if status["state"] in ("done", "failed"):
            if status["state"] == "failed":
                raise SystemExit(status["message"])
            return
        time.sleep(0.5)


def browser(phone: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    if phone:  # a phone's viewport, pixel density and touch screen
        metrics = {"width": 390, "height": 844, "pixelRatio": 2, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    else:
        options.add_argument("--window-size=1440,1100")
        options.add_argument("--force-device-scale-factor=1")
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def shoot(url: str, out: Path, phone: bool) -> None:
    driver = browser(phone)
    try:
        driver.get(url)
        while not driver.find_element("css selector", "body").get_attribute("data-loaded"):
            time.sleep(0.1)
        time.sleep(1.5)  # thumbnails made and shown
        if not phone:
            decide(driver)  # (kept by the review: the phone shows the same decisions)
        driver.execute_script("window.scrollTo(0, 0)")
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
        print(f"screenshot: {out}")
    finally:
        driver.quit()


def decide(driver) -> None:
    """Accept two chips, reject one, type a tag, select two photos: every state on the picture
    (on the first photos with suggestions, whatever the ranking of the day gives)."""

    def offered(least: int):
        return [
            c
            for c in driver.find_elements("css selector", "article.card")
            if len(c.find_elements("css selector", ".chip")) >= least
        ]

    def click(least: int, position: int, selector: str, chip: int) -> None:
        cards = offered(least)
        if len(cards) > position:
            cards[position].find_elements("css selector", selector)[chip].click()
            time.sleep(0.5)

    click(1, 0, ".chip .chip-main", 0)
    click(2, 1, ".chip .chip-main", 1)
    click(3, 1, ".chip .chip-x", 2)
    cards = driver.find_elements("css selector", "article.card")
    cards[4].find_element("css selector", "input.add").send_keys("Animals|Cat\n")
    time.sleep(0.5)
    for index in (6, 7):
        driver.find_elements("css selector", "article.card")[index].find_element("css selector", ".thumb").click()
    time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "review-web.png")
    parser.add_argument("--phone-out", type=Path, default=REPO / "benchmarks" / "results" / "review-web-phone.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        library = Path(work) / "library"
        shutil.copytree(REPO / "examples" / "library", library)
        process, url = start(library, Path(work) / "data")
        try:
            wait_until_ranked(url)
            shoot(url, args.out, phone=False)
            shoot(url, args.phone_out, phone=True)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)


if __name__ == "__main__":
    main()
