"""`GET /openapi.json`: the API's OpenAPI 3.1 document.

Open without a token: the document describes the API, never the server's state.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify

from imageserver.web.context import services
from imageserver.web.openapi.document import document_for
from imageserver.web.urls import public_base_url

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """Return the OpenAPI document, its `servers` naming this request's base URL."""
    config = services().config
    return jsonify(document_for(current_app, config, public_base_url(config)))
