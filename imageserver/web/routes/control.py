"""The first version's control API: status, load, unload and the default timeout.

docs/API.md#status-and-loading: `GET /`, `POST /load-directory`, `POST /unload`, `/timeout`; the
load response carries the keys of docs/API.md#several-directories too.
"""

from __future__ import annotations

import time
from http import HTTPStatus

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from imageserver.security.confinement import resolve_load_path
from imageserver.web import video_status
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.jsonio import read_json_body
from imageserver.web.loading import load_folder
from imageserver.web.routes import payloads
from imageserver.web.routes.auth import require_token
from imageserver.web.schemas import LoadRequest
from imageserver.web.schemas import parse_body
from imageserver.web.schemas import parse_minutes
from imageserver.web.video_loading import extraction_of

bp = Blueprint("control", __name__)
bp.before_request(require_token)


@bp.get("/")
def status() -> Response:
    """Describe the current directory and its timer."""
    svc = services()
    now = svc.clock()
    return jsonify(payloads.status(svc.config, svc.registry, svc.registry.current(), now))


@bp.post("/load-directory")
def load_directory() -> Response:
    """Index a directory, make it current and arm its timer.

    :raise 403: outside the allowed roots. :raise 404: missing. :raise 400: not a directory.
    """
    svc = services()
    arrived = time.monotonic()  # a bounded `wait` counts from here, the probe included
    body = parse_body(LoadRequest, read_json_body(request))
    path = resolve_load_path(body.path, svc.config.frame_base_dir)
    # With hidden paths, errors echo only what the client sent, never the resolved path
    # (which would reveal FRAME_BASE_DIR or the server's working directory).
    shown = body.path if svc.config.hide_paths else path
    directory = load_folder(
        svc, path, shown, body.recursive, body.timeout_minutes, body.watch, body.frames
    )
    extraction = extraction_of(svc, directory)
    if extraction is not None and extraction["state"] == "running":
        seconds = video_status.wait_seconds(body.wait)
        directory = video_status.wait_for_end(svc, directory, seconds, arrived)
        extraction = extraction_of(svc, directory)
    return jsonify(payloads.loaded(svc.config, directory, svc.clock(), extraction))


@bp.post("/unload")
def unload() -> Response:
    """Unload the current directory (other loaded directories stay loaded)."""
    svc = services()
    current = svc.registry.current()
    if svc.registry.unload_current():
        if current is not None:
            video_status.stop_extraction(svc, current)
        return jsonify({"status": "success", "message": "Directory unloaded successfully"})
    return jsonify({"status": "info", "message": "No directory currently loaded"})


@bp.get("/timeout")
def get_timeout() -> Response:
    """Report the server's default timeout."""
    minutes = services().registry.default_timeout()
    return jsonify({"timeout_minutes": minutes, "timeout_enabled": minutes > 0})


@bp.post("/timeout/<minutes>")
def set_timeout(minutes: str) -> Response:
    """Set the default timeout and re-arm the current directory's deadline to now + minutes.

    :raise 422: not an integer. :raise 400: negative.
    """
    value = parse_minutes(minutes)
    if value < 0:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Timeout minutes must be >= 0 (0 = disabled)")
    current = services().registry.set_default_timeout(value)
    return jsonify(payloads.timeout_set(value, current))
