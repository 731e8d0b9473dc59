"""CORS for the control API: only the origins listed in `IMAGE_SERVER_CORS_ORIGINS`.

Images are readable from any origin (the images blueprint says `*`); the control API is not.
A browser page may drive it only when its exact origin is configured, and then the answer
names that origin (never `*`) with `Vary: Origin`, so caches keep answers per origin apart.
Preflights (`OPTIONS`) carry no token and are answered without one.
"""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import request

from imageserver.web.context import services

# Blueprints whose CORS policy is their own (images allow any origin).
OWN_POLICY_BLUEPRINTS = frozenset({"images"})
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"


def add_control_cors(response: Response) -> Response:
    """`after_request` hook: allow a configured origin to read a control-API answer."""
    if request.blueprint in OWN_POLICY_BLUEPRINTS:
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin or origin.rstrip("/") not in services().config.cors_origins:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response.headers["Access-Control-Allow-Methods"] = response.headers.get("Allow", "")
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def init_app(app: Flask) -> None:
    """Install the control-API CORS hook on `app`."""
    app.after_request(add_control_cors)
