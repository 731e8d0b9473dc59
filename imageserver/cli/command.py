"""The `imageserver` console command (issue 17): one entry point, a subcommand per script.

Each subcommand hands its arguments, untouched, to the code the top-level scripts run, so the
flags and exit statuses are theirs:

    imageserver serve ...     python server.py ...                  (imageserver.cli.serve)
    imageserver load ...      python load_folder_v2.py ...          (imageserver.cli.load)
    imageserver publish S3 .. python load_folder_v2.py --publish S3 ..
    imageserver unload ...    ./unload_directory.sh ...             (imageserver.cli.control)
    imageserver status ...    ./persistent_run.sh status ...        (over GET /healthz)
    imageserver mcp ...       the MCP server over stdio              (imageserver.mcp.stdio)
    imageserver upload ...    PUT /api/uploads for each file        (imageserver.cli.upload)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from collections.abc import Sequence

from imageserver.settings.version import package_version

PROG = "imageserver"
EXIT_USAGE = 2
USAGE = f"""usage: {PROG} [--version] COMMAND [ARGS...]

Serve local image folders over HTTP with stable URLs (docs/API.md).

commands:
  serve      run the server in the foreground (the flags of server.py)
  load       load a folder and write its URLs as JSON (the flags of load_folder_v2.py)
  publish    publish a folder to S3 storage: publish s3://BUCKET/PREFIX --dir D [...]
             (the same as load --publish s3://BUCKET/PREFIX)
  unload     unload the current directory, or one with --id (unload_directory.sh)
  status     exit 0 while a server answers /healthz, 3 when none does
  mcp        serve the MCP tools over stdio: mcp --server URL [--token T] [--no-start]
  upload     upload image files to the server's inbox and print their stable URLs

'{PROG} COMMAND --help' shows the flags of each command."""


def _serve(argv: Sequence[str]) -> int:
    from imageserver.cli.serve import main

    return main(list(argv), prog=f"{PROG} serve")


def _load(argv: Sequence[str]) -> int:
    from imageserver.cli.load import main

    return main(list(argv), prog=f"{PROG} load")


def publish_argv(argv: Sequence[str]) -> list[str] | None:
    """Turn `publish TARGET [flags]` into the loader's `--publish TARGET [flags]`.

    `--publish TARGET` among the flags is accepted as well; with neither there is nothing to
    publish to, and the answer is None (a usage error).
    """
    if argv and not argv[0].startswith("-"):
        return ["--publish", argv[0], *argv[1:]]
    if any(arg == "--publish" or arg.startswith("--publish=") for arg in argv):
        return list(argv)
    if any(arg in ("-h", "--help") for arg in argv):
        return ["--publish", "s3://bucket/prefix", "--help"]
    return None


def _publish(argv: Sequence[str]) -> int:
    from imageserver.cli.load import main

    loader_argv = publish_argv(argv)
    if loader_argv is None:
        print(f"usage: {PROG} publish s3://BUCKET/PREFIX --dir DIR [options]", file=sys.stderr)
        print(f"{PROG} publish: error: the target s3://BUCKET/PREFIX is missing", file=sys.stderr)
        return EXIT_USAGE
    return main(loader_argv, prog=f"{PROG} publish")


def _unload(argv: Sequence[str]) -> int:
    from imageserver.cli.control import unload

    return unload(argv, prog=f"{PROG} unload")


def _status(argv: Sequence[str]) -> int:
    from imageserver.cli.control import status

    return status(argv, prog=f"{PROG} status")


def _mcp(argv: Sequence[str]) -> int:
    from imageserver.mcp.stdio import main

    return main(list(argv), prog=f"{PROG} mcp")


def _upload(argv: Sequence[str]) -> int:
    from imageserver.cli.upload import upload

    return upload(argv, prog=f"{PROG} upload")


# Imports wait for the subcommand: `--version` and `status` need no Flask, granian or boto3.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "serve": _serve,
    "load": _load,
    "publish": _publish,
    "unload": _unload,
    "status": _status,
    "mcp": _mcp,
    "upload": _upload,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run `imageserver ARGS`; return the exit status (2 on a usage error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else EXIT_USAGE
    if args[0] in ("-V", "--version"):
        print(f"{PROG} {package_version()}")
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(USAGE, file=sys.stderr)
        print(f"{PROG}: error: unknown command {args[0]!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return command(args[1:])
    except KeyboardInterrupt:
        return 130  # the shell's 128 + SIGINT


if __name__ == "__main__":
    sys.exit(main())
