"""Which `Host` a request may name: the defence against DNS rebinding (SECURITY.md).

A page on `http://attacker.example:7779` whose name the attacker re-points at 127.0.0.1 is,
to the browser, same-origin with this server: it could read `GET /` and drive the API. The
browser still sends `Host: attacker.example:7779`, so answering only for known host names
closes that door, as Django's `ALLOWED_HOSTS` and Vite's `server.allowedHosts` do.

IP literals are always fine in the defaults: a rebinding attack needs a DNS name. Nothing here
imports Flask.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

# n8n in Docker reaches the host's server by this name.
DOCKER_HOST = "host.docker.internal"
ALLOWED_HOSTS_SETTING = "IMAGE_SERVER_ALLOWED_HOSTS"


def host_name(host_header: str | None) -> str | None:
    """Return the lowercase host name of a `Host` header, without port or brackets.

    None for a missing or malformed header (which is then never allowed).
    """
    if not host_header:
        return None
    try:
        name = urlsplit(f"//{host_header.strip()}").hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def is_ip_literal(name: str) -> bool:
    """Tell whether a host name is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def default_patterns(public_url: str | None, machine_name: str | None = None) -> tuple[str, ...]:
    """Return the hosts allowed when `IMAGE_SERVER_ALLOWED_HOSTS` is unset (IP literals too).

    localhost and its subdomains, `host.docker.internal`, this machine's host name, and the
    host of `IMAGE_SERVER_PUBLIC_URL` (the ngrok address `setup_ngrok.sh` records).
    """
    machine = (machine_name if machine_name is not None else socket.gethostname()).lower()
    patterns = ["localhost", ".localhost", DOCKER_HOST]
    if machine:
        patterns.append(machine)
    public_host = urlsplit(public_url).hostname if public_url else None
    if public_host:
        patterns.append(public_host.lower())
    return tuple(patterns)


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Tell whether a host name matches one of the patterns (`*`, `.domain`, exact)."""
    for pattern in patterns:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith(".") and (name == pattern[1:] or name.endswith(pattern)):
            return True
    return False


def host_allowed(
    host_header: str | None, configured: tuple[str, ...], defaults: tuple[str, ...]
) -> bool:
    """Tell whether a request's `Host` may be answered.

    :param configured: `IMAGE_SERVER_ALLOWED_HOSTS`; when set it replaces the defaults.
    :param defaults: `default_patterns(...)`, which also admit every IP literal.
    """
    name = host_name(host_header)
    if name is None:
        return False
    if configured:
        return matches(name, configured)
    return is_ip_literal(name) or matches(name, defaults)


def host_refusal(host_header: str | None) -> str:
    """The `detail` of a refused host: what was refused and which setting admits it."""
    shown = host_name(host_header) or (host_header or "(none)")
    return (
        f"Host not allowed: {shown}. Add it to {ALLOWED_HOSTS_SETTING} (comma-separated) "
        "to serve requests for it"
    )
