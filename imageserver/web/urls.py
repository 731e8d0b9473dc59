"""Absolute URLs the server hands out: stable `/d/<id>/` prefixes and per-image URLs."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote
from urllib.parse import urlencode

from flask import request

from imageserver.security.signing import sign_params
from imageserver.settings.config import Config


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


def image_url(
    config: Config, dir_id: str, name: str, now: float, params: Mapping[str, str] | None = None
) -> str:
    """Return the absolute, percent-encoded URL of one image, signed when signing is on.

    `params` are extra query parameters (a variant's `w`, `format`, `preset`...); with a
    signing key they are covered by the signature along with the path and the expiry.
    """
    url = url_prefix(config, dir_id) + quote(name, safe="/")
    query = dict(params or {})
    if config.signing_key:
        expires = int(now + config.url_ttl_seconds)
        query = sign_params(config.signing_key, f"/d/{dir_id}/{name}", query, expires)
    return f"{url}?{urlencode(query)}" if query else url
