"""The ASGI application granian runs: the native image path, then Flask for everything else.

Why ASGI: granian's ASGI scope carries `raw_path`, the request target still percent-encoded,
so `%2F` can never act as a separator (its WSGI and RSGI interfaces hand over the decoded
path only). Image GET/HEAD requests are answered here by `hotpath/responder.py` on the
event loop; small files in one read, large ones in blocks read from the page cache on the
loop (the loop's thread pool reads what is not cached).
Every other request, and every request the responder declines (each refusal), goes to Flask
(`flask_bridge.py`). Either way the finished request is observed once
(`observability/observer.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from imageserver.engines.app import create_app
from imageserver.engines.flask_bridge import FlaskBridge
from imageserver.engines.flask_bridge import Receive
from imageserver.engines.flask_bridge import Scope
from imageserver.engines.flask_bridge import Send
from imageserver.engines.flask_bridge import WSGIApplication
from imageserver.hotpath.answer import STREAM_BLOCK_BYTES
from imageserver.hotpath.answer import ImageAnswer
from imageserver.hotpath.answer import ShortRead
from imageserver.hotpath.request import request_from_scope
from imageserver.hotpath.responder import ImageResponder
from imageserver.observability.metrics import RequestMetrics
from imageserver.observability.observer import Finished
from imageserver.observability.observer import RequestObserver
from imageserver.settings.config import Config
from imageserver.state.registry import Directory
from imageserver.state.timers import Clock
from imageserver.web.context import EXTENSION_KEY
from imageserver.web.context import Services

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
MCP_ROUTE = "/mcp"


def is_mcp_path(path: str) -> bool:
    """Tell whether a request is for the MCP endpoint (docs/MCP.md)."""
    return path == MCP_ROUTE or path == MCP_ROUTE + "/"


class ImageServerASGI:
    """ASGI callable: answers plain image GET/HEAD natively and hands the rest to Flask."""

    def __init__(
        self,
        responder: ImageResponder,
        flask_app: WSGIApplication,
        threads: int,
        observer: RequestObserver | None = None,
    ) -> None:
        self.responder = responder
        self.registry = responder.registry
        self.flask = FlaskBridge(flask_app, threads)
        self.observer = observer
        self._rebuild: asyncio.Future[object] | None = None
        self.config = responder.config
        self._mcp: Any = None  # the `/mcp` mount, built on its first request (memory budget)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.flask.other(scope, receive, send)  # lifespan and websocket
            return
        started = time.perf_counter()
        method = scope["method"]
        if method == "GET" or method == "HEAD":
            request = request_from_scope(scope, method == "HEAD")
            if request is not None:
                await self._fresh_index()
                answer = self.responder.respond(request)
                if answer is not None:
                    await self._send(answer, send)
                    if self.observer is not None:
                        self._observe_image(scope, answer, started)
                    return
        if is_mcp_path(scope["path"]):
            await self._answer_mcp(scope, receive, send, started)
            return
        if self.observer is None:
            await self.flask(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH:
            self.observer.flush()  # this worker's own counts, fresh for the scrape
        finished = await self.flask(scope, receive, send)
        finished.started = started
        self.observer.finish(self._with_client(scope, finished))

    async def _fresh_index(self) -> None:
        """Rebuild a stale served index in a thread, once, however many requests wait for it.

        A rebuild reads every name of a directory loaded since (about 0.3 s per 65,000 names,
        over a second on a busy machine): on the event loop it stopped every connection of
        the worker, in every worker at once after a load. Requests still wait for it (the
        cache must never hide a change it has seen announced), but the loop keeps running.
        """
        try:
            if not self.responder.index.stale():
                return
        except OSError:
            return  # `respond` meets the same error and leaves the request to Flask
        if self._rebuild is None or self._rebuild.done():
            loop = asyncio.get_running_loop()
            self._rebuild = loop.run_in_executor(None, self.responder.index.snapshot)
        try:
            # Shielded: a client that leaves must not cancel the rebuild the others wait for.
            await asyncio.shield(self._rebuild)
        except Exception:  # `respond` tries again and fails the way it always did
            return

    async def _answer_mcp(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """Answer `/mcp`; the SDK is imported by the mount on its first authorised request."""
        if self._mcp is None:
            from imageserver.mcp.mount import McpMount

            self._mcp = McpMount(self.config)
        finished = Finished(scope["method"], MCP_ROUTE, 500, 0, started)

        async def tracked_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                finished.status = message["status"]
            elif message["type"] == "http.response.body":
                finished.nbytes += len(message.get("body", b""))
            await send(message)

        await self._mcp(scope, receive, tracked_send)
        if self.observer is not None:
            self.observer.finish(self._with_client(scope, finished))

    def _observe_image(self, scope: Scope, answer: ImageAnswer, started: float) -> None:
        nbytes = 0 if scope["method"] == "HEAD" else answer.body_bytes
        if not self.observer.wants_headers:
            method, status, variant = scope["method"], answer.status, answer.variant
            self.observer.count(answer.route, method, status, nbytes, started, variant)
            return
        finished = Finished(
            scope["method"], answer.route, answer.status, nbytes, started, answer.directory_id
        )
        if answer.variant:
            finished.variant = "hit"
        self.observer.finish(self._with_client(scope, finished))

    def _with_client(self, scope: Scope, finished: Finished) -> Finished:
        """Add the peer and the headers the access log shows (only when it is on)."""
        if self.observer is not None and self.observer.wants_headers:
            client = scope.get("client")
            finished.client = client[0] if client else None
            for name, value in scope["headers"]:
                if name == b"user-agent":
                    finished.user_agent = value.decode("latin-1")
                elif name == b"x-forwarded-for":
                    finished.forwarded_for = value.decode("latin-1")
        return finished

    async def _send(self, answer: ImageAnswer, send: Send) -> None:
        try:
            if answer.touched is not None:
                await self._slide(answer.touched)
            await send(
                {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
            )
        except BaseException:  # the client left, or the worker is stopping
            if answer.stream_fd is not None:
                os.close(answer.stream_fd)
            raise
        if answer.stream_fd is None:
            await send({"type": "http.response.body", "body": answer.body})
        else:
            await _stream(answer.stream_fd, answer.stream_length, send)

    async def _slide(self, directory: Directory) -> None:
        """Slide an idle-mode deadline off the event loop, before the answer goes out.

        It is a SQLite write, which may wait for another writer's lock: never on the loop.
        Committed before the answer, so the client's next request sees the new deadline.
        """
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.registry.touch, directory)
        except Exception:  # the image was served; a missed slide only shortens the deadline
            log.exception("idle-mode deadline slide failed")


def create_asgi_application(
    config: Config, clock: Clock | None = None, start_sweeper: bool = True
) -> ImageServerASGI:
    """Build the ASGI callable granian runs: the native image path in front of Flask.

    Parameters as for `engines.app.create_app`.
    """
    app = create_app(config, clock, start_sweeper)
    svc: Services = app.extensions[EXTENSION_KEY]
    responder = ImageResponder(config, svc.registry, svc.clock, svc.variants)
    observer = None
    if config.metrics or config.access_log != "off":
        observer = RequestObserver(config, RequestMetrics() if config.metrics else None)
    return ImageServerASGI(responder, app, config.threads, observer)


async def _stream(fd: int, length: int, send: Send) -> None:
    """Send `length` bytes of `fd` in blocks, then close it.

    Each block is read on the loop with RWF_NOWAIT, which the kernel answers only from the
    page cache (EAGAIN, or a short read, when a page would need the disk): a cached frame,
    the usual case, costs no thread hop. Only what is not cached is read in the executor,
    so a slow disk never blocks the loop. Memory per response stays a few blocks: granian
    queues at most four body messages before `send` waits for the socket.

    :raise ShortRead: the file shrank; the connection is then cut rather than padded.
    """
    loop = asyncio.get_running_loop()
    try:
        offset = 0
        while offset < length:
            size = min(STREAM_BLOCK_BYTES, length - offset)
            block = _read_cached(fd, size, offset)
            if block is None:
                block = await loop.run_in_executor(None, os.pread, fd, size, offset)
            if not block:
                raise ShortRead(f"file shrank to {offset} of {length} bytes while sent")
            offset += len(block)
            more = offset < length
            await send({"type": "http.response.body", "body": block, "more_body": more})
    finally:
        os.close(fd)


# One per worker process: the loop is one thread, and each block is copied out before any
# await. granian takes only `bytes` bodies, hence the copy (cheaper than a thread hop).
_SCRATCH = memoryview(bytearray(STREAM_BLOCK_BYTES))
_NOWAIT = getattr(os, "RWF_NOWAIT", None)  # Linux 4.14+ only


def _read_cached(fd: int, size: int, offset: int) -> bytes | None:
    """Read what the page cache holds of `size` bytes at `offset`; None if it would block.

    b"" is the end of the file. Where RWF_NOWAIT is not supported, every read is None.
    """
    if _NOWAIT is None:
        return None
    try:
        count = os.preadv(fd, [_SCRATCH[:size]], offset, _NOWAIT)
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: this file system cannot say
        return None
    return bytes(_SCRATCH[:count])
