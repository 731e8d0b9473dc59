"""The JSON calls of the gallery page that the API has no route for.

- `GET /gallery/<id>/search?q=&offset=&limit=`: a page of the images whose name contains
  `q` (case-insensitive), each with its stable URL and its thumbnail URL (signed when signing
  is on). Unfiltered, the page reads the listing API itself.
- `GET /gallery/<id>/links?name=&preset=`: the stable URL and one preset's URL of an image.
- `POST /gallery/<id>/rearm`: load the directory again with its own timeout (re-index and
  re-arm its deadline; it becomes current, as any load does, docs/API.md#post-load-directory).

Same access rule as the control API, except that the gallery's session cookie is the only
credential here (with the CSRF header for the POST). Errors are the API's `{"detail": ...}`.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from imageserver.state.registry import Directory
from imageserver.variants.presets import PRESET_NAMES
from imageserver.web import session
from imageserver.web import video_loading
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.loading import load_folder
from imageserver.web.routes import payloads
from imageserver.web.schemas import PageQuery
from imageserver.web.schemas import parse_query
from imageserver.web.urls import image_url

bp = Blueprint("api", __name__)

THUMB = {"preset": "thumb"}


@bp.before_request
def _require_session() -> None:
    tokens = services().config.tokens
    if tokens and not session.signed_in(request, tokens):
        raise ApiError(HTTPStatus.UNAUTHORIZED, "Not authenticated")


def _loaded(dir_id: str) -> Directory:
    directory = services().directory_or_404(dir_id)
    return directory


@bp.get("/<dir_id>/search")
def search(dir_id: str) -> Response:
    """Return one page of the images whose name contains `q`, sorted by name.

    :raise 404: unknown directory. :raise 422: bad `offset`/`limit` (as the listing API).
    """
    svc = services()
    directory = _loaded(dir_id)
    args = request.args.to_dict()
    needle = args.pop("q", "").strip().casefold()
    page = parse_query(PageQuery, args)
    # The index is already sorted; a substring scan of 100,000 names takes a few ms.
    names = svc.registry.image_names(directory.id)
    matches = [name for name in names if needle in name.casefold()] if needle else names
    now = svc.clock()
    chosen = matches[page.offset : page.offset + page.limit]
    return jsonify(
        {
            "id": directory.id,
            "total": len(matches),
            "offset": page.offset,
            "limit": page.limit,
            "images": [
                {
                    "name": name,
                    "url": image_url(svc.config, directory.id, name, now),
                    "thumb": image_url(svc.config, directory.id, name, now, params=THUMB),
                }
                for name in chosen
            ],
        }
    )


@bp.get("/<dir_id>/links")
def links(dir_id: str) -> Response:
    """Return an image's stable URL and the URL of one preset of it (signed when signing is on).

    :raise 404: unknown directory or image. :raise 422: unknown preset.
    """
    svc = services()
    directory = _loaded(dir_id)
    name = request.args.get("name", "")
    preset = request.args.get("preset", "claude")
    if preset not in PRESET_NAMES:
        error = {"type": "enum", "loc": ["query", "preset"], "msg": "Unknown preset"}
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, [{**error, "input": preset}])
    if svc.registry.find_image(directory.id, name) is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"Image not found: {name}")
    now = svc.clock()
    return jsonify(
        {
            "name": name,
            "url": image_url(svc.config, directory.id, name, now),
            "preset": preset,
            "preset_url": image_url(svc.config, directory.id, name, now, {"preset": preset}),
        }
    )


@bp.post("/<dir_id>/rearm")
def rearm(dir_id: str) -> Response:
    """Load a directory again with its own timeout: re-index it and restart its deadline.

    :raise 404: unknown directory, or its folder is gone. :raise 403: outside the roots now.
    """
    svc = services()
    directory = _loaded(dir_id)
    shown = payloads.shown_path(svc.config, directory)
    # 0, not None: None would mean "the server default", and this directory may have none.
    # A live folder stays live: the same `watch` as its first load.
    reloaded = load_folder(
        svc,
        directory.path,
        shown,
        directory.recursive,
        directory.timeout_minutes or 0,
        directory.watch,
        # A video's frames are loaded again with the settings they were extracted with.
        video_loading.choice_of(svc, directory),
    )
    extraction = video_loading.extraction_of(svc, reloaded)
    return jsonify(payloads.directory_summary(svc.config, reloaded, svc.clock(), extraction))
