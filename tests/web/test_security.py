"""Who may talk to the review server: the Guard and the routes behind it called directly as an ASGI
application (the real ReviewState of a real library, no server process), and one real server on
127.0.0.1 for what only a socket shows."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from phototag.app.suggest import SuggestOptions
from phototag.app.write import read_suggest_file
from phototag.reporting import CollectingReporter
from phototag.web.server import MAX_BODY, build_app
from phototag.web.state import IndexWorker, ReviewState, WriteSettings
from phototag.web.thumbs import Renderer, Thumbnails

from .asgi import PORT, call
from .conftest import listening_addresses, start_review

TOKEN = "the-token-of-this-run"


@pytest.fixture
def app(library, suggestions, tmp_path):
    """The review's application as `serve` builds it, for `library` and its suggestions."""
    worker = IndexWorker(tmp_path / "index.sqlite", library)
    state = ReviewState(worker, SuggestOptions(), WriteSettings(), CollectingReporter())
    state.reload()
    state.add_entries(read_suggest_file(suggestions, library, state.reporter.warn))
    images = Renderer(Thumbnails(tmp_path / "index" / "thumbnails"))
    yield build_app(state, images, TOKEN, PORT)
    images.close()
    worker.close()


def test_the_page_and_its_api_need_the_token(app):
    assert call(app, "GET", f"/?token={TOKEN}").status == 200
    for path in ("/", "/api/photos", "/api/info", "/static/app.js", "/thumb/1", "/photo/1"):
        assert call(app, "GET", path).status == 401, path
        assert call(app, "GET", path + "?token=not-the-token").status == 403, path
        assert call(app, "GET", path + f"?token={TOKEN}x").status == 403, path
    assert call(app, "GET", f"/api/photos?token={TOKEN}").status == 200


def test_the_page_says_how_it_may_be_used(app):
    answer = call(app, "GET", f"/?token={TOKEN}")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["referrer-policy"] == "no-referrer" and answer.headers["cache-control"] == "no-store"
    assert b"https://" not in answer.body and b"http://" not in answer.body  # nothing fetched from elsewhere
    assert call(app, "GET", "/").headers["content-security-policy"] == policy  # refusals carry them too


def test_the_page_takes_each_signals_colour_from_the_ranking_registry(app):
    from phototag.model.signals import REGISTRY

    assert b"/static/signals.css?token=" in call(app, "GET", f"/?token={TOKEN}").body
    answer = call(app, "GET", f"/static/signals.css?token={TOKEN}")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/css")
    for name, signal in REGISTRY.items():
        assert f".chip.src-{name} {{ border-left-color: {signal.colour}; }}".encode() in answer.body


def test_wrong_host_is_refused_even_with_the_token(app):
    for host in ("evil.example", f"evil.example:{PORT}", "127.0.0.1", f"127.0.0.1:{PORT + 1}", "", None):
        answer = call(app, "GET", f"/?token={TOKEN}", {"Host": host})
        assert answer.status == 403 and b"Host" in answer.body, host
    assert call(app, "GET", f"/?token={TOKEN}", {"Host": f"localhost:{PORT}"}).status == 200


def test_state_changes_are_posts_with_the_token_in_a_header(app):
    body = json.dumps({"ids": [1], "tag": "sea", "action": "accept"}).encode()
    json_type = {"Content-Type": "application/json"}
    assert call(app, "POST", f"/api/decide?token={TOKEN}", json_type, body).status == 401  # not in the URL
    assert call(app, "POST", "/api/decide", {**json_type, "X-Phototag-Token": "wrong"}, body).status == 403
    cross_site = {**json_type, "X-Phototag-Token": TOKEN, "Origin": "http://evil.example"}
    assert call(app, "POST", "/api/decide", cross_site, body).status == 403
    for path in ("/api/write", "/api/undo", "/api/decide"):
        assert call(app, "GET", f"{path}?token={TOKEN}").status == 405, path
    same_site = {**json_type, "X-Phototag-Token": TOKEN, "Origin": f"http://127.0.0.1:{PORT}"}
    answer = call(app, "POST", "/api/decide", same_site, body)
    assert answer.status == 200 and json.loads(answer.body)["status"]["to_write"] == 1


