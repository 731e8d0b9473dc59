"""What every command-line entry shares: the exit statuses and the URL check of its flags."""

from __future__ import annotations

import argparse
from enum import IntEnum
from urllib.parse import urlsplit


class ExitStatus(IntEnum):
    """What the exit status of a run means, for loading and publishing alike (docs/CLI.md)."""

    OK = 0
    # The server, the load or the storage target failed, or refused us.
    SERVER_OR_LOAD_FAILED = 1
    USAGE = 2
    # Some URLs failed their check, or some objects failed to upload after retries.
    CHECKS_FAILED = 3
    INTERRUPTED = 130  # the shell's 128 + SIGINT, as HTTPie does for Ctrl-C


def http_url(raw: str) -> str:
    """Check an `http(s)://host[:port]` flag and return it without a trailing `/`.

    :raise argparse.ArgumentTypeError: not http(s), no host, or a bad port (a usage error).
    """
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"must be an http(s) URL such as http://host:7779, got {raw!r}"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise argparse.ArgumentTypeError(f"has an invalid port: {raw!r}") from None
    return raw.strip().rstrip("/")
