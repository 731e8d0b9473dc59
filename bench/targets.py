"""The servers under test, each started on a free 127.0.0.1 port and serving the frames.

- `ours`: the project as the README starts it, `python server.py` (granian, ASGI, default
  settings), in a fresh state dir; the frames are loaded with `POST /load-directory` and
  fetched by their stable `/d/<id>/<name>` URLs. A black box: only env vars and HTTP.
- `nginx`: the same folder served directly (sendfile, open_file_cache, 2 workers).
- `caddy`: the same folder with Caddy's `file_server` (plain HTTP, admin API off).
- `flask`: the obvious implementation, `send_from_directory` under gunicorn gthread 2x8.
- `http.server`: `python -m http.server`, the floor.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from urllib.parse import quote

import requests

from bench import system
from bench.model import BenchError
from bench.procs import Child
from bench.procs import cpu_seconds
from bench.procs import free_port
from bench.procs import process_tree

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "nginx"
LOAD_TIMEOUT_SECONDS = 120


class Target:
    """A server under test. Subclasses say how to start it and where the frames are."""

    key = ""
    label = ""
    ready_path: str | None = None  # None: GET the first frame until it answers

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir / self.key
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.path_prefix = "/"
        self.child: Child | None = None

    @classmethod
    def unavailable(cls) -> str | None:
        """Return why this server cannot run on this machine, or None when it can."""
        return None

    def command(self, frames: Path) -> list[str]:
        """Return the argv that starts the server."""
        raise NotImplementedError

    def environment(self, frames: Path) -> dict[str, str] | None:
        """Return the server's environment (None: inherit ours)."""
        return None

    def after_start(self, frames: Path, count: int) -> None:
        """Do what the server needs once it answers (ours: load the folder)."""

    def start(self, frames: Path, names: list[str]) -> None:
        """Start the server and wait until it serves; `stop()` must follow, even on error.

        :raise BenchError: it exited or did not answer in time.
        """
        self._spawn(frames, self.ready_path or "/" + quote(names[0]))
        self.after_start(frames, len(names))

    def _spawn(self, frames: Path, ready_path: str) -> None:
        self.child = Child(
            self.key,
            self.command(frames),
            self.workdir / "server.log",
            env=self.environment(frames),
            cwd=ROOT,
        )
        self.child.start()
        self.child.wait_until_ready(self.port, ready_path)

    def check_alive(self, during: str) -> None:
        """Raise unless the server is still running.

        :raise BenchError: it exited; the message has its exit status and its log's end.
        """
        if self.child is not None and not self.child.running():
            raise BenchError(
                f"{self.key} exited (status {self.child.returncode()}) during {during}:\n"
                f"{self.child.log_tail()}"
            )

    def cpu_seconds(self) -> float:
        """Return the CPU time the server and all its processes have used so far."""
        if self.child is None or not self.child.running():
            return 0.0
        return cpu_seconds(process_tree(self.child.pid))

    def stop(self) -> None:
        """Stop the server and everything it forked."""
        if self.child is not None:
            self.child.stop()

    def path_for(self, name: str) -> str:
        """Return the URL path (percent-encoded) of frame `name` on this server."""
        return self.path_prefix + quote(name)


