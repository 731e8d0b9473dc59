"""`imageserver mcp`: the MCP server over stdio, for a running image server reached over HTTP.

An agent host (Claude Desktop, an IDE, the MCP Inspector) starts this process and speaks
MCP on its stdin/stdout; every tool call is an HTTP request to `--server`. Nothing but
MCP may go to stdout, so messages for people go to stderr.

Before serving, `/healthz` is asked; when nothing answers and `--server` is on this machine,
the server is started the way the loader starts it (`imageserver.loader.launcher`); a remote
server that does not answer ends the process with one line and status 1. `--no-start` skips
both. A started server keeps running after this process ends, as the loader's does.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from imageserver.settings.config import Config

TOKEN_ENV = "IMAGE_SERVER_TOKEN"
SERVER_ENV = "IMAGE_SERVER_URL"


def default_server(config: Config) -> str:
    """`IMAGE_SERVER_URL`, else this machine's server on `IMAGE_SERVER_PORT`."""
    return config.server_url or f"http://localhost:{config.port}"


def parse_args(argv: Sequence[str], prog: str, config: Config) -> argparse.Namespace:
    """Read `--server`, `--token` (defaults from the settings) and `--no-start`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the image server's tools over MCP (stdio) for a running server.",
    )
    parser.add_argument(
        "--server",
        default=default_server(config),
        help=f"base URL of the image server (default {SERVER_ENV} from the environment or "
        ".env, else http://localhost:IMAGE_SERVER_PORT)",
    )
    parser.add_argument(
        "--token",
        # The first of the server's tokens: the same .env serves both ends on one machine.
        default=config.tokens[0] if config.tokens else None,
        help=f"bearer token of the control API (default {TOKEN_ENV} from the environment or "
        ".env; either keeps it out of the process list)",
    )
    parser.add_argument(
        "--no-start",
        action="store_true",
        help="neither check --server nor start a server on this machine when none answers "
        "(the tools report an unreachable server until one answers)",
    )
    # For tests: what runs (with `start <port>` appended) when no local server answers.
    parser.add_argument("--start-command", type=shlex.split, help=argparse.SUPPRESS)
    return parser.parse_args(list(argv))


async def ensure_server(server_url: str, start_command: Sequence[str] | None) -> bool:
    """Check `/healthz` of `server_url`; start a local server when none answers.

    :return: True when this call started the server.
    :raise ServerUnavailable: nothing answers and it is remote, or it does not start.
    :raise ApiError: something answers, but not like the image server.
    """
    from imageserver.loader import launcher

    from .client import ImageServerApi

    command = tuple(start_command or launcher.DEFAULT_START_COMMAND)
    return await launcher.ensure_server(server_url, ImageServerApi(server_url).healthy, command)


async def serve_stdio(server_url: str, token: str | None) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin."""
    # Imported here: `imageserver --help` and the other subcommands never load the SDK.
    from mcp.server.stdio import stdio_server

    from .client import ImageServerApi
    from .server import build_server

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    api = ImageServerApi(server_url, headers)
    server = build_server(lambda ctx: api)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: Sequence[str] | None = None, prog: str = "imageserver mcp") -> int:
    """Run the stdio server; return the exit status."""
    from imageserver.settings.parsers import ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    args = parse_args(sys.argv[1:] if argv is None else argv, prog, config)
    import anyio

    from imageserver.loader.errors import ServerUnavailable

    from .client import ApiError

    try:
        if not args.no_start and anyio.run(ensure_server, args.server, args.start_command):
            print(f"{prog}: started the image server at {args.server}", file=sys.stderr)
    except (ServerUnavailable, ApiError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        anyio.run(serve_stdio, args.server, args.token)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
