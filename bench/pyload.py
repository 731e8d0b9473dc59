"""A small built-in load generator, used only when wrk is missing (e.g. the smoke run in CI).

Threads with one keep-alive `http.client` connection each, rotating over the requests like
the wrk script does. Python caps it at a few thousand requests per second on this machine,
so its figures measure the client as much as the server: good enough to prove that every
server answers correctly under concurrency, not to compare servers.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urlsplit

from bench.model import LoadResult
from bench.model import Request

REQUEST_TIMEOUT_SECONDS = 5


@dataclass
class _Tally:
    """What one client thread saw."""

    latencies: list[float] = field(default_factory=list)
    socket_errors: int = 0
    status_errors: int = 0
    non_2xx: int = 0


def _client(
    host: str,
    port: int,
    requests: Sequence[Request],
    start: int,
    deadline: float,
    tally: _Tally,
) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
    index = start
    try:
        while time.perf_counter() < deadline:
            request = requests[index % len(requests)]
            index += 1
            began = time.perf_counter()
            try:
                connection.request("GET", request.path, headers=dict(request.headers))
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                tally.socket_errors += 1
                connection.close()  # the next request() reconnects
                continue
            tally.latencies.append(time.perf_counter() - began)
            if response.status >= 400:  # as wrk counts them
                tally.status_errors += 1
            if not 200 <= response.status < 300:
                tally.non_2xx += 1
            if response.will_close:  # HTTP/1.0 servers close after each response
                connection.close()
    finally:
        connection.close()


def run(base_url: str, requests: Sequence[Request], concurrency: int, seconds: float) -> LoadResult:
    """Send `requests` in rotation over `concurrency` connections for `seconds`."""
    parts = urlsplit(base_url)
    tallies = [_Tally() for _ in range(concurrency)]
    began = time.perf_counter()
    deadline = began + seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(
                parts.hostname,
                parts.port,
                requests,
                n * len(requests) // concurrency,
                deadline,
                tally,
            ),
            daemon=True,
        )
        for n, tally in enumerate(tallies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = sorted(x for tally in tallies for x in tally.latencies)
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=_percentile(latencies, 50) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
        socket_errors=sum(t.socket_errors for t in tallies),
        status_errors=sum(t.status_errors for t in tallies),
        non_2xx=sum(t.non_2xx for t in tallies),
    )


def _percentile(sorted_values: Sequence[float], percent: float) -> float:
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, int(len(sorted_values) * percent / 100))
    return sorted_values[rank]
