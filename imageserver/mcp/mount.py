"""`/mcp` on the main server: the MCP streamable HTTP transport, stateless, loaded on first use.

Why this shape:
- Stateless, JSON answers: the server runs several granian worker processes and nothing
  routes a client back to the worker that holds its session, so every POST must stand on
  its own (`stateless=True`), and one JSON answer per POST needs no open SSE stream. A tool
  call that asks for progress is answered as an SSE stream within its POST (`streams.py`).
- Lazy: the SDK (starlette, pydantic models, anyio, httpx2) costs tens of MB per worker.
  Nothing of it is imported until the first `/mcp` request that passes the token check;
  this module itself imports only what the checks need.
- granian runs the app without lifespan events (`engines/granian_runner.py`), so the
  SDK's session manager, whose `run()` owns the task group its requests run in, is entered
  by a background task of this worker's event loop, started by that first request and
  never exited.
- The tools reach the control API over loopback with the caller's `Authorization` (the token
  rule applies as on any control route) and `Host`/`X-Forwarded-*` (the URLs handed out
  name the host the caller used, exactly as the listing would for that caller).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from imageserver.security.hosts import default_patterns
from imageserver.security.hosts import host_allowed
from imageserver.security.hosts import host_refusal
from imageserver.security.origin import cross_site_refusal
from imageserver.security.origin import own_origins
from imageserver.security.tokens import token_matches
from imageserver.settings.config import Config

from .streams import BodyTooLarge
from .streams import read_body
from .streams import replay
from .streams import wants_progress

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
# Caller headers a loopback request carries on, so the control API sees the same caller.
_FORWARDED = ("authorization", "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
              "x-forwarded-port", "x-forwarded-prefix")  # fmt: skip


def loopback_base_url(config: Config) -> str:
    """The URL at which this server reaches itself (the bind address, or loopback)."""
    host = config.host.strip("[]")
    if config.host in _WILDCARD_HOSTS:
        host = "::1" if config.host in ("::", "[::]") else "127.0.0.1"
    return f"http://[{host}]:{config.port}" if ":" in host else f"http://{host}:{config.port}"


async def send_detail(
    send: Send, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with the control API's error shape, `{"detail": ...}`."""
    body = json.dumps({"detail": detail}).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status,
                "headers": [*start_headers, *headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class McpMount:
    """ASGI app of `/mcp` for one worker: the checks, then the SDK's transport."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.base_url = loopback_base_url(config)
        self.default_hosts = default_patterns(config.public_url)
        self._managers: tuple[Any, Any] | None = None  # (JSON answers, SSE answers)
        self._starting: asyncio.Lock | None = None
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope)
        if refusal is not None:
            await send_detail(send, *refusal)
            return
        try:
            body = await read_body(receive, self.config.max_body_bytes)
        except BodyTooLarge:
            await send_detail(send, 413, "Request Entity Too Large")
            return
        json_answers, sse_answers = await self._started()
        streams = wants_progress(body, _headers(scope).get("accept"))
        manager = sse_answers if streams else json_answers
        await manager.handle_request(scope, replay(body, receive), send)

    def _refusal(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        """Refuse as the control API would: Host and Origin (SECURITY.md), token, size.

        The same rules as `web/guard.py` and `web/routes/auth.py`, from the same
        `security` functions, in the same order.
        """
        headers = _headers(scope)
        config = self.config
        host = headers.get("host")
        if not host_allowed(host, config.allowed_hosts, self.default_hosts):
            return 403, host_refusal(host), []
        own = own_origins(scope.get("scheme", "http"), host, config.public_url)
        refusal = cross_site_refusal(
            scope["method"],
            headers.get("origin"),
            headers.get("sec-fetch-site"),
            config.cors_origins,
            own,
        )
        if refusal is not None:
            return 403, refusal, []
        if config.tokens and not token_matches(headers.get("authorization"), config.tokens):
            return 401, "Not authenticated", [(b"www-authenticate", b"Bearer")]
        if scope["method"] != "POST":
            # Stateless: no session to DELETE, and a GET stream would only ever stay silent
            # while holding a connection; the transport lets a server answer both with 405.
            return 405, "Method Not Allowed", [(b"allow", b"POST")]
        length = headers.get("content-length", "0")
        if length.isdigit() and int(length) > config.max_body_bytes:
            return 413, "Request Entity Too Large", []
        return None

    async def _started(self) -> tuple[Any, Any]:
        """Import the SDK, build the server and run its session managers (once per worker)."""
        if self._managers is not None:
            return self._managers
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._managers is None:
                self._managers = await self._start()
        return self._managers

    async def _start(self) -> tuple[Any, Any]:
        # The import takes seconds on a busy machine: in a thread, so this worker's event
        # loop keeps serving images meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, _import_sdk)
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        from .client import ImageServerApi
        from .server import build_server

        base_url = self.base_url

        def api_for(ctx: Any) -> ImageServerApi:
            request = ctx.request  # the starlette Request of this POST (None on stdio)
            caller = request.headers if request is not None else {}
            forwarded = {name: caller[name] for name in _FORWARDED if name in caller}
            return ImageServerApi(base_url, forwarded)

        server = build_server(api_for)
        managers = tuple(
            StreamableHTTPSessionManager(
                app=server,
                json_response=json_response,
                stateless=True,
                # Host and Origin are checked above, with the server's own settings.
                security_settings=None,
                max_request_body_size=self.config.max_body_bytes,
            )
            for json_response in (True, False)
        )
        ready = asyncio.Event()
        self._runner = asyncio.get_running_loop().create_task(_run(managers, ready))
        waiting = asyncio.ensure_future(ready.wait())
        await asyncio.wait({waiting, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiting.cancel()
            self._runner.result()  # raises what stopped the manager
        log.info("MCP endpoint ready (stateless streamable HTTP)")
        return managers


def _import_sdk() -> None:
    """Import the SDK and the modules built on it (the first `/mcp` request's cost)."""
    importlib.import_module("mcp.server.streamable_http_manager")
    importlib.import_module(f"{__package__}.server")


async def _run(managers: tuple[Any, Any], ready: asyncio.Event) -> None:
    """Hold the session managers' task groups open for the life of the worker."""
    json_answers, sse_answers = managers
    async with json_answers.run(), sse_answers.run():
        ready.set()
        await asyncio.Event().wait()  # until the worker's loop is torn down


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last one wins; none repeat here)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