def our_environment(port: int, state_dir: Path, extra: dict[str, str] | None = None) -> dict:
    """Return the environment of our server: default settings but for address and state.

    Any `IMAGE_SERVER_*` of the caller's shell is dropped and `.env` is ignored, so that a
    developer's token or worker count never skews the measurement; `extra` adds settings.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGE_SERVER_")}
    env.pop("FRAME_BASE_DIR", None)
    env.update(
        IMAGE_SERVER_ENV_FILE=os.devnull,
        IMAGE_SERVER_HOST="127.0.0.1",
        IMAGE_SERVER_PORT=str(port),
        IMAGE_SERVER_STATE_DIR=str(state_dir),
    )
    env.update(extra or {})
    return env


class OurServer(Target):
    """`python server.py`, as the README starts it.

    :param extra_env: settings to add (one-off experiments: `IMAGE_SERVER_WORKERS`, ...).
    """

    key = "ours"
    label = (
        "`python server.py` (granian ASGI, 2 workers, uvloop, native image path), "
        "URLs `/d/<id>/<name>`"
    )
    ready_path = "/healthz"

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.extra_env = extra_env or {}

    def command(self, frames: Path) -> list[str]:
        return [sys.executable, str(ROOT / "server.py")]

    def environment(self, frames: Path) -> dict[str, str]:
        return our_environment(self.port, self.workdir / "state", self.extra_env)

    def start_empty(self) -> None:
        """Start the server with nothing loaded; `stop()` must follow, even on error."""
        self._spawn(ROOT, self.ready_path)

    def after_start(self, frames: Path, count: int) -> None:
        body = self.load(frames)
        if body.get("image_count") != count:
            raise BenchError(f"{self.key}: loaded {body.get('image_count')} images, not {count}")
        self.path_prefix = f"/d/{body['id']}/"

    def load(self, folder: Path) -> dict:
        """`POST /load-directory` and return the JSON answer.

        :raise BenchError: the server refused.
        """
        response = requests.post(
            self.base_url + "/load-directory",
            json={"path": str(folder)},
            timeout=LOAD_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise BenchError(
                f"{self.key}: POST /load-directory: {response.status_code} {response.text}"
            )
        return response.json()


class OurServerMetricsOff(OurServer):
    """`python server.py` with `IMAGE_SERVER_METRICS=false`: what counting costs (issue 14)."""

    key = "ours-nometrics"
    label = "the same, with `IMAGE_SERVER_METRICS=false` (no request counting)"

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(workdir, {"IMAGE_SERVER_METRICS": "false", **(extra_env or {})})


class Nginx(Target):
    """nginx serving the folder directly, as a non-daemon child with its own paths."""

    key = "nginx"
    label = "the folder served directly (sendfile, open_file_cache, 2 workers)"

    @classmethod
    def unavailable(cls) -> str | None:
        return None if system.find_program("nginx") else "nginx is not installed"

    def command(self, frames: Path) -> list[str]:
        config = self.workdir / "nginx.conf"
        config.write_text(nginx_config(self.workdir, frames, self.port))
        nginx = system.find_program("nginx") or "nginx"
        # -e: the error log before the config is read, else nginx tries /var/log/nginx.
        return [nginx, "-p", str(self.workdir), "-c", str(config), "-e", "error.log"]


def nginx_config(prefix: Path, root: Path, port: int) -> str:
    """Return an nginx.conf that needs nothing of the system's nginx set-up."""
    # Temp dirs are 0700: as root, nginx's default worker user (nobody) could not read them.
    user = "user root root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
worker_processes 2;
daemon off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    types {{ image/jpeg jpg jpeg; }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    keepalive_timeout 65s;
    # The default (1000) would make wrk reconnect every 1000 requests; granian never does.
    keepalive_requests 1000000;
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


class Caddy(Target):
    """Caddy's `file_server` on the folder: plain HTTP, no admin API, state in its own dir."""

    key = "caddy"
    label = "Caddy `file_server` on the folder (HTTP only, admin off, default settings)"

    @classmethod
    def unavailable(cls) -> str | None:
        return None if system.find_program("caddy") else "caddy is not installed"

    def command(self, frames: Path) -> list[str]:
        config = self.workdir / "Caddyfile"
        config.write_text(caddy_config(frames, self.port))
        caddy = system.find_program("caddy") or "caddy"
        # Caddy 2.6 has no `persist_config` option: with the admin API off it saves nothing.
        return [caddy, "run", "--config", str(config), "--adapter", "caddyfile"]

    def environment(self, frames: Path) -> dict[str, str]:
        # Caddy keeps certificates and autosaved config under XDG dirs: keep them in ours.
        return {
            **os.environ,
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
        }


def caddy_config(root: Path, port: int) -> str:
    """Return a Caddyfile serving `root` on 127.0.0.1:`port`, without TLS or admin API."""
    return f"""{{
    admin off
    auto_https off
}}

http://127.0.0.1:{port} {{
    bind 127.0.0.1
    root * {root}
    file_server
}}
"""


class FlaskStatic(Target):
    """The obvious implementation: `send_from_directory` under gunicorn gthread 2x8."""

    key = "flask"
    label = "`send_from_directory` under gunicorn gthread 2 workers x 8 threads"

    @classmethod
    def unavailable(cls) -> str | None:
        if importlib.util.find_spec("gunicorn") is None:
            return "gunicorn is not installed: pip install -r bench/requirements.txt"
        return None

    def command(self, frames: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            # gunicorn's default control socket is one shared file in ~/.gunicorn.
            "--no-control-socket",
            "bench.flask_static:create_app()",
        ]

    def environment(self, frames: Path) -> dict[str, str]:
        return {**os.environ, "BENCH_STATIC_DIR": str(frames)}


class HttpServer(Target):
    """`python -m http.server` (HTTP/1.0: one connection per request)."""

    key = "http.server"
    label = "`python -m http.server` (HTTP/1.0, no keep-alive)"

    def command(self, frames: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "http.server",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(frames),
        ]


TARGETS: dict[str, type[Target]] = {
    cls.key: cls for cls in (OurServer, OurServerMetricsOff, Nginx, Caddy, FlaskStatic, HttpServer)
}
