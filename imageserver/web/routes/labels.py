"""Tell the ASGI layer which route template answered, for metrics and the access log.

Flask knows the matched rule; the layer that observes the request
(`observability/observer.py`, fed by `engines/asgi.py`) does not.
The rule is written into the ASGI scope, which a2wsgi hands to Flask as `asgi.scope`.
"""

from __future__ import annotations

import re

from flask import Flask
from flask import Response
from flask import request

ROUTE_KEY = "imageserver.route"
DIR_ID_KEY = "imageserver.dir_id"
_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")  # <name> or <converter:name>
# Flask's argument names that docs/API.md spells differently (`/d/{id}/{name}`).
_ARGUMENT_NAMES = {"dir_id": "id"}


def route_template(rule: str) -> str:
    """Turn a Flask rule (`/d/<dir_id>/<anypath:name>`) into its template (`/d/{id}/{name}`)."""
    return _ARGUMENT.sub(lambda m: "{" + _ARGUMENT_NAMES.get(m[1], m[1]) + "}", rule)


def init_app(app: Flask) -> None:
    """Record the matched route template (and directory id) of every answer."""
    app.after_request(_note_route)


def _note_route(response: Response) -> Response:
    scope = request.environ.get("asgi.scope")
    if scope is not None and request.url_rule is not None:
        scope[ROUTE_KEY] = route_template(request.url_rule.rule)
        dir_id = (request.view_args or {}).get("dir_id")
        if dir_id is not None:
            scope[DIR_ID_KEY] = dir_id
    return response
