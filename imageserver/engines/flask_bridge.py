"""Flask behind the ASGI layer: a2wsgi's `WSGIMiddleware`, plus what granian needs from it.

a2wsgi runs Flask in a thread pool (`IMAGE_SERVER_THREADS`) and streams bodies both ways
(asgiref's adapter buffers them and serialises calls on one thread). This module adds the
raw request target as `RAW_URI` (so `%2F` is never a separator on any route), an ASCII query
string, the RFC's "ignore an unknown Range unit", and a JSON 500 should anything below Flask
fail, and it reports what Flask answered so the request can be observed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote_from_bytes

from a2wsgi import WSGIMiddleware
from werkzeug.wsgi import FileWrapper

from imageserver.hotpath.answer import STREAM_BLOCK_BYTES
from imageserver.hotpath.request import without_unknown_range
from imageserver.observability.metrics import UNMATCHED_ROUTE
from imageserver.observability.observer import Finished
from imageserver.web.routes.labels import DIR_ID_KEY
from imageserver.web.routes.labels import ROUTE_KEY

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Every printable ASCII character stays as sent: only bytes >= 0x80 get percent-encoded.
_QUERY_SAFE = bytes(range(0x21, 0x7F))
_INTERNAL_ERROR = json.dumps({"detail": "Internal Server Error"}).encode()
_INTERNAL_ERROR_START = {
    "type": "http.response.start",
    "status": 500,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(_INTERNAL_ERROR)),
    ],
}
_INTERNAL_ERROR_BODY = {"type": "http.response.body", "body": _INTERNAL_ERROR}


class FlaskBridge:
    """Run Flask for an ASGI request and tell what it answered."""

    def __init__(self, flask_app: WSGIApplication, threads: int) -> None:
        self.middleware = WSGIMiddleware(_with_raw_target(flask_app), workers=threads)

    async def other(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a lifespan or websocket scope as a2wsgi does (no-ops and a close)."""
        await self.middleware(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Finished:
        """Answer an HTTP request with Flask; should anything below it fail, a JSON 500."""
        scope = _for_flask(scope)
        finished = Finished(scope["method"], UNMATCHED_ROUTE, 500, 0, 0.0)
        started = False

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                finished.status = message["status"]
                finished.variant = _variant_result(message["headers"])
            elif message["type"] == "http.response.body":
                finished.nbytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.middleware(scope, _as_coroutine(receive), tracked_send)
        except Exception:
            if started:
                raise  # too late for an error body: the engine drops the connection
            log.exception("request failed outside Flask's error handling")
            await send(_INTERNAL_ERROR_START)
            await send(_INTERNAL_ERROR_BODY)
        # Flask wrote the matched route into the scope it was given (`web/routes/labels.py`).
        finished.route = scope.get(ROUTE_KEY, UNMATCHED_ROUTE)
        finished.dir_id = scope.get(DIR_ID_KEY)
        return finished


def _for_flask(scope: Scope) -> Scope:
    """A copy of the scope fit for Flask: an ASCII query, no Range in an unknown unit.

    A copy, always: Flask writes its route labels into it, never into granian's scope.
    """
    scope = dict(scope)
    query = scope["query_string"]
    if not query.isascii():
        # Raw UTF-8 in a query (curl sends it as typed) would break a2wsgi's ASCII decode;
        # percent-encoded, it means the same to Werkzeug.
        scope["query_string"] = quote_from_bytes(query, safe=_QUERY_SAFE).encode()
    scope["headers"] = without_unknown_range(scope["headers"])
    return scope


def _variant_result(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Read `X-Variant-Cache` (`hit`/`miss`) off Flask's answer, for the cache metric."""
    for name, value in headers:
        if name == b"x-variant-cache":
            return value.decode("latin-1")
    return None


def _as_coroutine(receive: Receive) -> Receive:
    """Wrap granian's `receive`, whose awaitable is a Rust future and not a coroutine.

    a2wsgi hands `receive()` to `asyncio.run_coroutine_threadsafe`, which takes coroutines only.
    """

    async def receive_message() -> dict[str, Any]:
        return await receive()

    return receive_message


def _with_raw_target(app: WSGIApplication) -> WSGIApplication:
    """Give Flask the raw request target (`RAW_URI`) and a file wrapper with large blocks."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = environ["asgi.scope"]
        raw_path = scope.get("raw_path")
        if raw_path is not None:
            query = scope.get("query_string") or b""
            target = raw_path + b"?" + query if query else raw_path
            environ["RAW_URI"] = target.decode("latin-1")
        environ["wsgi.file_wrapper"] = _large_block_wrapper
        return app(environ, start_response)

    return call


def _large_block_wrapper(file: Any, buffer_size: int = STREAM_BLOCK_BYTES) -> FileWrapper:
    # Werkzeug asks for 8 KiB blocks; each block is one trip through a2wsgi's queue.
    return FileWrapper(file, max(buffer_size, STREAM_BLOCK_BYTES))
