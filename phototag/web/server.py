"""`phototag review DIR --web`: the review page, served on 127.0.0.1 only (Starlette on uvicorn).

Who may talk to it: the server listens on 127.0.0.1 (never another interface) and every
request must carry the random token of this run: GET requests as `?token=` in the URL
(the page's own links and images carry it), POST requests in the X-Phototag-Token header,
which a form or a cross-site page cannot send. A request without the token is refused
with 401, a wrong token with 403; so is any request whose Host header is not
127.0.0.1:PORT or localhost:PORT (DNS rebinding) or whose Origin is another site.
Everything that changes a file is a POST, with a body of at most MAX_BODY bytes (a larger one
is answered 413 without being read). Photos are served by their index id only, never by a
path taken from the request.

The token never appears in a process's arguments: the browser is opened on a private file
(mode 0600, beside the index, removed when the review stops) that redirects to the tokened
address, as Jupyter does.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import secrets
import socket
import tempfile
import threading
import webbrowser
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from phototag.app.suggest import SuggestOptions
from phototag.app.write import Entry
from phototag.library.index import library_data_dir
from phototag.model.signals import signal_css
from phototag.reporting import Reporter
from phototag.web.state import PAGE_SIZE, Filters, IndexWorker, ReviewState, WriteSettings
from phototag.web.suggestions import LiveSuggestions
from phototag.web.thumbs import Renderer, ThumbnailError, Thumbnails

HOST = "127.0.0.1"
TOKEN_HEADER = "x-phototag-token"
MAX_BODY = 1 << 20  # the page posts a few kB of JSON (ids and a tag)
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "icon.svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the token is in the page's URL
    "x-frame-options": "DENY",
}


class Guard:
    """ASGI middleware: the Host, Origin and token checks of every request, and the security headers."""

    def __init__(self, app, token: str, port: int):
        self.app, self.token = app, token.encode()
        self.hosts = {f"{HOST}:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    def refusal(self, scope) -> Optional[tuple[int, str]]:
        headers = Headers(scope=scope)
        if headers.get("host") not in self.hosts:
            return 403, "refused: wrong Host header"
        if "origin" in headers and headers["origin"] not in self.origins:
            return 403, "refused: request from another site"
        if scope["method"] == "POST":
            given = headers.get(TOKEN_HEADER)
        else:
            given = QueryParams(scope["query_string"].decode("latin-1")).get("token")
        if not given:
            return 401, "refused: no token (open the URL that `phototag review --web` printed)"
        if not hmac.compare_digest(given.encode(), self.token):
            return 403, "refused: wrong token"
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None and scope["method"] == "POST":
            receive, refused = await _bounded_body(scope, receive)
        if refused is not None:
            await PlainTextResponse(refused[1], refused[0], headers=SECURITY_HEADERS)(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


async def _bounded_body(scope, receive) -> tuple[Callable, Optional[tuple[int, str]]]:
    """Read a request's body, at most MAX_BODY bytes: (a receive that replays it, None), or (receive,
    413 refusal) as soon as the declared or received size passes the limit; the rest is never read."""
    too_large = 413, f"refused: request body over {MAX_BODY:,} bytes"
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return receive, too_large
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return receive, (400, "refused: the request went away")
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY:
            return receive, too_large
        if not message.get("more_body", False):
            break
    body, replayed = b"".join(chunks), False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()  # after the body: the disconnect, when it comes
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay, None


def _static(name: str) -> bytes:
    return (resources.files("phototag.web") / "static" / name).read_bytes()


def build_app(state: ReviewState, images: Renderer, token: str, port: int) -> Guard:
    """The review's ASGI application, behind its Guard. Images are made on `images`' own threads."""
    page = _static("index.html").replace(b"{{TOKEN}}", token.encode())
    static = {name: (_static(name), kind) for name, kind in STATIC.items()}
    static["signals.css"] = (signal_css().encode(), "text/css")  # each signal's chip colour, from the registry

    def photo_of(request: Request):
        return state.photo(request.path_params["photo_id"])

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def static_file(request: Request) -> Response:
        found = static.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", 404)
        return Response(found[0], media_type=found[1])

    async def thumb(request: Request) -> Response:
        photo = photo_of(request)
        if photo is None:
            return PlainTextResponse("no such photo", 404)
        try:
            data = await images.thumbnail(photo)
        except ThumbnailError as error:
            return PlainTextResponse(f"no preview: {error}", 422)
        # The URL carries the photo's content key (?v=) and this run's token: it never names other bytes.
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"})

    async def preview(request: Request) -> Response:
        photo = photo_of(request)
        if photo is None:
            return PlainTextResponse("no such photo", 404)
        try:
            return Response(await images.preview(photo), media_type="image/jpeg")
        except ThumbnailError as error:
            return PlainTextResponse(f"no preview: {error}", 422)

    def photos(request: Request) -> Response:
        query = request.query_params
        try:
            number, size = int(query.get("page", "1")), min(int(query.get("per_page", PAGE_SIZE)), 1000)
        except ValueError:
            return PlainTextResponse("page and per_page are numbers", 400)
        return JSONResponse(state.page(Filters.from_query(query), number, max(1, size)))

    async def decide(request: Request) -> Response:
        try:
            body = await request.json()
            ids = [int(i) for i in body["ids"]]
            cards = state.decide(ids, str(body["tag"]), str(body["action"]))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
            return PlainTextResponse(f"bad request: {error}", 400)
        return JSONResponse({"cards": cards, "status": state.status_json()})

    routes = [
        Route("/", index),
        Route("/static/{name}", static_file),
        Route("/thumb/{photo_id:int}", thumb),
        Route("/photo/{photo_id:int}", preview),
        Route("/api/info", lambda request: JSONResponse(state.info())),
        Route("/api/photos", photos),
        Route("/api/status", lambda request: JSONResponse(state.status_json())),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/write", lambda request: JSONResponse(state.write()), methods=["POST"]),
        Route("/api/undo", lambda request: JSONResponse(state.undo()), methods=["POST"]),
    ]
    return Guard(Starlette(routes=routes), token, port)


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket listening on 127.0.0.1 (`port` 0: a free one), ready before the URL is printed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def serve(
    sock: socket.socket,
    library: Path,
    db_path: Path,
    options: SuggestOptions,
    settings: WriteSettings,
    entries: Optional[list[Entry]],
    reporter: Reporter,
    *,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the review page on `sock` (listening_socket) until Ctrl-C. `entries`: suggestions read from
    a file (None: computed now, in the background, exactly as `phototag suggest` computes them with `options`)."""
    worker = IndexWorker(db_path, library)
    live = images = opener = None
    try:
        state = ReviewState(worker, options, settings, reporter)
        state.reload(reporter)
        if entries is None:
            live = LiveSuggestions(state, db_path, reporter)
        else:
            state.add_entries(entries)
            state.status.state = "done"
        token = secrets.token_urlsafe(24)
        images = Renderer(Thumbnails(library_data_dir(db_path) / "thumbnails"))
        app = build_app(state, images, token, sock.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        url = f"http://{HOST}:{sock.getsockname()[1]}/?token={token}"
        announce(url)
        if open_browser:
            opener = redirect_file(url, library_data_dir(db_path))
            threading.Thread(target=webbrowser.open, args=(opener.as_uri(),), daemon=True).start()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn stopped gracefully and raises the signal again
            pass
    finally:
        sock.close()
        if opener is not None:
            opener.unlink(missing_ok=True)
        if live is not None and not live.stop():
            reporter.warn("the background ranking did not stop within 30 s")
        if images is not None:
            images.close()
        worker.close()


def redirect_file(url: str, folder: Path) -> Path:
    """A private HTML file (mode 0600) in `folder` that sends the browser on to `url`: the browser's command
    line then names this file, never the token (every local user can read a process's arguments)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="review-", suffix="-open.html", dir=folder)  # mkstemp: mode 0600
    address = html.escape(url, quote=True)
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={address}">'
        f'<title>phototag review</title></head><body><p>Opening <a href="{address}">the phototag review</a>…</p>'
        "</body></html>\n"
    )
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(page)
    return Path(name)
