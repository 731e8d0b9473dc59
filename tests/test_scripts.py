"""The shell scripts of docs/DEPLOY.md, each run as a real subprocess.

`persistent_run.sh` starts real servers; `unload_directory.sh` and
`run_with_progress.sh` talk to real servers; `setup_ngrok.sh` talks to a stand-in of the
ngrok agent API (a fake `ngrok` executable, or an in-test HTTP server). All traffic stays on
loopback, and every process a test starts is stopped in a teardown.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from imageserver.settings.config import Config
from tests.support.environment import clean_env
from tests.support.images import make_frames
from tests.support.parts import require_binary
from tests.support.server import PROJECT_ROOT
from tests.support.server import free_port
from tests.support.waiting import WaitTimeout
from tests.support.waiting import wait_until

SCRIPTS = ["persistent_run.sh", "run_with_progress.sh", "unload_directory.sh", "setup_ngrok.sh"]
SCRIPT_TIMEOUT_SECONDS = 60
UNLOADED = '{"status":"success","message":"Directory unloaded successfully"}'
NOTHING_TO_UNLOAD = '{"status":"info","message":"No directory currently loaded"}'
NGROK_URL = "https://abc123.ngrok-free.app"
# PATH without any ngrok: enough for bash, curl and coreutils.
SYSTEM_PATH = "/usr/bin:/bin"
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


# --- Helpers ------------------------------------------------------------------------------


def run_script(
    name: str, *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of the project's scripts and capture its output."""
    return subprocess.run(
        [str(PROJECT_ROOT / name), *args],
        env=env,
        cwd=cwd or PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )


def is_running(pid: int) -> bool:
    """Tell whether `pid` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return re.search(r"^State:\s*Z", status, re.MULTILINE) is None


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def terminate(pid: int) -> None:
    """SIGTERM a process this test started (by its id), SIGKILL it if it lingers."""
    if not is_running(pid):
        return
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not is_running(pid), timeout=10, message=f"pid {pid} to exit")
    except WaitTimeout:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not is_running(pid), timeout=5, message=f"killed pid {pid} to exit")


def healthz(port: int) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except requests.ConnectionError:
        return None


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())


def write_executable(path: Path, source: str) -> Path:
    """Write a Python script that runs with this test's interpreter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(source))
    path.chmod(0o755)
    return path


# --- Fixtures -----------------------------------------------------------------------------


@pytest.fixture
def script_env(tmp_path: Path) -> dict[str, str]:
    """An environment that keeps the scripts inside `tmp_path` and on loopback."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in clean_env().items()
        if key != "NGROK_API_URL" and key.lower() not in PROXY_VARIABLES
    }
    env.update(
        {
            "HOME": str(home),
            "IMAGE_SERVER_ENV_FILE": str(tmp_path / ".env"),
            "IMAGE_SERVER_RUN_DIR": str(tmp_path / "run"),
            "IMAGE_SERVER_STATE_DIR": str(tmp_path / "state"),
            "IMAGE_SERVER_PYTHON": sys.executable,
            "IMAGE_SERVER_HOST": "127.0.0.1",
            "IMAGE_SERVER_WORKERS": "1",
            "IMAGE_SERVER_THREADS": "2",
            "IMAGE_SERVER_LOG_LEVEL": "warning",
            # Nothing listens there, so a real agent on 4040 is never touched.
            "NGROK_API_URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    return env


@pytest.fixture
def run_dir(script_env: dict[str, str]) -> Path:
    return Path(script_env["IMAGE_SERVER_RUN_DIR"])


@pytest.fixture
def persistent(
    script_env: dict[str, str], run_dir: Path
) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Run `persistent_run.sh`; at teardown stop every server whose PID file it left."""

    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_script("persistent_run.sh", *args, env=env or script_env)

    yield call
    for pid_file in run_dir.glob("server-*.pid"):
        port = pid_file.stem.removeprefix("server-")
        pid = read_pid(pid_file)
        call("stop", port)
        if is_running(pid) and "server.py" in command_line(pid):
            terminate(pid)


