"""`python server.py`: parse flags, check configuration and state, then run granian.

Bad configuration stops start-up here with one readable line and exit status 2, before any
worker is forked (so no worker traceback ever stands in for a configuration error).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time

from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError
from imageserver.settings.table import SETTINGS
from imageserver.state.registry import Registry
from imageserver.state.store import StateStoreError

EXIT_CONFIG_ERROR = 2
# Each flag overrides one setting for one run; its help is the setting's own (settings/table.py).
FLAG_SETTINGS = {
    "host": "IMAGE_SERVER_HOST",
    "port": "IMAGE_SERVER_PORT",
    "workers": "IMAGE_SERVER_WORKERS",
    "threads": "IMAGE_SERVER_THREADS",
}


def build_parser(prog: str = "server.py") -> argparse.ArgumentParser:
    """Return the argument parser of `server.py` (`imageserver serve` names itself `prog`)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Serve local image folders over HTTP (granian)."
    )
    settings = {setting.env: setting for setting in SETTINGS}
    for flag, env in FLAG_SETTINGS.items():
        setting = settings[env]
        text = setting.help.rstrip(".")
        parser.add_argument(f"--{flag}", help=f"{text} ({env}, default {setting.default})")
    parser.add_argument(
        "--dev", action="store_true", help="run Flask's debug server instead (never in production)"
    )
    return parser


def load_config(args: argparse.Namespace) -> Config:
    """Build the Config from `.env`, the environment and the flags (flags win).

    :raise ConfigError: a value is invalid.
    """
    environ = dict(os.environ)
    flag_env = {env: getattr(args, flag) for flag, env in FLAG_SETTINGS.items()}
    environ.update({k: v for k, v in flag_env.items() if v is not None})
    return Config.from_env(environ)


def is_loopback_host(host: str) -> bool:
    """Tell whether binding `host` keeps the server reachable from this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: assume it is reachable


def exposure_warning(config: Config) -> str | None:
    """Return a one-line warning when anyone who reaches the port can load folders.

    That is the case when the server listens beyond loopback with no token: through a tunnel,
    a stranger could load folders (any folder, without allowed roots) and read their images.
    """
    if is_loopback_host(config.host) or config.tokens:
        return None
    roots = config.effective_allowed_roots
    reach = f"any folder under {':'.join(roots)}" if roots else "any folder of this machine"
    lock = "" if roots else " and IMAGE_SERVER_ALLOWED_ROOTS to confine loads"
    return (
        f"WARNING: listening on {config.host}:{config.port} with no IMAGE_SERVER_TOKEN: anyone "
        f"who reaches this port can load {reach} and read its images; set IMAGE_SERVER_TOKEN "
        f"to lock the API{lock}, or bind 127.0.0.1 (SECURITY.md)."
    )


def prepare_state(config: Config) -> None:
    """Create the state database and apply deadlines that passed while the server was down.

    :raise StateStoreError: the state directory cannot be written.
    """
    registry = Registry.open(config, time.time)
    registry.initialise(first=True)  # no worker yet: whatever is temporary is a crash's
    registry.store.close()


def main(argv: list[str], prog: str = "server.py") -> int:
    """Run the server in the foreground; return the exit status."""
    args = build_parser(prog).parse_args(argv)
    try:
        config = load_config(args)
        prepare_state(config)
    except (ConfigError, StateStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    warning = exposure_warning(config)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if args.dev:
        from imageserver.engines.app import create_app

        create_app(config).run(host=config.host, port=config.port, debug=True)
        return 0
    from imageserver.engines.granian_runner import run

    run(config)
    return 0
