"""Start the server on this machine when nothing answers at `--server` (docs/CLI.md).

Only a URL that points at this machine may trigger a start: starting a local server would
not help a remote URL, and probing remote hosts is not our business.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from urllib.parse import urlsplit

from imageserver.loader.errors import ServerUnavailable
from imageserver.settings.places import PROJECT_ROOT
from imageserver.settings.places import is_checkout

log = logging.getLogger(__name__)

# Installed from the wheel there is no persistent_run.sh: the server runs under systemd (or
# `imageserver serve`), and the loader says so instead of starting one.
DEFAULT_START_COMMAND: tuple[str, ...] = (
    ("bash", str(PROJECT_ROOT / "persistent_run.sh")) if is_checkout() else ()
)
# persistent_run.sh returns once the server is forked; this only bounds a hung script.
START_COMMAND_TIMEOUT_SECONDS = 60
# Once the command returned, how long the new server may take to answer `/healthz`.
START_WAIT_SECONDS = 20.0
START_POLL_SECONDS = 0.25
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_local_host(host: str) -> bool:
    """Tell whether `host` names this machine: localhost, a loopback address or our hostname.

    Only names and literals are compared; nothing is resolved, so no query leaves the machine.
    """
    host = host.strip("[]").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == socket.gethostname().lower()
    return address.is_loopback or address.is_unspecified


def host_of(url: str) -> str:
    """Return the host of an http(s) URL, lower-cased ("" when it names none)."""
    return urlsplit(url).hostname or ""


def port_of(url: str) -> int:
    """Return the TCP port of an http(s) URL (80/443 when the URL names none)."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def start_server(command: Sequence[str], port: int) -> None:
    """Run `<command> start <port>` and wait for it to return (blocking: run it in a thread).

    The script's own output goes to stderr: stdout carries only the output file's path.

    :raise ServerUnavailable: the command is missing, hangs or exits non-zero.
    """
    if not command:
        raise ServerUnavailable(
            f"no image server answers on port {port}; start it with `imageserver serve` "
            "(or `systemctl start imageserver`)"
        )
    argv = [*command, "start", str(port)]
    log.info("No server answers; starting one: %s", " ".join(argv))
    try:
        completed = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            stderr=sys.stderr,
            timeout=START_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"could not start the server with {argv[0]}: {exc}") from None
    if completed.returncode != 0:
        raise ServerUnavailable(
            f"could not start the server: {' '.join(argv)} exited with {completed.returncode}"
        )


async def ensure_server(
    url: str,
    healthy: Callable[[], Awaitable[bool]],
    command: Sequence[str],
    wait_seconds: float = START_WAIT_SECONDS,
) -> bool:
    """Make sure a server answers at `url`, starting a local one (`start_server`) when none does.

    :param healthy: asks `/healthz` once: True when the server answers, False when nothing does
        (it may raise when something else answers).
    :return: False when a server already answered, True when this call started it.
    :raise ServerUnavailable: nothing answers and `url` is remote, or the server does not start
        or does not answer within `wait_seconds`.
    """
    if await healthy():
        return False
    if not is_local_host(host_of(url)):
        raise ServerUnavailable(
            f"no image server answers at {url}; it is not on this machine, so start it there first"
        )
    await asyncio.to_thread(start_server, command, port_of(url))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if await healthy():
            return True
        await asyncio.sleep(START_POLL_SECONDS)
    raise ServerUnavailable(
        f"started the server, but nothing answered at {url} within {wait_seconds:.0f} s"
    )
