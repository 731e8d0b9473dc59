"""Absolute URLs the server hands out: stable `/d/<id>/` prefixes and per-image URLs."""

from __future__ import annotations

from urllib.parse import quote
from urllib.parse import urlencode

from flask import request

from imageserver.config import Config
from imageserver.security import url_signature


def public_base_url(config: Config) -> str:
    """Return the base of absolute URLs: `IMAGE_SERVER_PUBLIC_URL`, else this request's host.

    The request's scheme and host already account for trusted proxies (ProxyFix runs first
    when `IMAGE_SERVER_TRUSTED_PROXIES` allows it).
    """
    return config.public_url or request.host_url.rstrip("/")


def directory_path(dir_id: str) -> str:
    """Return the path prefix of a directory's stable URLs, ending with `/`."""
    return f"/d/{quote(dir_id, safe='')}/"


def url_prefix(config: Config, dir_id: str) -> str:
    """Return the absolute stable URL prefix of a directory (unsigned, ends with `/`)."""
    return public_base_url(config) + directory_path(dir_id)


def image_url(config: Config, dir_id: str, name: str, now: float) -> str:
    """Return the absolute, percent-encoded URL of one image, signed when signing is on."""
    url = url_prefix(config, dir_id) + quote(name, safe="/")
    if not config.signing_key:
        return url
    expires = int(now + config.url_ttl_seconds)
    signature = url_signature(config.signing_key, f"/d/{dir_id}/{name}", expires)
    return f"{url}?{urlencode({'exp': expires, 'sig': signature})}"
