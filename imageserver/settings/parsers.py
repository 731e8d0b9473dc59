"""How each setting's text becomes a value: small parsers that fail with one readable line.

`config.py` declares every setting with one of these; nothing here reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable

from imageserver.settings.publish_target import Target
from imageserver.settings.publish_target import TargetError
from imageserver.settings.publish_target import parse_targets

Parser = Callable[[str, str], object]


class ConfigError(ValueError):
    """A setting has a value the server cannot start with (the message is one line)."""


def int_in(low: int, high: int | None = None) -> Callable[[str, str], int]:
    """An integer from `low` to `high` (inclusive; no upper bound when None)."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise ConfigError(f"{name} must be {bound}, got {value}")
        return value

    return parse


def seconds(low: float) -> Callable[[str, str], float]:
    """A finite number of seconds, at least `low`."""

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
        if not value >= low or value == float("inf"):
            raise ConfigError(f"{name} must be a number >= {low}, got {raw.strip()}")
        return value

    return parse


def megabytes(name: str, raw: str) -> float:
    """A finite size in MB, 0 or more; fractions allowed (`0.5` = 512 KiB)."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of MB, got {raw!r}") from None
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{name} must be a number >= 0, got {raw.strip()}")
    return value


def choice(*allowed: str, default: str | None = None) -> Callable[[str, str], str]:
    """One of `allowed` (case-insensitive); empty means `default` when there is one."""
    if len(allowed) == 2:
        listed = f"'{allowed[0]}' or '{allowed[1]}'"
    else:
        listed = "one of " + ", ".join(allowed)

    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower() or (default or "")
        if value not in allowed:
            raise ConfigError(f"{name} must be {listed}, got {raw!r}")
        return value

    return parse


def text(name: str, raw: str) -> str:
    """The text, stripped."""
    return raw.strip()


def optional_text(name: str, raw: str) -> str | None:
    """The text, stripped; None when empty."""
    return raw.strip() or None


def optional_dir(name: str, raw: str) -> str | None:
    """An absolute folder path (`~` expanded); None when empty."""
    raw = raw.strip()
    return os.path.abspath(os.path.expanduser(raw)) if raw else None


def path_list(name: str, raw: str) -> tuple[str, ...]:
    """Real paths separated by `:` (`os.pathsep`)."""
    parts = [p.strip() for p in raw.split(os.pathsep) if p.strip()]
    return tuple(os.path.realpath(os.path.expanduser(p)) for p in parts)


def public_url(name: str, raw: str) -> str | None:
    """An http(s) base URL without its trailing `/`; None when empty."""
    raw = raw.strip().rstrip("/")
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {raw!r}")
    return raw


def tokens(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated tokens: several let a deployment rotate without downtime."""
    return tuple(t.strip() for t in raw.split(",") if t.strip())


def origins(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated web origins, never `*`."""
    listed = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in listed:
        if origin == "*":
            # A wildcard would let any web page drive the control API with a stolen token.
            raise ConfigError(f"{name} must list origins explicitly; '*' is not allowed")
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise ConfigError(f"{name} entries must look like https://host[:port], got {origin!r}")
    return listed


def host_patterns(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated host names for `IMAGE_SERVER_ALLOWED_HOSTS`; empty means the defaults.

    An entry is `*` (any host), `.example.com` or `*.example.com` (the domain and its
    subdomains), an exact name, or an IP literal (`[::1]` or `::1`). Ports are no part of it.
    """
    listed = []
    for entry in (e.strip().lower() for e in raw.split(",")):
        if not entry:
            continue
        if entry.startswith("*."):
            entry = entry[1:]  # `*.example.com` means what `.example.com` means
        if entry != "*":
            entry = entry.strip("[]").rstrip(".")
        if "/" in entry or (":" in entry and not _is_ip(entry)):
            raise ConfigError(
                f"{name} entries are host names without scheme or port, got {entry!r}"
            )
        listed.append(entry)
    return tuple(listed)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def publish_targets(name: str, raw: str) -> tuple[Target, ...]:
    """Comma-separated `s3://bucket/prefix` targets."""
    try:
        return parse_targets(raw)
    except TargetError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def flag(name: str, raw: str) -> bool:
    """true/false, yes/no, on/off, 1/0; empty is false."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
