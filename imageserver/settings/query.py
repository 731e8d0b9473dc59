"""Print configuration values for the shell scripts.

`python -m imageserver.settings.query FIELD...` prints each FIELD's value on its own line, read
through `Config.from_env()` (the environment, then `.env`), so the scripts and the server agree
on every setting. A bad setting prints `error: <message>` on stderr and exits 2; an unknown
field is a usage error (usage line and `error: ...` on stderr, exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imageserver.settings.config import Config

EXIT_ERROR = 2
FIELDS: dict[str, Callable[[Config], str]] = {
    "host": lambda config: config.host,
    "port": lambda config: str(config.port),
    "public_url": lambda config: config.public_url or "",
    "timeout": lambda config: str(config.default_timeout_minutes),
    "token": lambda config: config.tokens[0] if config.tokens else "",
}
USAGE = f"usage: python -m imageserver.settings.query FIELD...  (FIELD: {', '.join(FIELDS)})"


class QueryError(Exception):
    """The values cannot be printed (the message is one line)."""


class UsageError(QueryError):
    """The command line names no field, or a field that does not exist."""


def check_fields(fields: Sequence[str]) -> None:
    """Accept a non-empty list of known field names.

    :raise UsageError: no field, or an unknown one.
    """
    if not fields:
        raise UsageError("no FIELD given")
    for field in fields:
        if field not in FIELDS:
            raise UsageError(f"unknown field {field!r}")


def read_config() -> Config:
    """Return `Config.from_env()`.

    :raise QueryError: the config module cannot be imported, or a setting is invalid.
    """
    try:
        import imageserver.settings.config as config_module
    except ImportError as exc:
        message = f"cannot read the configuration ({exc}); run make install first"
        raise QueryError(message) from None
    try:
        return config_module.Config.from_env()
    except config_module.ConfigError as exc:
        raise QueryError(str(exc)) from None


def query(fields: Sequence[str]) -> list[str]:
    """Return the value of each field, in order.

    :raise QueryError: a field is unknown, or the configuration cannot be read.
    """
    check_fields(fields)
    config = read_config()
    return [FIELDS[field](config) for field in fields]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the values of the fields in `argv` (default: the command line); return the status."""
    fields = list(sys.argv[1:] if argv is None else argv)
    if fields in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    try:
        values = query(fields)
    except QueryError as exc:
        if isinstance(exc, UsageError):
            print(USAGE, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for value in values:
        print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