def test_a_request_body_over_the_limit_is_refused_unread(app):
    posting = {"Content-Type": "application/json", "X-Phototag-Token": TOKEN}
    declared_200_mb = {**posting, "Content-Length": str(200 << 20)}
    declared = call(app, "POST", "/api/decide", declared_200_mb, chunks=[b"{" * 65536] * 4)
    assert declared.status == 413 and declared.chunks_read == 0
    chunked = call(app, "POST", "/api/decide", posting, chunks=[b" " * 65536] * 100)  # no length: counted as it comes
    assert chunked.status == 413 and chunked.chunks_read == MAX_BODY // 65536 + 1
    body = json.dumps({"ids": [1], "tag": "sea", "action": "accept"}).encode()
    assert call(app, "POST", "/api/decide", posting, chunks=[body[:10], body[10:]]).status == 200  # reassembled


def test_photos_are_served_by_index_id_only(app, library):
    cards = json.loads(call(app, "GET", f"/api/photos?token={TOKEN}").body)["cards"]
    ids = {card["id"] for card in cards}
    assert len(ids) == 4
    for photo_id in ids:
        for kind in ("thumb", "photo"):
            answer = call(app, "GET", f"/{kind}/{photo_id}?token={TOKEN}")
            assert answer.status == 200 and answer.body[:2] == b"\xff\xd8", (kind, photo_id)
    outside = max(ids) + 1000
    paths = [
        f"/thumb/{outside}",
        "/thumb/0",
        "/thumb/-1",
        f"/photo/{outside}",
        "/thumb/a.jpg",
        f"/thumb/{library / 'a.jpg'}",
        "/thumb/..%2F..%2Fetc%2Fpasswd",
        "/thumb/%2Fetc%2Fpasswd",
        "/thumb/1/../../etc/passwd",
        "/static/..%2F__init__.py",
        "/static/index.html%00",
        "/etc/passwd",
    ]
    for path in paths:
        answer = call(app, "GET", f"{path}?token={TOKEN}")
        assert answer.status == 404, (path, answer.status)
        assert b"root:" not in answer.body


def request(port: int, method: str, path: str, headers: dict | None = None, body: bytes = b""):
    """(status, body) of one request to the real server; `headers` may name a Content-Length the body lacks."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.slow  # a real CLI process
def test_the_real_server_listens_on_127_0_0_1_only_and_guards_its_door(library, suggestions, tmp_path):
    review = start_review(library, tmp_path / "index.sqlite", "--from", str(suggestions))
    try:
        port, token = review.port, review.token
        assert request(port, "GET", "/api/photos")[0] == 401
        assert request(port, "GET", f"/api/photos?token={token}", {"Host": "evil.example"})[0] == 403
        assert request(port, "GET", f"/api/photos?token={token}")[0] == 200
        started = time.perf_counter()
        big = {"X-Phototag-Token": token, "Content-Type": "application/json", "Content-Length": str(200 << 20)}
        assert request(port, "POST", "/api/decide", big, b"{" * 65536)[0] == 413  # 64 KiB sent of 200 MB declared
        assert time.perf_counter() - started < 10
        addresses = listening_addresses(port)
        if addresses is not None:
            assert addresses == ["0100007F"]  # 127.0.0.1 in /proc/net/tcp's byte order; nothing on IPv6 or 0.0.0.0
        outward = _an_outward_address()
        if outward is not None:
            with pytest.raises(OSError):
                socket.create_connection((outward, port), timeout=2).close()
    finally:
        assert review.stop() == 0


def _an_outward_address():
    """This machine's address on its default route (None without one)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for a UDP connect
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address
