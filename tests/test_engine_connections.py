"""How many connections a worker holds at once, and that held ones never stop new ones.

granian gives each worker its own SO_REUSEPORT listener and a semaphore of `backpressure`
permits, one held per open connection for its whole life (keep-alive and half-sent requests
included). With granian's default (backlog // workers = 512), some 1,100 slow or idle
connections left both workers accepting nothing: every new client hung in the kernel's
accept queue until the holders' 30 s header timeout. See `serve.granian_options`.
"""

from __future__ import annotations

import os
import resource
import socket
import time

import requests

from imageserver.engines import granian_runner as serve
from imageserver.settings.config import Config
from tests.support.parts import missing_part

# More than granian's default (512 per worker) on each of the 2 workers, whichever worker
# the kernel's reuseport hash hands each connection to.
HELD_CONNECTIONS = 1200


def test_each_worker_holds_as_many_connections_as_its_descriptors_allow():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    options = serve.granian_options(Config.from_env({}, env_file=os.devnull))
    assert options["backpressure"] == min(serve.CONNECTIONS_PER_WORKER, serve.fd_budget(soft))
    # A socket and a file being streamed per connection, after the reserve.
    assert serve.fd_budget(1024) == (1024 - serve.RESERVED_FDS) // 2
    assert serve.fd_budget(100) == 64
    assert options["backlog"] >= 2048


def test_held_half_sent_requests_never_stop_new_connections(server_factory, frames):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HELD_CONNECTIONS + 256:
        missing_part(f"this process may open only {hard} files (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HELD_CONNECTIONS + 256), hard))
    server = server_factory()
    held: list[socket.socket] = []
    try:
        for _ in range(HELD_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            held.append(sock)
        started = time.monotonic()
        for _ in range(10):  # fresh connections: the kernel spreads them over both workers
            response = requests.get(
                f"{server.base_url}/healthz", headers={"Connection": "close"}, timeout=5
            )
            assert response.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
