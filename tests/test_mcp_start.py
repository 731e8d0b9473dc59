"""`imageserver mcp` starts a local server when none answers, like the loader (docs/MCP.md).

Real processes only: the MCP process is spawned with the SDK's `stdio_client`, and its start
command (the hidden `--start-command`, as the loader's tests inject it) runs a real
`python server.py` on the free port `--server` names, in its own session, recording its PID.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio
import pytest
import requests
from mcp import ClientSession
from mcp import StdioServerParameters
from mcp import stdio_client
from mcp_types import TextContent

from tests.support.cli import cli_env
from tests.support.images import make_image
from tests.support.server import PROJECT_ROOT
from tests.support.server import ServerProcess
from tests.support.server import free_port
from tests.support.waiting import WaitTimeout
from tests.support.waiting import wait_until


def _starter(tmp_path: Path, pid_file: Path) -> Path:
    """A start command that runs `server.py` on the port it is given (`start <port>`)."""
    script = tmp_path / "start.sh"
    script.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        f'echo "$@" > "{tmp_path / "calls"}"\n'
        'IMAGE_SERVER_PORT="$2" IMAGE_SERVER_HOST=127.0.0.1 IMAGE_SERVER_WORKERS=1 \\\n'
        f'IMAGE_SERVER_STATE_DIR="{tmp_path / "state"}" IMAGE_SERVER_ENV_FILE=/dev/null \\\n'
        f'  setsid "{sys.executable}" "{PROJECT_ROOT / "server.py"}" '
        f'> "{tmp_path / "server.log"}" 2>&1 < /dev/null &\necho $! > "{pid_file}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _stop_group(pid: int) -> None:
    """Stop the started server (its own session) by its PID and wait until it is gone."""
    os.killpg(pid, signal.SIGTERM)
    try:
        wait_until(lambda: _group_gone(pid), timeout=10, message=f"process group {pid} to exit")
    except WaitTimeout:
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: _group_gone(pid), timeout=5, message=f"process group {pid} to die")


def test_a_local_server_that_is_down_is_started_and_the_tools_work(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    pid_file = tmp_path / "server.pid"
    folder = tmp_path / "pictures"
    make_image(folder / "one.jpg", size=(64, 48), color=3)
    starter = _starter(tmp_path, pid_file)
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "imageserver",
            "mcp",
            "--server",
            base_url,
            "--start-command",
            f"bash {starter}",
        ],
        env=cli_env(tmp_path),
        cwd=PROJECT_ROOT,
    )
    errlog_path = tmp_path / "mcp-stdio.log"

    async def scenario() -> None:
        with open(errlog_path, "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                loaded = await session.call_tool("load_directory", {"path": str(folder)})
                assert not loaded.is_error, loaded.content
                listed = await session.call_tool("list_directories", {})
                assert not listed.is_error
                text = "\n".join(b.text for b in listed.content if isinstance(b, TextContent))
                assert str(folder) in text

    try:
        anyio.run(scenario)
        assert (tmp_path / "calls").read_text().split() == ["start", str(port)]
        assert requests.get(f"{base_url}/healthz", timeout=5).status_code == 200
        started = [line for line in errlog_path.read_text().splitlines() if "started" in line]
        assert started == [f"imageserver mcp: started the image server at {base_url}"]
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text())
            _stop_group(pid)
            assert _group_gone(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/healthz", timeout=5)


def test_a_remote_server_that_is_down_is_never_started(tmp_path: Path) -> None:
    # In process, with a health check that answers "nothing there" without any traffic: the
    # tests never send a packet beyond loopback, and a remote host is all this case needs.
    from imageserver.loader import launcher
    from imageserver.loader.errors import ServerUnavailable

    calls = tmp_path / "calls"
    starter = tmp_path / "start.sh"
    starter.write_text(f'echo "$@" > "{calls}"\n')

    async def nothing_answers() -> bool:
        return False

    server = "http://frames.example.com:7779"
    with pytest.raises(ServerUnavailable) as refused:
        anyio.run(launcher.ensure_server, server, nothing_answers, ("bash", str(starter)))
    assert str(refused.value).startswith(f"no image server answers at {server}")
    assert "not on this machine" in str(refused.value)
    assert not calls.exists()


def test_no_start_serves_without_starting_and_tools_report_the_server_unreachable(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls"
    starter = tmp_path / "start.sh"
    starter.write_text(f'echo "$@" > "{calls}"\n')
    base_url = f"http://127.0.0.1:{free_port()}"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "imageserver", "mcp", "--server", base_url, "--no-start",
              "--start-command", f"bash {starter}"],
        env=cli_env(tmp_path),
        cwd=PROJECT_ROOT,
    )  # fmt: skip

    async def scenario() -> str:
        with open(tmp_path / "mcp-stdio.log", "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool("list_directories", {})
                assert result.is_error
                return "\n".join(b.text for b in result.content if isinstance(b, TextContent))

    assert "Cannot reach the image server" in anyio.run(scenario)
    assert not calls.exists()


def test_server_and_token_come_from_the_settings(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    """Without --server and --token: IMAGE_SERVER_URL and IMAGE_SERVER_TOKEN from `.env`,
    and the real environment wins over it, as for every setting (docs/CONFIGURATION.md)."""
    token = "settings-token"
    server = server_factory(env={"IMAGE_SERVER_TOKEN": token})
    env_file = tmp_path / "settings.env"
    env_file.write_text(f"IMAGE_SERVER_URL={server.base_url}\nIMAGE_SERVER_TOKEN={token}\n")

    async def listing(**extra: str) -> tuple[bool, str]:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "imageserver", "mcp", "--no-start"],
            env=cli_env(tmp_path, IMAGE_SERVER_ENV_FILE=str(env_file), **extra),
            cwd=PROJECT_ROOT,
        )
        with open(tmp_path / "mcp-stdio.log", "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool("list_directories", {})
                text = "\n".join(b.text for b in result.content if isinstance(b, TextContent))
                return bool(result.is_error), text

    assert anyio.run(listing) == (False, '{"directories": [], "current": null}')
    assert anyio.run(partial(listing, IMAGE_SERVER_TOKEN="wrong")) == (True, "Not authenticated")
