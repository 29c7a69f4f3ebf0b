"""Calling an ASGI application directly, as uvicorn would, without a server process: the scope of one
HTTP request, its body in chunks, and the response's status, headers and body."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import unquote

PORT = 8765  # the port the app under test believes it listens on


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int = 0  # how many body chunks the application took
    extra: dict = field(default_factory=dict)


def call(
    app,
    method: str,
    target: str,
    headers: Optional[dict] = None,
    body: bytes = b"",
    chunks: Optional[list[bytes]] = None,
) -> Answer:
    """One request: `target` is the request line's path and query as sent (percent-encoded); the Host header
    is 127.0.0.1:PORT unless `headers` gives another (None: no Host header); `chunks` sends the body in
    pieces without a Content-Length (as a chunked upload does)."""
    return asyncio.run(_call(app, method, target, headers or {}, body, chunks))


async def _call(app, method, target, headers, body, chunks) -> Answer:
    path, _, query = target.partition("?")
    headers = {"Host": f"127.0.0.1:{PORT}", **headers}
    if chunks is None:
        chunks = [body]
        if body:
            headers.setdefault("Content-Length", str(len(body)))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", PORT),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items() if v is not None],
    }
    pending = list(chunks)
    answer = Answer(0, {}, b"")

    async def receive():
        if not pending:
            return {"type": "http.disconnect"}
        answer.chunks_read += 1
        return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}

    parts = []

    async def send(message):
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, receive, send)
    answer.body = b"".join(parts)
    return answer