@pytest.fixture
def stranger() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process that is not ours, listening on a loopback port."""
    port = free_port()
    code = (
        "import socket, sys, time\n"
        "sock = socket.socket()\n"
        f"sock.bind(('127.0.0.1', {port}))\n"
        "sock.listen()\n"
        "print('listening', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout.readline().strip() == "listening"
    yield process, port
    process.kill()
    process.wait(timeout=5)


# --- --help -------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_usage_and_exits_0(script: str, script_env: dict[str, str]) -> None:
    result = run_script(script, "--help", env=script_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ./" + script)


def test_scripts_are_shellcheck_clean() -> None:
    shellcheck = require_binary("shellcheck", "apt-get install -y shellcheck; .ci/run does")
    paths = [str(PROJECT_ROOT / script) for script in [*SCRIPTS, "scripts/common.sh"]]
    result = subprocess.run([shellcheck, "-x", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# --- persistent_run.sh --------------------------------------------------------------------


def test_start_status_stop_cycle(persistent, run_dir: Path) -> None:
    port = str(free_port())
    url = f"http://127.0.0.1:{port}"
    assert persistent("status", port).returncode == 3

    started = persistent("start", port)
    assert started.returncode == 0, started.stderr
    assert url in started.stdout
    assert healthz(int(port)) == 200
    pid = read_pid(run_dir / f"server-{port}.pid")
    assert "server.py" in command_line(pid)
    assert (run_dir / f"server-{port}.log").is_file()

    status = persistent("status", port)
    assert status.returncode == 0
    assert url in status.stdout

    # Idempotent: a second start, and the old bare-number form, find the same server.
    for again in (persistent("start", port), persistent(port)):
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
    assert read_pid(run_dir / f"server-{port}.pid") == pid

    stopped = persistent("stop", port)
    assert stopped.returncode == 0, stopped.stderr
    wait_until(lambda: not is_running(pid), message="the stopped server to exit")
    assert not (run_dir / f"server-{port}.pid").exists()
    assert healthz(int(port)) is None
    assert persistent("status", port).returncode == 3

    twice = persistent("stop", port)
    assert twice.returncode == 0
    assert "not running" in twice.stdout


def test_restart_replaces_the_process(persistent, run_dir: Path) -> None:
    port = str(free_port())
    assert persistent("start", port).returncode == 0
    first = read_pid(run_dir / f"server-{port}.pid")

    restarted = persistent("restart", port)

    assert restarted.returncode == 0, restarted.stderr
    second = read_pid(run_dir / f"server-{port}.pid")
    assert second != first
    assert not is_running(first)
    assert healthz(int(port)) == 200


def test_plain_start_takes_the_port_from_the_env_file(
    persistent, script_env: dict[str, str], run_dir: Path
) -> None:
    port = free_port()
    Path(script_env["IMAGE_SERVER_ENV_FILE"]).write_text(f"IMAGE_SERVER_PORT={port}\n")

    started = persistent()

    assert started.returncode == 0, started.stderr
    assert healthz(port) == 200
    assert (run_dir / f"server-{port}.pid").is_file()
    assert persistent("status").returncode == 0
    assert persistent("stop").returncode == 0
    assert healthz(port) is None


def test_environment_port_wins_over_the_env_file(persistent, script_env: dict[str, str]) -> None:
    Path(script_env["IMAGE_SERVER_ENV_FILE"]).write_text("IMAGE_SERVER_PORT=1111\n")
    env = {**script_env, "IMAGE_SERVER_PORT": "2222"}

    status = persistent("status", env=env)

    assert status.returncode == 3
    assert "port 2222" in status.stdout


def test_host_and_timeout_arguments_reach_the_server(persistent) -> None:
    port = str(free_port())

    started = persistent("start", port, "127.0.0.1", "5")

    assert started.returncode == 0, started.stderr
    answer = requests.get(f"http://127.0.0.1:{port}/timeout", timeout=5).json()
    assert answer == {"timeout_minutes": 5, "timeout_enabled": True}


def test_port_held_by_a_stranger_is_refused(persistent, stranger, run_dir: Path) -> None:
    process, port = stranger

    result = persistent("start", str(port))

    assert result.returncode != 0
    assert f"port {port}" in result.stderr
    assert process.poll() is None
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert not (run_dir / f"server-{port}.pid").exists()


def test_stop_never_signals_a_process_that_is_not_ours(persistent, stranger, run_dir: Path) -> None:
    process, port = stranger
    run_dir.mkdir(parents=True)
    pid_file = run_dir / f"server-{port}.pid"
    pid_file.write_text(f"{process.pid}\n")

    stopped = persistent("stop", str(port))

    assert stopped.returncode == 0
    assert "not our server" in stopped.stdout
    assert process.poll() is None
    assert not pid_file.exists()
    assert persistent("status", str(port)).returncode == 3


@pytest.fixture
def lookalike() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names server.py but that never listens (killed after)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "server.py"],
        start_new_session=True,
    )
    yield process
    process.kill()
    process.wait(timeout=5)


def test_a_reused_pid_that_looks_like_our_server_is_never_signalled(
    persistent, run_dir: Path, lookalike: subprocess.Popen[bytes]
) -> None:
    # The PID file outlived its server and the PID now belongs to another `server.py` (the
    # machine wrapped its PIDs): the recorded start time tells them apart.
    port = free_port()
    run_dir.mkdir(parents=True)
    (run_dir / f"server-{port}.pid").write_text(f"{lookalike.pid}\n")
    (run_dir / f"server-{port}.started").write_text("1\n")  # the old process's start

    stopped = persistent("stop", str(port))

    assert stopped.returncode == 0
    assert "not our server" in stopped.stdout
    assert lookalike.poll() is None
    assert not (run_dir / f"server-{port}.started").exists()
    assert persistent("status", str(port)).returncode == 3


def test_status_of_a_live_server_that_does_not_answer_is_running_with_a_warning(
    persistent, run_dir: Path, lookalike: subprocess.Popen[bytes]
) -> None:
    # Looks like our server to the script (its command line names server.py) but never
    # listens, as a hung or still-starting server would.
    port = free_port()
    run_dir.mkdir(parents=True)
    (run_dir / f"server-{port}.pid").write_text(f"{lookalike.pid}\n")

    status = persistent("status", str(port))

    assert status.returncode == 0
    assert f"(PID {lookalike.pid})" in status.stdout
    assert "does not answer" in status.stderr


def test_server_that_dies_at_start_up_is_reported(
    persistent, script_env: dict[str, str], tmp_path: Path, run_dir: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**script_env, "IMAGE_SERVER_STATE_DIR": str(blocker / "state")}
    port = str(free_port())

    result = persistent("start", port, env=env)

    assert result.returncode == 1
    assert "exited during start-up" in result.stderr
    assert "error:" in result.stderr.split("last lines of", 1)[1]
    assert not (run_dir / f"server-{port}.pid").exists()


def test_bad_setting_in_the_env_file_stops_with_one_line(
    persistent, script_env: dict[str, str], run_dir: Path
) -> None:
    Path(script_env["IMAGE_SERVER_ENV_FILE"]).write_text("IMAGE_SERVER_PORT=abc\n")

    result = persistent()

    assert result.returncode == 2
    assert result.stderr == "error: IMAGE_SERVER_PORT must be an integer, got 'abc'\n"
    assert list(run_dir.glob("server-*")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [(("start", "abc"), "PORT must be a number"), (("bogus",), "unknown command")],
)
def test_bad_arguments_are_usage_errors(persistent, args: tuple[str, ...], message: str) -> None:
    result = persistent(*args)
    assert result.returncode == 2
    assert message in result.stderr


# --- unload_directory.sh ------------------------------------------------------------------


def load(base_url: str, folder: Path, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.post(
        base_url + "/load-directory", json={"path": str(folder)}, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_unload_prints_the_exact_answers(server_factory, frames: Path, script_env) -> None:
    server = server_factory(workers=1)
    load(server.base_url, frames)

    first = run_script("unload_directory.sh", server.base_url, env=script_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == UNLOADED + "\n"

    again = run_script("unload_directory.sh", "--server", server.base_url + "/", env=script_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == NOTHING_TO_UNLOAD + "\n"


def test_unload_default_url_uses_the_configured_port(
    server_factory, frames: Path, script_env
) -> None:
    server = server_factory(workers=1)
    load(server.base_url, frames)
    Path(script_env["IMAGE_SERVER_ENV_FILE"]).write_text(f"IMAGE_SERVER_PORT={server.port}\n")

    result = run_script("unload_directory.sh", env=script_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == UNLOADED + "\n"


def test_unload_by_id(server_factory, frames: Path, script_env) -> None:
    server = server_factory(workers=1)
    directory_id = load(server.base_url, frames)["id"]

    result = run_script(
        "unload_directory.sh", "--server", server.base_url, "--id", directory_id, env=script_env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == UNLOADED + "\n"
    listing = requests.get(server.url("/api/directories"), timeout=5).json()
    assert listing["directories"] == []

    missing = run_script(
        "unload_directory.sh", server.base_url, f"--id={directory_id}", env=script_env
    )
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {"detail": f"Directory not found: {directory_id}"}
    assert "HTTP 404" in missing.stderr


def test_unload_id_is_url_encoded(server_factory, frames: Path, script_env) -> None:
    server = server_factory(workers=1)
    load(server.base_url, frames)

    result = run_script(
        "unload_directory.sh", server.base_url, "--id", '../unload?x=" $(id)', env=script_env
    )

    assert result.returncode == 1
    assert "%2F" in result.stderr
    # The encoded id never reached POST /unload: the directory is still current.
    status = requests.get(server.url("/"), timeout=5).json()
    assert status["current_directory"] == str(frames)


def test_unload_sends_the_token(server_factory, frames: Path, script_env, tmp_path) -> None:
    server = server_factory(env={"IMAGE_SERVER_TOKEN": "s3cret"}, workers=1)
    load(server.base_url, frames, token="s3cret")

    refused = run_script("unload_directory.sh", server.base_url, env=script_env)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr
    assert "detail" in json.loads(refused.stdout)

    wrong = run_script("unload_directory.sh", server.base_url, "--token", "nope", env=script_env)
    assert wrong.returncode == 1

    flag = run_script("unload_directory.sh", server.base_url, "--token", "s3cret", env=script_env)
    assert flag.returncode == 0, flag.stderr
    assert flag.stdout == UNLOADED + "\n"

    from_env = run_script(
        "unload_directory.sh", server.base_url, env={**script_env, "IMAGE_SERVER_TOKEN": "s3cret"}
    )
    assert from_env.returncode == 0, from_env.stderr
    assert from_env.stdout == NOTHING_TO_UNLOAD + "\n"

    Path(script_env["IMAGE_SERVER_ENV_FILE"]).write_text("IMAGE_SERVER_TOKEN=s3cret\n")
    from_file = run_script("unload_directory.sh", server.base_url, env=script_env)
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == NOTHING_TO_UNLOAD + "\n"


def test_unload_unreachable_server_fails(script_env) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = run_script("unload_directory.sh", url, env=script_env)

    assert result.returncode == 1
    assert "could not reach" in result.stderr


# --- run_with_progress.sh -----------------------------------------------------------------

FAKE_LOADER = """
import json, os, sys
with open(os.environ["FAKE_LOADER_RECORD"], "w") as handle:
    json.dump(sys.argv[1:], handle)
