"""The review server as a person runs it: suggestions computed in the background exactly as
`phototag suggest` computes them, and Ctrl-C stopping it cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import REPO, start_review, wait_for

pytestmark = pytest.mark.slow  # real CLI processes and the packaged model


def get(server, path: str) -> dict:
    sep = "&" if "?" in path else "?"
    with urllib.request.urlopen(f"{server.base}{path}{sep}token={server.token}", timeout=30) as response:
        return json.loads(response.read())


def test_live_suggestions_rank_as_suggest_does(library, tmp_path):
    index = tmp_path / "index.sqlite"
    options = ["--top-k", "3", "--device", "onnx-int8", "--min-score", "0", "--new-tags"]
    server = start_review(library, index, *options)
    try:
        page = get(server, "/api/photos?untagged=1")  # answered at once, before the suggestions are there
        assert [c["path"] for c in page["cards"]] == ["a.jpg", "c.jpg"]
        status = wait_for(
            lambda: (s := get(server, "/api/status"))["state"] in ("done", "failed") and s,
            timeout=240,
            interval=0.5,
            message="the suggestions",
        )
        assert status["state"] == "done", status["message"]
        shown = {
            c["path"]: [s["tag"] for s in c["suggestions"]] for c in get(server, "/api/photos?untagged=1")["cards"]
        }
    finally:
        assert server.stop() == 0
    suggested = subprocess.run(
        [sys.executable, "-m", "phototag", "suggest", str(library), "--json", "--index", str(index), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = {r["path"]: [s["tag"] for s in r["suggestions"]] for r in map(json.loads, suggested.splitlines())}
    assert shown == expected and all(shown.values())


def test_ctrl_c_stops_the_server_cleanly(library, suggestions, tmp_path):
    server = start_review(library, tmp_path / "index.sqlite", "--from", str(suggestions))
    assert get(server, "/api/status")["state"] == "done"
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    assert "review stopped" in server.lines[-1] and not any("Traceback" in line for line in server.lines)


def test_ctrl_c_while_ranking_stops_the_ranking_too(library, tmp_path):
    server = start_review(library, tmp_path / "index.sqlite", "--device", "onnx-int8")
    assert get(server, "/api/status")["state"] in ("starting", "working")
    assert server.stop() == 0
    assert "review stopped" in server.lines[-1]
    assert not any("Traceback" in line or "terminate called" in line for line in server.lines), server.lines


def test_a_port_in_use_is_a_clear_error(library, suggestions, tmp_path):
    first = start_review(library, tmp_path / "index.sqlite", "--from", str(suggestions))
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "phototag",
                "review",
                str(library),
                "--web",
                "--no-browser",
                "--port",
                str(first.port),
                "--index",
                str(tmp_path / "index.sqlite"),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1 and f"cannot listen on 127.0.0.1:{first.port}" in second.stderr
    finally:
        first.stop()
