"""Start the real server (`python server.py`, granian) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.environment import clean_env
from tests.support.waiting import WaitTimeout
from tests.support.waiting import wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLOCK_LAUNCHER = Path(__file__).resolve().parent / "clock_server.py"
START_DEADLINE_SECONDS = 20


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (bind-then-release)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One server process with its own port and state directory.

    :param clock_file: when given, the server runs through `clock_server.py`, whose clock is
        real time plus the offset (seconds) written in that file, so tests move time.
    """

    def __init__(
        self,
        state_dir: Path,
        env: dict[str, str] | None = None,
        workers: int = 2,
        threads: int = 4,
        clock_file: Path | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.clock_file = clock_file
        settings = {
            "IMAGE_SERVER_HOST": "127.0.0.1",
            "IMAGE_SERVER_PORT": str(self.port),
            "IMAGE_SERVER_STATE_DIR": str(state_dir),
            "IMAGE_SERVER_VARIANT_CACHE_DIR": str(state_dir / "variants"),
            "IMAGE_SERVER_WORKERS": str(workers),
            "IMAGE_SERVER_THREADS": str(threads),
            "IMAGE_SERVER_LOG_LEVEL": "warning",
        }
        # The developer's settings stay out (tests/support/environment.py); `env` wins.
        self.env = clean_env(**{**settings, **(env or {})})
        if clock_file is not None:
            self.env["IMAGE_SERVER_TEST_CLOCK_FILE"] = str(clock_file)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir / "server.log"

    def start(self) -> ServerProcess:
        """Start the process and wait until `/healthz` answers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        entry = str(CLOCK_LAUNCHER if self.clock_file else PROJECT_ROOT / "server.py")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process owns it until stop()
        self.process = subprocess.Popen(
            [sys.executable, entry],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                return requests.get(self.base_url + "/healthz", timeout=2).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False  # not listening yet, or a worker still busy starting (loaded CI)

        try:
            wait_until(ready, timeout=START_DEADLINE_SECONDS, message="/healthz to answer 200")
        except WaitTimeout as timeout:
            self.stop()
            raise RuntimeError(
                f"server did not answer in time ({timeout}):\n{self.log()}"
            ) from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10) -> int | None:
        """Signal the server's process group and wait for it; kill it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=5)

    def kill9(self) -> None:
        """Kill the master and every worker at once, like a crash."""
        self.stop(sig=signal.SIGKILL)

    def url(self, path: str) -> str:
        return self.base_url + path
