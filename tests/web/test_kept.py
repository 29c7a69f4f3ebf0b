"""Decisions made in the web review survive Ctrl-C and a restart: a real server process, stopped with
SIGINT as a person stops it, then started again on the same index."""

from __future__ import annotations

import http.client
import json

import pytest

from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT

from .conftest import start_review

pytestmark = pytest.mark.slow  # real CLI processes


def request(review, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", review.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True)
        headers = {"Host": f"127.0.0.1:{review.port}", **(headers or {})}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            if value is not None:
                connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def api(review, method: str, path: str, body: dict | None = None) -> dict:
    if method == "GET":
        status, _, data = request(review, "GET", f"{path}?token={review.token}")
    else:
        headers = {"X-Phototag-Token": review.token, "Content-Type": "application/json"}
        status, _, data = request(review, "POST", path, headers, json.dumps(body or {}).encode())
    assert status == 200, data
    return json.loads(data)


def test_decisions_survive_ctrl_c_and_a_restart(library, suggestions, tmp_path):
    index = tmp_path / "index.sqlite"
    first = start_review(library, index, "--from", str(suggestions))
    try:
        cards = {c["path"]: c["id"] for c in api(first, "GET", "/api/photos")["cards"]}
        api(first, "POST", "/api/decide", {"ids": [cards["a.jpg"]], "tag": "sea", "action": "accept"})
        api(first, "POST", "/api/decide", {"ids": [cards["a.jpg"]], "tag": "evening", "action": "reject"})
        both = [cards["a.jpg"], cards["c.jpg"]]
        status = api(first, "POST", "/api/decide", {"ids": both, "tag": "summer", "action": "accept"})
        assert status["status"]["to_write"] == 2
    finally:
        assert first.stop() == 0
    stopped = [line for line in first.lines if line.startswith("review stopped")]
    assert len(stopped) == 1 and "3 accepted tag(s) on 2 photo(s) are kept, not written yet" in stopped[0]
    assert f"`phototag apply -l {library}` writes them" in stopped[0]
    assert not (library / "c.jpg.xmp").exists()

    again = start_review(library, index, "--from", str(suggestions))
    try:
        page = {c["path"]: c for c in api(again, "GET", "/api/photos")["cards"]}
        states = {s["tag"]: s["state"] for s in page["a.jpg"]["suggestions"]}
        assert states == {"sea": "accept", "boat": None, "evening": "reject"}
        assert page["a.jpg"]["added"] == ["summer"] and page["c.jpg"]["added"] == ["summer"]
        assert api(again, "GET", "/api/status")["to_write"] == 2
        api(again, "POST", "/api/write")
        assert read_fields((library / "c.jpg.xmp").read_bytes())[DC_SUBJECT] == ["summer"]
    finally:
        assert again.stop() == 0
    assert "review stopped" in again.lines and not any("kept" in line for line in again.lines)  # all written


def test_decisions_survive_a_crash(library, suggestions, tmp_path):
    index = tmp_path / "index.sqlite"
    first = start_review(library, index, "--from", str(suggestions))
    cards = {c["path"]: c["id"] for c in api(first, "GET", "/api/photos")["cards"]}
    api(first, "POST", "/api/decide", {"ids": [cards["c.jpg"]], "tag": "forest", "action": "accept"})
    first.process.kill()  # SIGKILL: no clean-up of any kind
    first.process.wait(30)
    again = start_review(library, index, "--from", str(suggestions))
    try:
        page = {c["path"]: c for c in api(again, "GET", "/api/photos")["cards"]}
        assert [s["state"] for s in page["c.jpg"]["suggestions"] if s["tag"] == "forest"] == ["accept"]
    finally:
        again.stop()
