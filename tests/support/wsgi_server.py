"""The WSGI entry point under the standard library's wsgiref server, in its own process.

wsgiref passes no raw request target (`RAW_URI`), which is what the `%2F` tests need, and is a
real, single-threaded WSGI server. The process is stopped by its PID when the block ends.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.environment import clean_env
from tests.support.server import PROJECT_ROOT
from tests.support.server import free_port
from tests.support.waiting import wait_until


@contextmanager
def wsgiref_server(state_dir: Path) -> Iterator[str]:
    """Run `imageserver.wsgi:application` under wsgiref; yield its base URL."""
    port = free_port()
    env = clean_env(
        IMAGE_SERVER_STATE_DIR=str(state_dir),
        IMAGE_SERVER_VARIANT_CACHE_DIR=str(state_dir / "variants"),
    )
    code = (
        "from wsgiref.simple_server import make_server, WSGIRequestHandler\n"
        "from imageserver.wsgi import application\n"
        "WSGIRequestHandler.log_message = lambda *a: None\n"
        f"make_server('127.0.0.1', {port}, application).serve_forever()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, "the WSGI server exited during start-up"
        try:
            requests.get(f"{base}/healthz", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    try:
        wait_until(answers, timeout=30, message="the WSGI server to answer /healthz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
