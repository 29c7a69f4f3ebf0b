"""Who may talk to the review server, checked with plain HTTP requests against the real server."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
from .conftest import listening_addresses

pytestmark = pytest.mark.slow  # a real CLI process each


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


def test_the_page_and_its_api_need_the_token(review):
    token = review.token
    assert request(review, "GET", f"/?token={token}")[0] == 200
    for path in ("/", "/api/photos", "/api/info", "/static/app.js", "/thumb/1", "/photo/1"):
        assert request(review, "GET", path)[0] == 401, path
        assert request(review, "GET", path + "?token=not-the-token")[0] == 403, path
    assert request(review, "GET", f"/api/photos?token={token}")[0] == 200


def test_the_page_says_how_it_may_be_used(review):
    status, headers, body = request(review, "GET", f"/?token={review.token}")
    headers = {k.lower(): v for k, v in headers.items()}
    assert "script-src 'self'" in headers["content-security-policy"] and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    assert b"https://" not in body and b"http://" not in body  # nothing fetched from elsewhere


def test_wrong_host_is_refused_even_with_the_token(review):
    token = review.token
    for host in ("evil.example", f"evil.example:{review.port}", "127.0.0.1", f"127.0.0.1:{review.port + 1}", None):
        status, _, body = request(review, "GET", f"/?token={token}", {"Host": host})
        assert status == 403 if host else status in (400, 403), host
    assert request(review, "GET", f"/?token={token}", {"Host": f"localhost:{review.port}"})[0] == 200


def test_state_changes_are_posts_with_the_token_in_a_header(review):
    token = review.token
    body = json.dumps({"ids": [1], "tag": "sea", "action": "accept"}).encode()
    json_type = {"Content-Type": "application/json"}
    assert request(review, "POST", f"/api/decide?token={token}", json_type, body)[0] == 401  # not in the URL
    assert request(review, "POST", "/api/decide", {**json_type, "X-Phototag-Token": "wrong"}, body)[0] == 403
    cross_site = {**json_type, "X-Phototag-Token": token, "Origin": "http://evil.example"}
    assert request(review, "POST", "/api/decide", cross_site, body)[0] == 403
    for path in ("/api/write", "/api/undo", "/api/decide"):
        assert request(review, "GET", f"{path}?token={token}")[0] == 405, path
    same_site = {**json_type, "X-Phototag-Token": token, "Origin": f"http://127.0.0.1:{review.port}"}
    assert request(review, "POST", "/api/decide", same_site, body)[0] == 200


def test_photos_are_served_by_index_id_only(review, library):
    token = review.token
    cards = json.loads(request(review, "GET", f"/api/photos?token={token}")[2])["cards"]
    ids = {card["id"] for card in cards}
    assert len(ids) == 4
    for photo_id in ids:
        status, headers, data = request(review, "GET", f"/thumb/{photo_id}?token={token}")
        assert status == 200 and data[:2] == b"\xff\xd8", photo_id
    outside = max(ids) + 1000
    paths = [
        f"/thumb/{outside}", "/thumb/0", "/thumb/-1", f"/photo/{outside}",
        "/thumb/a.jpg", f"/thumb/{library / 'a.jpg'}", "/thumb/..%2F..%2Fetc%2Fpasswd", "/thumb/%2Fetc%2Fpasswd",
        "/thumb/1/../../etc/passwd", "/static/..%2F__init__.py", "/static/index.html%00", "/etc/passwd",
    ]
    for path in paths:
        sep = "&" if "?" in path else "?"
        status, _, data = request(review, "GET", f"{path}{sep}token={token}")
        assert status == 404, (path, status)
        assert b"root:" not in data


def test_the_server_listens_on_127_0_0_1_only(review):
    addresses = listening_addresses(review.port)
    if addresses is None:
        pytest.skip("no /proc/net to read listening sockets from")
    assert addresses == ["0100007F"]  # 127.0.0.1 in /proc/net/tcp's byte order; nothing on IPv6 or 0.0.0.0
    outward = _an_outward_address()
    if outward is not None:
        with pytest.raises(OSError):
            socket.create_connection((outward, review.port), timeout=2).close()


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
