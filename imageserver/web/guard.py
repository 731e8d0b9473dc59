"""The browser guard: every request Flask sees passes the Host and cross-site checks first.

Registered before any other hook, so a refused request changes nothing and reveals nothing:
neither the token check, nor the body limit, nor a view runs (SECURITY.md). Images and the
liveness probes are exempt from the Host check: an image URL is public by design once loaded
(a token or signatures lock it), and `/healthz`, `/readyz` and `/robots.txt` say nothing.
Image routes take no writes, so the cross-site rule never concerns them.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask
from flask import request

from imageserver.security.hosts import host_allowed
from imageserver.security.hosts import host_refusal
from imageserver.security.origin import cross_site_refusal
from imageserver.security.origin import own_origins
from imageserver.web.context import services
from imageserver.web.errors import ApiError

# Blueprints whose answers are public whatever the Host (see the module docstring).
HOST_EXEMPT_BLUEPRINTS = frozenset({"images", "public"})
HOST_EXEMPT_ENDPOINTS = frozenset({"service.readyz"})


def check_request() -> None:
    """`before_request` hook: refuse a foreign Host, then a write from a foreign origin.

    :raise ApiError 403: the Host is not allowed, or a browser page of another origin asks
        for a state-changing method.
    """
    svc = services()
    config = svc.config
    host = _addressed_host()
    if _host_checked() and not host_allowed(host, config.allowed_hosts, svc.default_hosts):
        raise ApiError(HTTPStatus.FORBIDDEN, host_refusal(host))
    refusal = cross_site_refusal(
        request.method,
        request.headers.get("Origin"),
        request.headers.get("Sec-Fetch-Site"),
        config.cors_origins,
        own_origins(request.scheme, host, config.public_url),
    )
    if refusal is not None:
        raise ApiError(HTTPStatus.FORBIDDEN, refusal)


def _addressed_host() -> str | None:
    """The Host this server was addressed by, before a trusted proxy's `X-Forwarded-Host`.

    A trusted proxy (`IMAGE_SERVER_TRUSTED_PROXIES`) names the public host in its forwarded
    headers, which decide the URLs handed out; the rebinding check is about the name the
    connection itself carried, so it reads the header as it arrived.
    """
    original = request.environ.get("werkzeug.proxy_fix.orig")
    if original and original.get("HTTP_HOST"):
        return original["HTTP_HOST"]
    return request.headers.get("Host")


def _host_checked() -> bool:
    exempt = (
        request.blueprint in HOST_EXEMPT_BLUEPRINTS or request.endpoint in HOST_EXEMPT_ENDPOINTS
    )
    return not exempt


def init_app(app: Flask) -> None:
    """Install the guard as the app's first `before_request` hook."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