print("checking  50%|#####     | 1/2", file=sys.stderr)
print("done")
sys.exit(int(os.environ.get("FAKE_LOADER_EXIT", "0")))
"""


@pytest.fixture
def fake_loader_env(script_env, tmp_path: Path) -> dict[str, str]:
    loader = write_executable(tmp_path / "fake_loader.py", FAKE_LOADER)
    return {
        **script_env,
        "IMAGE_SERVER_LOADER": str(loader),
        "FAKE_LOADER_RECORD": str(tmp_path / "loader-argv.json"),
    }


def test_run_with_progress_passes_every_option_through(fake_loader_env, tmp_path) -> None:
    args = ["/data/with space", "--name", "a b", "--timeout", "5", "*", "--server=http://x:1"]

    result = run_script("run_with_progress.sh", *args, env=fake_loader_env)

    assert result.returncode == 0, result.stderr
    recorded = json.loads(Path(fake_loader_env["FAKE_LOADER_RECORD"]).read_text())
    assert recorded == ["--dir", *args]
    assert result.stdout == "done\n"
    assert "50%" in result.stderr


def test_run_with_progress_returns_the_cli_exit_status(fake_loader_env) -> None:
    env = {**fake_loader_env, "FAKE_LOADER_EXIT": "3"}
    assert run_script("run_with_progress.sh", "/data", env=env).returncode == 3


def test_run_with_progress_leaves_leading_options_alone(fake_loader_env) -> None:
    result = run_script("run_with_progress.sh", "--dir", "/data", "--quiet", env=fake_loader_env)

    assert result.returncode == 0, result.stderr
    recorded = json.loads(Path(fake_loader_env["FAKE_LOADER_RECORD"]).read_text())
    assert recorded == ["--dir", "/data", "--quiet"]


def test_run_with_progress_needs_a_directory(script_env) -> None:
    result = run_script("run_with_progress.sh", env=script_env)
    assert result.returncode == 2
    assert "missing <dir>" in result.stderr


def test_run_with_progress_loads_a_folder_with_the_real_cli(
    server_factory, tmp_path: Path, script_env
) -> None:
    server = server_factory(workers=1)
    folder = tmp_path / "clip"
    names = make_frames(folder, 3)
    output = tmp_path / "json"

    result = run_script(
        "run_with_progress.sh",
        str(folder),
        "--server",
        server.base_url,
        "--output",
        str(output),
        env=script_env,
    )

    assert result.returncode == 0, result.stderr
    latest = json.loads((output / "clip_latest.json").read_text())
    assert latest["success"] is True
    assert latest["count"] == len(names)
    assert [url.rsplit("/", 1)[1] for url in latest["image_urls"]] == names


# --- setup_ngrok.sh -----------------------------------------------------------------------

FAKE_NGROK = """
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

