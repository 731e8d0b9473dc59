"""A stand-in image server for the loader's tests: aiohttp on 127.0.0.1 port 0, in a thread.

It speaks just enough of the contract (health, status, load, timeout, unload, the directories
API with paging) and records every request, so a test can assert the loader's exact HTTP
sequence, that checks are HEAD requests, and how many were in flight at once. Images can be
made to answer 404 (`missing`), 503 a few times (`flaky`) or 500 forever (`broken`).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import quote

from aiohttp import web

DIR_ID = "frames-0123abcd"


@dataclass
class HeadSpan:
    """When the fake started and finished answering one HEAD (loop time, seconds)."""

    name: str
    start: float
    end: float


@dataclass
class FakeState:
    """What the fake serves and what it saw."""

    names: list[str]
    page_size: int = 3
    head_delay: float = 0.01
    missing: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    flaky: dict[str, int] = field(default_factory=dict)
    token: str | None = None
    current: str | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)
    head_auth: list[str | None] = field(default_factory=list)
    head_spans: list[HeadSpan] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    load_bodies: list[dict] = field(default_factory=list)
    # A video's `extraction` (docs/API.md#video-in) step by step: the load answers with the
    # first, each `GET /api/directories/<id>` with the next; the last one repeats.
    extraction: list[dict] = field(default_factory=list)
    extraction_step: int = 0

    def control(self) -> list[tuple[str, str]]:
        """The requests other than image HEAD/GETs, in order."""
        return [r for r in self.requests if not r[1].startswith("/d/")]


class FakeImageServer:
    """Run the fake in its own thread and event loop; `base_url` is set once started."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> FakeImageServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        port = future.result(timeout=10)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self) -> int:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/", self._status)
        app.router.add_post("/load-directory", self._load)
        app.router.add_post("/timeout/{minutes}", self._timeout)
        app.router.add_post("/unload", self._unload)
        app.router.add_get("/api/directories", self._directories)
        app.router.add_get("/api/directories/{id}", self._directory)
        app.router.add_get("/api/directories/{id}/images", self._images)
        app.router.add_route("*", "/d/{id}/{name:.+}", self._image)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return self._runner.addresses[0][1]

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.state.requests.append((request.method, request.path_qs))
        is_control = not request.path.startswith(("/d/", "/healthz"))
        expected = f"Bearer {self.state.token}"
        if is_control and self.state.token and request.headers.get("Authorization") != expected:
            return web.json_response({"detail": "Not authenticated"}, status=401)
        return await handler(request)

    def _summary(self) -> dict:
        return {
            "id": DIR_ID,
            "directory": self.state.current,
            "image_count": len(self.state.names),
            "load_time": "2026-01-01 00:00:00",
            "timeout_minutes": None,
            "auto_unload_at": None,
            "url_prefix": f"{self.base_url}/d/{DIR_ID}/",
            "time_remaining": None,
            "recursive": False,
            **self._extraction(),
        }

    def _extraction(self) -> dict:
        steps = self.state.extraction
        if not steps:
            return {}
        return {"extraction": steps[min(self.state.extraction_step, len(steps) - 1)]}

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({"current_directory": self.state.current})

    async def _load(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.state.load_bodies.append(body)
        self.state.current = body["path"]
        return web.json_response({"status": "success", **self._summary()})

    async def _timeout(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "success"})

    async def _unload(self, request: web.Request) -> web.Response:
        self.state.current = None
        return web.json_response({"status": "success", "message": "Directory unloaded"})

    async def _directories(self, request: web.Request) -> web.Response:
        listed = [self._summary()] if self.state.current else []
        current = DIR_ID if self.state.current else None
        return web.json_response({"directories": listed, "current": current})

    async def _directory(self, request: web.Request) -> web.Response:
        self.state.extraction_step += 1
        return web.json_response(self._summary())

    async def _images(self, request: web.Request) -> web.Response:
        offset = int(request.query.get("offset", "0"))
        limit = min(int(request.query.get("limit", "1000")), self.state.page_size)
        page = self.state.names[offset : offset + limit]
        images = [
            {"name": n, "url": f"{self.base_url}/d/{DIR_ID}/{quote(n)}", "size": 4, "mtime": 0}
            for n in page
        ]
        following = offset + len(page)
        # `next` names a public host (a tunnel): the loader must keep using --server.
        next_url = (
            f"http://127.0.0.1:9/api/directories/{DIR_ID}/images?offset={following}&limit={limit}"
            if following < len(self.state.names)
            else None
        )
        body = {"id": DIR_ID, "total": len(self.state.names), "images": images, "next": next_url}
        return web.json_response(body)

    async def _image(self, request: web.Request) -> web.Response:
        state, name = self.state, request.match_info["name"]
        if request.method == "HEAD":
            state.head_auth.append(request.headers.get("Authorization"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(state.head_delay)
        finally:
            state.in_flight -= 1
        state.head_spans.append(HeadSpan(name, start, loop.time()))
        status = self._image_status(name)
        if status != 200:
            return web.json_response({"detail": f"Image not found: {name}"}, status=status)
        return web.Response(body=b"\xff\xd8\xff\xd9", content_type="image/jpeg")

    def _image_status(self, name: str) -> int:
        if name in self.state.missing:
            return 404
        if name in self.state.broken:
            return 500
        if self.state.flaky.get(name, 0) > 0:
            self.state.flaky[name] -= 1
            return 503
        return 200
