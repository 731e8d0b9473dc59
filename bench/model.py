"""Plain data shared by the load generators, the runner and the report."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server serves wrong bytes, a tool is missing, ...).

    The message is printed as is, without a traceback.
    """


class Workload(StrEnum):
    """What each request of a load run asks for (every run rotates over all frames)."""

    GET = "GET"  # the whole frame, 200
    REVALIDATE = "304"  # If-None-Match with the frame's ETag, 304 without a body
    RANGE = "Range"  # Range: bytes=0-1023, 206 with 1 KiB


@dataclass(frozen=True)
class Request:
    """One request a load generator sends: a path and the extra headers."""

    path: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect, read, write and timeout errors
    status_errors: int  # responses with a status of 400 or more
    non_2xx: int | None = None  # responses outside 200-299, when the client counted them
    server_cpu_us: float | None = None  # the server's CPU time per request (all processes)

    @property
    def rps(self) -> float:
        """Requests per second over the whole run."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        """Socket errors plus error statuses."""
        return self.socket_errors + self.status_errors


@dataclass(frozen=True)
class Summary:
    """The repetitions of one (workload, concurrency, server) cell, reduced to one row."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # summed over repetitions: one error in any repetition shows
    cpu_us: float | None = None  # median server CPU per request, when it was measured

    @classmethod
    def of(cls, runs: Sequence[LoadResult]) -> Summary:
        """Take the median of each figure over `runs` (the errors are summed)."""
        cpu = [r.server_cpu_us for r in runs if r.server_cpu_us is not None]
        return cls(
            rps=statistics.median(r.rps for r in runs),
            p50_ms=statistics.median(r.p50_ms for r in runs),
            p99_ms=statistics.median(r.p99_ms for r in runs),
            errors=sum(r.errors for r in runs),
            cpu_us=statistics.median(cpu) if cpu else None,
        )


@dataclass(frozen=True)
class Row:
    """One line of the throughput table; `summary` is None when the server cannot do it."""

    workload: Workload
    concurrency: int
    server: str
    summary: Summary | None
    note: str = ""


@dataclass(frozen=True)
class IndexMeasurement:
    """Our server with one very large directory loaded (times are medians, in ms)."""

    count: int
    load_ms: float  # the median of the first load and the re-loads
    first_load_ms: float  # the first load of the folder (nothing in the state yet)
    reload_ms: float  # the median of the re-loads (the same files: the index is kept)
    status_ms: float
    status_bytes: int
    page_offset: int
    page_ms: float
    page_bytes: int
    image_ms: float
    rss_before: int  # bytes, master + workers, before the load
    rss_after: int  # the same once every worker has served from the loaded directory
    processes: int  # how many processes the RSS sums over

    @property
    def rss_per_file(self) -> float:
        """Bytes of resident memory each indexed file costs the whole server."""
        return (self.rss_after - self.rss_before) / self.count
