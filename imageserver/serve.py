"""Run the app under gunicorn, the production WSGI server; every gunicorn setting lives here.

Why these settings:
- gthread workers: image requests block on disk and sockets, threads overlap them cheaply;
  `IMAGE_SERVER_WORKERS` x `IMAGE_SERVER_THREADS` (default 2 x 8 for a 2-core machine).
- No preload: each worker opens its own SQLite connections after the fork.
- `forwarded_allow_ips = ""`: gunicorn trusts X-Forwarded-* from 127.0.0.1 by default, but a
  tunnel's requests all come from 127.0.0.1; trust is granted only by
  `IMAGE_SERVER_TRUSTED_PROXIES` (ProxyFix in the app).
- `graceful_timeout = 4`: SIGTERM finishes within 5 seconds whatever timers are pending.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from imageserver.app import WSGIApplication
from imageserver.app import create_application
from imageserver.config import Config

GRACEFUL_TIMEOUT_SECONDS = 4


def bind_address(host: str, port: int) -> str:
    """Format host and port for gunicorn's `bind` (IPv6 literals need brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def gunicorn_options(config: Config) -> dict[str, Any]:
    """Return the gunicorn settings for `config`."""
    return {
        "bind": [bind_address(config.host, config.port)],
        "workers": config.workers,
        "threads": config.threads,
        "worker_class": "gthread",
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "timeout": 60,
        "keepalive": 5,
        "forwarded_allow_ips": "",
        "proxy_allow_ips": "",
        "preload_app": False,
        "loglevel": config.log_level,
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "imageserver",
        # One shared ~/.gunicorn/gunicorn.ctl would collide between several servers (tests,
        # two instances on two ports); we manage the process with signals instead.
        "control_socket_disable": True,
    }


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Answer a request gunicorn itself refused (bad request line, huge headers) in JSON.

    gunicorn writes an HTML page there; the contract says never HTML. The message may echo
    the client's bytes, so only the reason phrase is sent.
    """
    body = json.dumps({"detail": reason}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class GunicornServer(BaseApplication):
    """gunicorn driven from Python, so `python server.py` needs no command-line juggling."""

    def __init__(
        self, config: Config, app_factory: Callable[[], WSGIApplication] | None = None
    ) -> None:
        self.config_obj = config
        self.app_factory = app_factory or (lambda: create_application(config))
        super().__init__()

    def load_config(self) -> None:
        # Workers fork from this process, so they inherit the JSON error writer.
        gunicorn_util.write_error = write_json_error
        for key, value in gunicorn_options(self.config_obj).items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApplication:
        return self.app_factory()


def run(config: Config, app_factory: Callable[[], WSGIApplication] | None = None) -> None:
    """Run gunicorn in the foreground until SIGTERM/SIGINT."""
    GunicornServer(config, app_factory).run()
