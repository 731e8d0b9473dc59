"""Routes that never need a token: the health check and robots.txt."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify

bp = Blueprint("public", __name__)

# Some model providers refuse to fetch URLs that robots.txt disallows.
ROBOTS_TXT = "User-agent: *\nAllow: /\n"


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 while the server runs (no auth, no state access)."""
    return jsonify({"status": "ok"})


@bp.get("/robots.txt")
def robots() -> Response:
    """Allow every crawler everywhere."""
    return Response(ROBOTS_TXT, mimetype="text/plain")
