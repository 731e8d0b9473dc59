"""Prometheus metrics, counted cheaply in each worker and added up across them.

The pinned names are in docs/API.md#get-metrics.

Why tallies and a flush: prometheus_client's multiprocess mode writes every increment into a
memory-mapped file under a lock, about 11 us for the three updates of one request, a quarter
of what a whole image request costs on the native path. Each worker therefore tallies its
requests in plain dicts (well under 1 us) and pushes the sums into prometheus_client's
multiprocess values at most `FLUSH_SECONDS` after they happen (and at once before it answers
a scrape itself), so a scrape sees every worker's counts within that delay.

Only counters and histograms are kept per process; the directory and image gauges are read
from the state database at scrape time. `prometheus_client` is imported lazily: its value
class is chosen at import from `PROMETHEUS_MULTIPROC_DIR`, which `prepare_multiprocess_dir` sets
(called by `engines/granian_runner.py`) before the workers start.
"""

from __future__ import annotations

import os
import shutil
from bisect import bisect_left
from collections.abc import Callable
from collections.abc import Iterator
from functools import cache
from typing import Any

FLUSH_SECONDS = 0.25
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets in seconds: an image from the page cache takes well under a millisecond.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED_ROUTE = "unmatched"
_FIRST_BUCKET = 3  # a tally is [count, bytes, seconds, bucket counts...]

StateCounts = Callable[[], tuple[int, int]]


class RequestMetrics:
    """One worker's tallies of requests and variant-cache lookups, and their flush."""

    def __init__(self) -> None:
        families = _families()
        self._requests_metric = families["requests"]
        self._duration_metric = families["duration"]
        self._bytes_metric = families["bytes"]
        self._variant_metric = families["variants"]
        # (route, method, status) -> [count, body bytes, seconds, bucket counts... (+Inf last)]
        self._tallies: dict[tuple[str, str, int], list[float]] = {}
        self._variants: dict[str, int] = {}

    def record(self, route: str, method: str, status: int, nbytes: int, seconds: float) -> None:
        """Tally one answered request (called on the worker's event loop only)."""
        key = (route, method, status)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0.0] * (_FIRST_BUCKET + len(DURATION_BUCKETS) + 1)
        tally[0] += 1
        tally[1] += nbytes
        tally[2] += seconds
        tally[_FIRST_BUCKET + bisect_left(DURATION_BUCKETS, seconds)] += 1

    def record_variant(self, result: str) -> None:
        """Tally one variant lookup: `hit` or `miss`."""
        self._variants[result] = self._variants.get(result, 0) + 1

    @property
    def pending(self) -> bool:
        """Tell whether there are tallies not yet flushed."""
        return bool(self._tallies or self._variants)

    def flush(self) -> None:
        """Add the tallies to prometheus_client's values (shared files) and start afresh."""
        by_route: dict[str, list[float]] = {}
        for (route, method, status), tally in self._tallies.items():
            self._requests_metric.labels(route, method, str(status)).inc(tally[0])
            summed = by_route.setdefault(route, [0.0] * len(tally))
            for i, value in enumerate(tally):
                summed[i] += value
        for route, tally in by_route.items():
            self._bytes_metric.labels(route).inc(tally[1])
            _add_observations(self._duration_metric.labels(route), tally)
        for result, count in self._variants.items():
            self._variant_metric.labels(result).inc(count)
        self._tallies, self._variants = {}, {}


@cache
def _families() -> dict[str, Any]:
    """Create the metric families once per process (prometheus_client registers them)."""
    from prometheus_client import Counter
    from prometheus_client import Histogram

    return {
        "requests": Counter(
            "imageserver_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
        ),
        "duration": Histogram(
            "imageserver_http_request_duration_seconds",
            "Time from the request to the last byte handed to the server, by route template.",
            ["route"],
            buckets=DURATION_BUCKETS,
        ),
        "bytes": Counter(
            "imageserver_http_response_bytes_total",
            "Response body bytes sent, by route template.",
            ["route"],
        ),
        "variants": Counter(
            "imageserver_variant_cache_requests_total",
            "Variant requests, by whether the disk cache had the variant.",
            ["result"],
        ),
    }


def _add_observations(child: Any, tally: list[float]) -> None:
    # prometheus_client has no "observe n times" call; a histogram child keeps one value per
    # bucket (not cumulative: the collector adds them up) and one for the sum.
    for bucket, count in zip(child._buckets, tally[_FIRST_BUCKET:], strict=True):
        if count:
            bucket.inc(count)
    child._sum.inc(tally[2])


def render(state_counts: StateCounts) -> tuple[bytes, str]:
    """Return the exposition text of every worker's metrics plus the state gauges.

    :param state_counts: returns (directories loaded, images indexed) from the state database.
    """
    from prometheus_client import REGISTRY
    from prometheus_client import CollectorRegistry
    from prometheus_client import generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))  # one process (tests, the WSGI entry point)
    registry.register(_StateCollector(state_counts))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """Collect our metrics of the in-process default registry (no multiprocess directory)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        for family in self.source.collect():
            if family.name.startswith("imageserver_"):
                yield family


class _StateCollector:
    """The gauges read from the state database at scrape time, never kept per process."""

    def __init__(self, state_counts: StateCounts) -> None:
        self.state_counts = state_counts

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        directories, images = self.state_counts()
        yield GaugeMetricFamily(
            "imageserver_directories_loaded", "Directories loaded now.", value=directories
        )
        yield GaugeMetricFamily(
            "imageserver_images_indexed", "Images in the loaded directories' indexes.", value=images
        )


def prepare_multiprocess_dir(state_dir: str) -> str:
    """Create a fresh multiprocess directory for this server run and point the workers at it.

    Directories left by runs that were killed (their process is gone) are removed first, so a
    restart always starts from zero. Call before any worker imports prometheus_client.
    """
    for entry in os.scandir(state_dir):
        if entry.name.startswith("metrics-") and not _alive(entry.name.removeprefix("metrics-")):
            shutil.rmtree(entry.path, ignore_errors=True)
    path = os.path.join(state_dir, f"metrics-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    os.environ[MULTIPROC_ENV] = path
    return path


def remove_multiprocess_dir(path: str) -> None:
    """Remove this run's multiprocess directory (at stop)."""
    shutil.rmtree(path, ignore_errors=True)
    if os.environ.get(MULTIPROC_ENV) == path:
        del os.environ[MULTIPROC_ENV]


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
