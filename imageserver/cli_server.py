"""`python server.py`: parse flags, check configuration and state, then run gunicorn.

Bad configuration stops start-up here with one readable line and exit status 2, before any
worker is forked (so no worker traceback ever stands in for a configuration error).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from imageserver.config import Config
from imageserver.config import ConfigError
from imageserver.registry import Registry
from imageserver.store import StateStoreError
from imageserver.store import Store

EXIT_CONFIG_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `server.py`."""
    parser = argparse.ArgumentParser(
        prog="server.py", description="Serve local image folders over HTTP (gunicorn)."
    )
    parser.add_argument("--host", help="address to bind (IMAGE_SERVER_HOST)")
    parser.add_argument("--port", help="port to bind (IMAGE_SERVER_PORT)")
    parser.add_argument("--workers", help="worker processes (IMAGE_SERVER_WORKERS)")
    parser.add_argument("--threads", help="threads per worker (IMAGE_SERVER_THREADS)")
    parser.add_argument(
        "--dev", action="store_true", help="run Flask's debug server instead (never in production)"
    )
    return parser


def load_config(args: argparse.Namespace) -> Config:
    """Build the Config from `.env`, the environment and the flags (flags win).

    :raise ConfigError: a value is invalid.
    """
    environ = dict(os.environ)
    flag_env = {
        "IMAGE_SERVER_HOST": args.host,
        "IMAGE_SERVER_PORT": args.port,
        "IMAGE_SERVER_WORKERS": args.workers,
        "IMAGE_SERVER_THREADS": args.threads,
    }
    environ.update({k: v for k, v in flag_env.items() if v is not None})
    return Config.from_env(environ)


def prepare_state(config: Config) -> None:
    """Create the state database and apply deadlines that passed while the server was down.

    :raise StateStoreError: the state directory cannot be written.
    """
    registry = Registry(Store(config.database_path), time.time, config.default_timeout_minutes)
    registry.initialise()
    registry.store.close()


def main(argv: list[str]) -> int:
    """Run the server in the foreground; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args)
        prepare_state(config)
    except (ConfigError, StateStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.dev:
        from imageserver.app import create_app

        create_app(config).run(host=config.host, port=config.port, debug=True)
        return 0
    from imageserver.serve import run

    run(config)
    return 0
