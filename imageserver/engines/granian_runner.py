"""Run the app under granian, the production server; every granian setting lives here.

Why these settings:
- ASGI without lifespan (`asginl`): the image route is answered natively from the ASGI scope,
  whose `raw_path` keeps `%2F` apart from `/`; Flask runs behind a2wsgi for the rest. Nothing
  needs a lifespan event: each worker builds its app (and opens its own SQLite connections)
  after the fork, in `create_asgi_application`.
- `IMAGE_SERVER_WORKERS` processes (default 2 for a 2-core machine), one Rust runtime thread
  each, uvloop; Flask's thread pool per worker is `IMAGE_SERVER_THREADS`.
- HTTP/1.1 only: behind ngrok or a reverse proxy the hop to us is HTTP/1.1, and without TLS
  there is no negotiated HTTP/2; one protocol is one set of behaviours to test.
- granian honours no `X-Forwarded-*` at all; trust is granted only by
  `IMAGE_SERVER_TRUSTED_PROXIES` (ProxyFix in the app), never by the peer being 127.0.0.1.
- `workers_kill_timeout`: SIGTERM stops everything within 5 seconds, whatever timers or
  keep-alive connections are pending; a worker that has not drained by then is killed.
- Failed workers are respawned, so one crash does not take the server down.
- Metrics: a fresh prometheus_client multiprocess directory per run, removed at stop, so the
  counts of every worker add up and a restart starts from zero.
- Connections: each worker has its own SO_REUSEPORT listener, and granian holds one of its
  `backpressure` permits per open connection for the connection's whole life (idle
  keep-alive and half-sent requests included). granian's default, backlog // workers = 512,
  let ~1,100 slow or idle clients stop both workers accepting for up to the 30 s header
  timeout, with the event loops idle. So the limit is set from the descriptor budget instead
  (the soft RLIMIT_NOFILE is raised to the hard one first), and the accept queue is longer.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from functools import partial
from typing import Any

from granian.constants import HTTPModes
from granian.constants import Interfaces
from granian.constants import Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from imageserver.engines.asgi import create_asgi_application
from imageserver.observability import metrics
from imageserver.settings.config import Config

WORKERS_KILL_TIMEOUT_SECONDS = 3
# A client that takes longer to send its request headers is dropped (slowloris).
HEADER_READ_TIMEOUT_MS = 30_000
# What `python server.py` imports in each worker; shown in granian's start-up log.
TARGET = "imageserver.engines.asgi:create_asgi_application"

# Connections one worker holds at once, at most; fewer when the descriptor limit is low.
CONNECTIONS_PER_WORKER = 8192
# Descriptors kept for everything but connections: SQLite, the listener, logs, imports.
RESERVED_FDS = 256
# Listen queue per worker (the kernel caps it at net.core.somaxconn).
BACKLOG = 4096

AppFactory = Callable[[], Any]


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE toward the hard limit, as far as the connections need.

    Services often start with a soft limit of 1024 and a far higher hard one; the workers
    inherit the raised limit. Returns the soft limit in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 2 * CONNECTIONS_PER_WORKER + RESERVED_FDS
        target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass  # keep the soft limit; the connection budget follows it
    return soft


def fd_budget(fd_limit: int) -> int:
    """Return how many connections a worker may hold with `fd_limit` descriptors.

    Two descriptors each (the socket and a file being streamed), after the reserve; never
    fewer than 64.
    """
    return max(64, (fd_limit - RESERVED_FDS) // 2)


def granian_options(config: Config) -> dict[str, Any]:
    """Return the granian settings for `config`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "address": config.host.strip("[]"),
        "port": config.port,
        "interface": Interfaces.ASGINL,
        "workers": config.workers,
        "runtime_threads": 1,
        "loop": Loops.uvloop,
        "http": HTTPModes.http1,
        "http1_settings": HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        "websockets": False,
        "log_level": LogLevels(config.log_level),
        "log_access": False,
        "respawn_failed_workers": True,
        "workers_kill_timeout": WORKERS_KILL_TIMEOUT_SECONDS,
        "backlog": BACKLOG,
        "backpressure": min(CONNECTIONS_PER_WORKER, fd_budget(soft)),
    }


def run(config: Config, app_factory: AppFactory | None = None) -> None:
    """Run granian in the foreground until SIGTERM/SIGINT.

    :param app_factory: builds the ASGI callable in each worker (default: the real one).
    """
    factory = app_factory or partial(create_asgi_application, config)
    raise_fd_limit()  # before the options read it, and before the workers inherit it
    server = Server(TARGET, **granian_options(config))
    # Before any worker exists: they find the directory through the environment they inherit.
    metrics_dir = metrics.prepare_multiprocess_dir(config.state_dir) if config.metrics else None
    try:
        # Each worker calls the factory after the fork: no state crosses from the main process.
        server.serve(target_loader=factory, wrap_loader=False)
    finally:
        if metrics_dir is not None:
            metrics.remove_multiprocess_dir(metrics_dir)
