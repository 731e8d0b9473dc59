"""The floor of the engine: a bare ASGI callable under granian, with our server's settings.

It answers `GET /<path>` under `BENCH_STATIC_DIR` with one `os.read` of the whole file and
one `http.response.body` (or, with `BENCH_BARE_PATHSEND=1`, granian's own file sender), and
does nothing else: no index, no headers but the length, no checks. What our server costs on
top of this is what our code costs; what this costs is granian's and Python's.

Run as `python -m bench.bare_asgi PORT` (granian in the foreground, stopped by SIGTERM).
"""

from __future__ import annotations

import os
import sys
from typing import Any

BASE = os.environ.get("BENCH_STATIC_DIR", ".")
PATHSEND = os.environ.get("BENCH_BARE_PATHSEND") == "1"
_NOT_FOUND = {"type": "http.response.start", "status": 404, "headers": []}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Send the file named by the path, whole; 404 for anything else."""
    if scope["type"] != "http":
        return
    path = BASE + scope["path"]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        await send(_NOT_FOUND)
        await send({"type": "http.response.body", "body": b""})
        return
    try:
        size = os.fstat(fd).st_size
        headers = [(b"content-type", b"image/jpeg"), (b"content-length", b"%d" % size)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if PATHSEND:
            await send({"type": "http.response.pathsend", "path": path})
        else:
            await send({"type": "http.response.body", "body": os.read(fd, size)})
    finally:
        os.close(fd)


def main(port: int) -> None:
    """Serve `app` on 127.0.0.1:`port` with the granian settings `python server.py` uses."""
    from granian.constants import HTTPModes
    from granian.constants import Interfaces
    from granian.constants import Loops
    from granian.server import Server

    Server(
        "bench.bare_asgi:app",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGINL,
        workers=2,
        runtime_threads=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main(int(sys.argv[1]))
