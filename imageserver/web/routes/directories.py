"""The directories API: every loaded directory, one by id, unload by id, paged listings.

docs/API.md#several-directories.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from imageserver.state.registry import Directory
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.routes import payloads
from imageserver.web.routes.auth import require_token
from imageserver.web.routes.variants import variant_query_params
from imageserver.web.schemas import PageQuery
from imageserver.web.schemas import parse_query
from imageserver.web.urls import image_url
from imageserver.web.urls import public_base_url

bp = Blueprint("directories", __name__, url_prefix="/api/directories")
bp.before_request(require_token)


def _loaded(dir_id: str) -> Directory:
    directory = services().directory_or_404(dir_id)
    return directory


@bp.get("")
def list_directories() -> Response:
    """List every loaded directory and say which one is current."""
    svc = services()
    now = svc.clock()
    directories = svc.registry.all()
    return jsonify(
        {
            "directories": [payloads.directory_summary(svc.config, d, now) for d in directories],
            "current": svc.registry.current_id(),
        }
    )


@bp.get("/<dir_id>")
def get_directory(dir_id: str) -> Response:
    """Describe one loaded directory. :raise 404: unknown id."""
    svc = services()
    return jsonify(payloads.directory_summary(svc.config, _loaded(dir_id), svc.clock()))


@bp.delete("/<dir_id>")
def delete_directory(dir_id: str) -> Response:
    """Unload one directory; if it was current, nothing is current afterwards."""
    if not services().registry.unload(dir_id):
        raise ApiError(HTTPStatus.NOT_FOUND, f"Directory not found: {dir_id}")
    return jsonify({"status": "success", "message": "Directory unloaded successfully"})


@bp.get("/<dir_id>/images")
def list_images(dir_id: str) -> Response:
    """Return one page of a directory's images, sorted by name, with absolute URLs."""
    svc = services()
    directory = _loaded(dir_id)
    page = parse_query(PageQuery, request.args.to_dict())
    # `?preset=claude` (any transform parameter): list variant URLs, signed with them.
    variant = variant_query_params(request.args)
    now = svc.clock()
    entries = svc.registry.image_page(directory.id, page.offset, page.limit)
    images = [
        {
            "name": entry.name,
            "url": image_url(svc.config, directory.id, entry.name, now, params=variant),
            "size": entry.size,
            "mtime": entry.mtime_ns / 1e9,
        }
        for entry in entries
    ]
    next_offset = page.offset + len(entries)
    next_url = None
    if entries and next_offset < directory.image_count:
        query = urlencode({"offset": next_offset, "limit": page.limit, **variant})
        next_url = f"{public_base_url(svc.config)}{request.path}?{query}"
    return jsonify(
        {
            "id": directory.id,
            "total": directory.image_count,
            "offset": page.offset,
            "limit": page.limit,
            "images": images,
            "next": next_url,
        }
    )
