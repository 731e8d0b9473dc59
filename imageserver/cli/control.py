"""`imageserver unload` and `imageserver status`: the shell scripts' jobs, over HTTP.

`unload` takes the flags and exit statuses of `unload_directory.sh` (docs/DEPLOY.md): it calls
`POST /unload`, or `DELETE /api/directories/<id>` with `--id`, and prints the JSON answer;
0 on a 2xx answer, 1 on an HTTP error or when the server cannot be reached, 2 on a usage or
configuration error.

`status` is `persistent_run.sh status` for a server that this command did not start (systemd
runs it, or `imageserver serve` in another terminal), so there is no PID file to read: it asks
`GET /healthz` instead. 0 while a server answers, 3 when none does
(docs/CLI.md#the-imageserver-command).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from enum import IntEnum
from http import HTTPStatus
from urllib.parse import quote

from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError

UNLOAD_TIMEOUT_SECONDS = 30  # as unload_directory.sh's curl --max-time
STATUS_TIMEOUT_SECONDS = 2  # as persistent_run.sh's health probe


class ExitStatus(IntEnum):
    """What the exit status of `unload` and `status` means."""

    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_RUNNING = 3


def _server_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def unload_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of `unload`: `[URL] [--server URL] [--token T] [--id ID]`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Unload the server's current directory (POST /unload), or the directory "
        "with --id (DELETE /api/directories/<ID>), and print the JSON answer.",
    )
    parser.add_argument("url", nargs="?", type=_server_url, help="the server (as --server)")
    parser.add_argument(
        "--server", type=_server_url, help="the server (default http://localhost:PORT)"
    )
    parser.add_argument("--token", help="bearer token (default IMAGE_SERVER_TOKEN)")
    parser.add_argument("--id", dest="dir_id", help="unload this directory id instead")
    return parser


def status_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of `status`: `[PORT] [HOST] [--server URL]`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Tell whether a server answers GET /healthz: exit 0 while one does, 3 "
        "when none does.",
    )
    parser.add_argument("port", nargs="?", type=int, help="port (default IMAGE_SERVER_PORT)")
    parser.add_argument("host", nargs="?", help="address it binds (default IMAGE_SERVER_HOST)")
    parser.add_argument("--server", type=_server_url, help="ask this URL instead")
    return parser


def probe_host(host: str) -> str:
    """Return the address a local client uses to reach a server bound to `host`."""
    if host in ("", "0.0.0.0", "::", "[::]", "*"):
        return "127.0.0.1"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def unload_request(args: argparse.Namespace, config: Config) -> urllib.request.Request:
    """Build the request `unload` sends (the token travels in a header, never the URL).

    :raise ConfigError: `--id` is empty.
    """
    server = args.server or args.url or f"http://localhost:{config.port}"
    token = args.token if args.token is not None else (config.tokens[0] if config.tokens else "")
    if args.dir_id is None:
        method, url = "POST", f"{server}/unload"
    elif not args.dir_id:
        raise ConfigError("--id needs a non-empty value")
    else:
        method, url = "DELETE", f"{server}/api/directories/{quote(args.dir_id, safe='')}"
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    return request


def unload(argv: Sequence[str], prog: str = "imageserver unload") -> int:
    """Run `unload`; print the server's answer and return the exit status."""
    try:
        args = unload_parser(prog).parse_args(argv)
        request = unload_request(args, Config.from_env())
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    try:
        with urllib.request.urlopen(request, timeout=UNLOAD_TIMEOUT_SECONDS) as response:
            print(response.read().decode("utf-8", "replace").rstrip("\n"))
            return ExitStatus.OK
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace").rstrip("\n"))
        message = f"{request.method} {request.full_url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        message = f"could not reach the image server at {request.full_url}: {exc}"
    print(f"error: {message}", file=sys.stderr)
    return ExitStatus.FAILED


def health_url(args: argparse.Namespace, config: Config) -> str:
    """Return the `/healthz` URL `status` asks."""
    if args.server:
        return f"{args.server}/healthz"
    port = args.port if args.port is not None else config.port
    host = args.host if args.host is not None else config.host
    return f"http://{probe_host(host)}:{port}/healthz"


def is_healthy(url: str) -> bool | None:
    """Ask `url`: True when it answers 200 `{"status": "ok"}`, None on a timeout, else False."""
    # No proxy: the question is about this machine (or the named server), not a proxy's view.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=STATUS_TIMEOUT_SECONDS) as response:
            body = json.loads(response.read() or b"null")
            return response.status == HTTPStatus.OK and body == {"status": "ok"}
    except TimeoutError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None if isinstance(getattr(exc, "reason", None), TimeoutError) else False


def status(argv: Sequence[str], prog: str = "imageserver status") -> int:
    """Run `status`; print one line and return 0 (running) or 3 (not running)."""
    try:
        args = status_parser(prog).parse_args(argv)
        url = health_url(args, Config.from_env())
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    server = url.removesuffix("/healthz")
    healthy = is_healthy(url)
    if healthy is False:
        print(f"not running at {server}")
        return ExitStatus.NOT_RUNNING
    print(f"running at {server}")
    if healthy is None:
        # As persistent_run.sh: a port that holds the connection open is a running process.
        print(f"warning: {url} does not answer (starting up, or hung)", file=sys.stderr)
    return ExitStatus.OK