print("t=0 lvl=info msg=\\"starting fake ngrok\\"", flush=True)
if os.environ.get("FAKE_NGROK_FAIL"):
    print("t=0 lvl=crit msg=\\"ERR_NGROK_4018: authentication failed\\"", flush=True)
    sys.exit(1)
with open(os.environ["FAKE_NGROK_RECORD"], "w") as handle:
    json.dump({"argv": sys.argv[1:], "pid": os.getpid()}, handle)
port = sys.argv[2]
api = urlsplit(os.environ["NGROK_API_URL"])
polls = []


class Agent(BaseHTTPRequestHandler):
    def do_GET(self):
        polls.append(1)
        # The first answers list no tunnel yet, as while a real agent connects.
        tunnels = [] if len(polls) < 3 else [{
            "public_url": os.environ["FAKE_NGROK_URL"],
            "proto": "https",
            "config": {"addr": f"http://localhost:{port}"},
        }]
        body = json.dumps({"tunnels": tunnels}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
ThreadingHTTPServer((api.hostname, api.port), Agent).serve_forever()
"""


@pytest.fixture
def ngrok_env(script_env, tmp_path: Path, run_dir: Path) -> Iterator[dict[str, str]]:
    """PATH starts with a fake `ngrok`; any fake agent left running is stopped at teardown."""
    fake = write_executable(tmp_path / "bin" / "ngrok", FAKE_NGROK)
    env = {
        **script_env,
        "PATH": f"{fake.parent}:{SYSTEM_PATH}",
        "FAKE_NGROK_RECORD": str(tmp_path / "ngrok-record.json"),
        "FAKE_NGROK_URL": NGROK_URL,
    }
    yield env
    for pid_file in run_dir.glob("ngrok-*.pid"):
        pid = read_pid(pid_file)
        if str(fake) in command_line(pid):
            terminate(pid)


class FakeAgent:
    """A stand-in of an ngrok agent's local API that is already running (in a thread)."""

    def __init__(self, tunnels: list[dict]) -> None:
        self.tunnels = tunnels
        self.posts: list[dict] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(200, {"tunnels": agent.tunnels, "uri": "/api/tunnels"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                agent.posts.append(body)
                tunnel = {
                    "name": body["name"],
                    "public_url": "https://posted.ngrok-free.app",
                    "proto": "https",
                    "config": {"addr": f"http://localhost:{body['addr']}"},
                }
                agent.tunnels.append(tunnel)
                self.answer(201, tunnel)

            def answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def agent_factory() -> Iterator[Callable[[list[dict]], FakeAgent]]:
    agents: list[FakeAgent] = []

    def start(tunnels: list[dict]) -> FakeAgent:
        agents.append(FakeAgent(tunnels))
        return agents[-1]

    yield start
    for agent in agents:
        agent.close()


def env_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_setup_ngrok_starts_the_agent_and_records_the_url(ngrok_env, run_dir: Path) -> None:
    port = free_port()
    env_file = Path(ngrok_env["IMAGE_SERVER_ENV_FILE"])
    env_file.write_text(
        "# my settings\n"
        f"IMAGE_SERVER_PORT={port}\n"
        "IMAGE_SERVER_PUBLIC_URL=https://old.example.org\n"
        "FOO='bar baz'\n"
        "export IMAGE_SERVER_PUBLIC_URL=https://older.example.org\n"
        "LAST=1"
    )

    result = run_script("setup_ngrok.sh", env=ngrok_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"NGROK_URL={NGROK_URL}\n"
    assert env_lines(env_file) == [
        "# my settings",
        f"IMAGE_SERVER_PORT={port}",
        f"IMAGE_SERVER_PUBLIC_URL={NGROK_URL}",
        "FOO='bar baz'",
        "LAST=1",
    ]
    assert Config.from_env({}, env_file=env_file).public_url == NGROK_URL
    record = json.loads(Path(ngrok_env["FAKE_NGROK_RECORD"]).read_text())
    assert record["argv"] == ["http", str(port), "--log=stdout"]
    # The tunnel is left running, under the PID the script recorded.
    pid = read_pid(run_dir / f"ngrok-{port}.pid")
    assert pid == record["pid"]
    assert is_running(pid)
    terminate(pid)
    assert not is_running(pid)


def test_setup_ngrok_creates_a_missing_env_file(ngrok_env) -> None:
    port = str(free_port())
    env_file = Path(ngrok_env["IMAGE_SERVER_ENV_FILE"])

    result = run_script("setup_ngrok.sh", port, env=ngrok_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"NGROK_URL={NGROK_URL}\n"
    assert env_lines(env_file) == [f"IMAGE_SERVER_PUBLIC_URL={NGROK_URL}"]


def test_setup_ngrok_reports_an_agent_that_fails(ngrok_env, run_dir: Path) -> None:
    env_file = Path(ngrok_env["IMAGE_SERVER_ENV_FILE"])
    env = {**ngrok_env, "FAKE_NGROK_FAIL": "1"}

    result = run_script("setup_ngrok.sh", str(free_port()), env=env)

    assert result.returncode == 1
    assert "ERR_NGROK_4018" in result.stderr
    assert "NGROK_URL" not in result.stdout
    assert not env_file.exists()
    assert list(run_dir.glob("ngrok-*.pid")) == []


def test_setup_ngrok_reuses_a_running_tunnel(agent_factory, script_env) -> None:
    port = free_port()
    agent = agent_factory(
        [
            {
                "public_url": "http://plain.ngrok-free.app",
                "proto": "http",
                "config": {"addr": f"localhost:{port}"},
            },
            {
                "public_url": "https://other.ngrok-free.app",
                "proto": "https",
                "config": {"addr": "http://localhost:1"},
            },
            {
                "public_url": NGROK_URL,
                "proto": "https",
                "config": {"addr": f"http://localhost:{port}"},
            },
        ]
    )
    env = {**script_env, "NGROK_API_URL": agent.url, "PATH": SYSTEM_PATH}
    env_file = Path(env["IMAGE_SERVER_ENV_FILE"])
    env_file.write_text("KEEP=me\n")

    result = run_script("setup_ngrok.sh", str(port), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"NGROK_URL={NGROK_URL}\n"
    assert agent.posts == []
    assert env_lines(env_file) == ["KEEP=me", f"IMAGE_SERVER_PUBLIC_URL={NGROK_URL}"]


def test_setup_ngrok_asks_a_running_agent_for_a_new_tunnel(agent_factory, script_env) -> None:
    port = free_port()
    agent = agent_factory([])
    env = {**script_env, "NGROK_API_URL": agent.url + "/", "PATH": SYSTEM_PATH}

    result = run_script("setup_ngrok.sh", str(port), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "NGROK_URL=https://posted.ngrok-free.app\n"
    assert agent.posts == [{"name": f"imageserver-{port}", "proto": "http", "addr": str(port)}]


def path_without(tool: str, folder: Path) -> str:
    """A PATH of one `folder` that links every system command except `tool`."""
    folder.mkdir()
    for directory in SYSTEM_PATH.split(":"):
        for command in Path(directory).iterdir():
            link = folder / command.name
            if command.name != tool and not link.exists():
                link.symlink_to(command)
    return str(folder)


def test_setup_ngrok_without_ngrok_is_a_clear_error(script_env, tmp_path: Path) -> None:
    # The system's own commands, so a real ngrok installed on this machine is not found.
    env = {**script_env, "PATH": path_without("ngrok", tmp_path / "bin")}

    result = run_script("setup_ngrok.sh", "8080", env=env)

    assert result.returncode == 1
    assert "ngrok is not installed" in result.stderr
    assert result.stdout == ""
    assert not Path(env["IMAGE_SERVER_ENV_FILE"]).exists()


def test_setup_ngrok_rejects_a_bad_port(script_env) -> None:
    result = run_script("setup_ngrok.sh", "http", env=script_env)
    assert result.returncode == 2
    assert "PORT must be a number" in result.stderr
