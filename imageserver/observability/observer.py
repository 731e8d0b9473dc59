"""The one place where a finished request is observed: metrics tallies and the access log.

The ASGI layer calls `RequestObserver.finish` once per request, for the native image path and
for Flask alike, on the worker's event loop. Route labels are route templates
(`/d/{id}/{name}`), never raw paths, ids or query strings, so label sets stay bounded and no
token or signature can reach a label or a log line.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass

from imageserver.observability.metrics import FLUSH_SECONDS
from imageserver.observability.metrics import RequestMetrics
from imageserver.settings.config import Config


@dataclass(slots=True)
class Finished:
    """What is known of a request once its last byte is handed to the server."""

    method: str
    route: str
    status: int
    nbytes: int
    started: float  # time.perf_counter() at the request's start
    dir_id: str | None = None
    variant: str | None = None  # "hit" or "miss" when a variant was asked for
    client: str | None = None
    forwarded_for: str | None = None
    user_agent: str | None = None


class RequestObserver:
    """Tallies metrics (flushed every `FLUSH_SECONDS`) and writes the JSON access log."""

    def __init__(self, config: Config, metrics: RequestMetrics | None) -> None:
        self.metrics = metrics
        self.trusted_proxies = config.trusted_proxies
        self.log_fd: int | None = None
        if config.access_log == "json":
            self.log_fd = _open_log(config.access_log_file)
        self._flush_due = False

    @property
    def wants_headers(self) -> bool:
        """Tell whether `finish` needs the client's address and user agent (the access log)."""
        return self.log_fd is not None

    def finish(self, request: Finished) -> None:
        """Count and log one finished request."""
        seconds = time.perf_counter() - request.started
        if self.metrics is not None:
            self.metrics.record(
                request.route, request.method, request.status, request.nbytes, seconds
            )
            if request.variant is not None:
                self.metrics.record_variant(request.variant)
            self._schedule_flush()
        if self.log_fd is not None:
            os.write(self.log_fd, self._log_line(request, seconds))

    def count(
        self, route: str, method: str, status: int, nbytes: int, started: float, variant: bool
    ) -> None:
        """`finish` for an image answer when no access log is written: the cheapest way."""
        if self.metrics is None:
            return
        self.metrics.record(route, method, status, nbytes, time.perf_counter() - started)
        if variant:
            self.metrics.record_variant("hit")
        if not self._flush_due:
            self._schedule_flush()

    def flush(self) -> None:
        """Push this worker's tallies into the shared metric files now."""
        self._flush_due = False
        if self.metrics is not None and self.metrics.pending:
            self.metrics.flush()

    def _schedule_flush(self) -> None:
        if self._flush_due:
            return
        self._flush_due = True
        asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def _log_line(self, request: Finished, seconds: float) -> bytes:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "method": request.method,
            "route": request.route,
            "dir_id": request.dir_id,
            "status": request.status,
            "bytes": request.nbytes,
            "duration_ms": round(seconds * 1000, 3),
            "client": client_address(request.client, request.forwarded_for, self.trusted_proxies),
            "user_agent": request.user_agent,
        }
        return json.dumps(entry, ensure_ascii=False).encode() + b"\n"


def client_address(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str | None:
    """Return the client's address as `IMAGE_SERVER_TRUSTED_PROXIES` lets us believe it.

    With N trusted hops, the Nth address from the right of `X-Forwarded-For` is the client (the
    ones to its left could be forged by it); with none, or a shorter header, the peer is.
    """
    if trusted_hops <= 0 or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    return hops[-trusted_hops] if len(hops) >= trusted_hops else peer


def _open_log(path: str | None) -> int:
    if path is None:
        return 2  # standard error
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    # O_APPEND: each line is one write at the end, so workers' lines never interleave.
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
