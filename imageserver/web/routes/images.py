"""Image routes: `/images/<name>` (the current directory) and `/d/<id>/<name>` (stable URLs).

The name is taken from the raw request target, segment by segment, so `%2F` never acts as a
separator; then the index, `safe_join` and a `realpath` check confine it to the directory
(`security/confinement.py`). Every refusal is the same 404. The file itself goes to
Werkzeug's `send_file`, which gives ETag, Last-Modified, 304, single Range 206/416 and lets
the server engine stream it.

With a transform parameter (`?max=`, `?preset=`, `?as=datauri`...) the answer is a cached
variant instead (`routes/variants.py`), with the same headers and conditional behaviour;
without one, the original is sent byte for byte, as before.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint
from flask import Response
from flask import request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter
from werkzeug.utils import send_file

from imageserver.hotpath.headers import CORS_HEADERS
from imageserver.security.confinement import name_from_raw_path
from imageserver.security.confinement import raw_request_path
from imageserver.security.confinement import resolve_image_file
from imageserver.security.signing import signature_is_valid
from imageserver.settings.media_types import media_type_for
from imageserver.state.registry import Directory
from imageserver.web.context import Services
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.routes.variants import requested_variant
from imageserver.web.routes.variants import send_variant
from imageserver.web.schemas import SheetQuery
from imageserver.web.schemas import parse_query
from imageserver.web.sheets import SHEET_NAME
from imageserver.web.sheets import send_sheet

bp = Blueprint("images", __name__)

PREFLIGHT_MAX_AGE = "86400"
IMAGE_METHODS = ["GET", "HEAD", "OPTIONS"]


class AnyPathConverter(PathConverter):
    """Werkzeug's `path`, except that a name may hold any character, a newline too.

    `path` stops at a decoded `%0A`, so such a request fell through to the generic routing
    404 instead of this blueprint's `Image not found: <name>` (and its CORS preflight).
    """

    regex = "[^/](?s:.*?)"


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["anypath"] = AnyPathConverter


@bp.after_request
def add_cors(response: Response) -> Response:
    """Let any origin read images (browsers, notebooks, n8n previews)."""
    response.headers.update(CORS_HEADERS)
    return response


@bp.route("/images/<anypath:name>", methods=IMAGE_METHODS, provide_automatic_options=False)
def current_image(name: str) -> Response:
    """Serve an image of the current directory. :raise 400: nothing loaded. :raise 404."""
    if request.method == "OPTIONS":
        return _preflight()
    svc = services()
    directory = svc.registry.current()
    if directory is None:
        raise ApiError(HTTPStatus.BAD_REQUEST, "No directory loaded")
    safe_name = name_from_raw_path(raw_request_path(request.environ), prefix_segments=1)
    _check_signature(svc, f"/images/{safe_name or name}")
    return _serve(svc, directory, safe_name, name)


@bp.route("/d/<dir_id>/sheet", methods=IMAGE_METHODS, provide_automatic_options=False)
def contact_sheet(dir_id: str) -> Response:
    """Answer a labelled grid of up to 36 frames of one directory (docs/API.md#contact-sheets).

    Werkzeug ranks this static segment above `<anypath:name>`, and `sheet` has no image
    extension, so the native image path leaves it to Flask. :raise 404, 403, 422.
    """
    if request.method == "OPTIONS":
        return _preflight()
    svc = services()
    _check_signature(svc, f"/d/{dir_id}/{SHEET_NAME}")
    directory = svc.directory_or_404(dir_id)
    query = parse_query(SheetQuery, request.args.to_dict())
    spec = requested_variant(request.args, signed=bool(svc.config.signing_key))
    svc.registry.note_access(directory)
    return send_sheet(svc, directory, query, spec)


@bp.route("/d/<dir_id>/<anypath:name>", methods=IMAGE_METHODS, provide_automatic_options=False)
def stable_image(dir_id: str, name: str) -> Response:
    """Serve an image of one directory by id, whatever is current. :raise 404."""
    if request.method == "OPTIONS":
        return _preflight()
    svc = services()
    safe_name = name_from_raw_path(raw_request_path(request.environ), prefix_segments=2)
    _check_signature(svc, f"/d/{dir_id}/{safe_name or name}")
    directory = svc.directory_or_404(dir_id)
    return _serve(svc, directory, safe_name, name)


def _check_signature(svc: Services, path: str) -> None:
    config = svc.config
    if not config.signing_key:
        return
    params = request.args.items(multi=True)
    if not signature_is_valid(config.signing_keys, path, params, svc.clock()):
        raise ApiError(HTTPStatus.FORBIDDEN, "Invalid or expired signature")


def _serve(svc: Services, directory: Directory, safe_name: str | None, shown: str) -> Response:
    # Bad parameters are a 422 before any lookup, as FastAPI validated the query first.
    variant = requested_variant(request.args, signed=bool(svc.config.signing_key))
    not_found = ApiError(HTTPStatus.NOT_FOUND, f"Image not found: {shown}")
    if safe_name is None or svc.registry.find_image(directory.id, safe_name) is None:
        raise not_found
    resolved = resolve_image_file(directory.real_path, safe_name)
    if resolved is None:
        raise not_found
    real_path, info = resolved
    svc.registry.note_access(directory)
    if variant is not None:
        return send_variant(svc, real_path, info, safe_name, variant)
    try:
        response = send_file(
            real_path,
            request.environ,
            mimetype=media_type_for(safe_name),
            # The requested name, not the real path's: a symlink's target stays private.
            download_name=safe_name.rsplit("/", 1)[-1],
            conditional=True,
            etag=f"{info.st_mtime_ns:x}-{info.st_size:x}",
            last_modified=info.st_mtime,
            max_age=svc.config.cache_max_age,
        )
    except OSError:  # deleted or made unreadable between the check and the open
        raise not_found from None
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _preflight() -> Response:
    headers = {
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get(
            "Access-Control-Request-Headers", "Range, If-None-Match, If-Modified-Since"
        ),
        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        "Allow": "GET, HEAD, OPTIONS",
    }
    return Response(status=HTTPStatus.NO_CONTENT, headers=headers)
