"""The one load: check a requested folder, index it, arm its timer, follow it when live.

`POST /load-directory` and the gallery's re-arm both call `load_folder`, so a folder outside
the allowed roots is a 403, a missing one a 404 and a file a 400 whichever of them asks, and a
live folder's load answers only once the watcher follows it (docs/API.md#post-load-directory).
A video file passes the same checks, then loads its frames (`video_loading`, #23).
"""

from __future__ import annotations

import logging
import os
from http import HTTPStatus

from flask import current_app

from imageserver.security.confinement import is_allowed_root
from imageserver.security.confinement import real_path_or_none
from imageserver.state.registry import Directory
from imageserver.state.registry import Registry
from imageserver.watch import sync
from imageserver.watch.leader import WATCH_EXTENSION_KEY
from imageserver.web import video_loading
from imageserver.web.context import Services
from imageserver.web.errors import ApiError
from imageserver.web.schemas import FrameChoice

# How long a load with "watch": true waits for the watcher to follow the folder.
FOLLOW_TIMEOUT_SECONDS = 3.0

log = logging.getLogger(__name__)


def load_folder(
    svc: Services,
    path: str,
    shown: str,
    recursive: bool,
    timeout_minutes: int | None,
    watch: bool,
    frames: FrameChoice | None = None,
) -> Directory:
    """Load the folder (or the video's frames) at the absolute `path`; errors name it as `shown`.

    :raise ApiError 403: outside the allowed roots, or not readable.
    :raise ApiError 404: missing. :raise ApiError 400: not a directory (nor a video file),
        or video-only options for a folder. :raise ApiError 422: an unusable video.
    """
    real_path = checked_path(path, shown, svc.config.effective_allowed_roots)
    if video_loading.is_video_name(path) and os.path.isfile(real_path):
        return video_loading.load_video(
            svc, path, real_path, shown, frames, timeout_minutes, follow=watch
        )
    _require_directory(real_path, shown)
    if frames is not None:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"Not a video file: {shown}")
    try:
        directory = svc.registry.load(path, real_path, recursive, timeout_minutes, watch)
    except PermissionError:
        raise ApiError(HTTPStatus.FORBIDDEN, f"Directory not readable: {shown}") from None
    except OSError:
        raise ApiError(HTTPStatus.NOT_FOUND, f"Directory not found: {shown}") from None
    return _followed(svc.registry, directory) if watch else directory


def checked_directory(path: str, shown: str, allowed_roots: tuple[str, ...]) -> str:
    """Return the real path of a folder that may be loaded.

    The root check comes first so the API is no oracle for what exists outside the roots.

    :raise ApiError 403: outside the roots. :raise ApiError 404: missing.
    :raise ApiError 400: not a directory.
    """
    real_path = checked_path(path, shown, allowed_roots)
    _require_directory(real_path, shown)
    return real_path


def checked_path(path: str, shown: str, allowed_roots: tuple[str, ...]) -> str:
    """Return the real path of an existing file or folder inside the allowed roots.

    The root check comes first so the API is no oracle for what exists outside the roots.

    :raise ApiError 403: outside the roots. :raise ApiError 404: missing.
    """
    real_path = real_path_or_none(path)
    if real_path is None or not is_allowed_root(real_path, allowed_roots):
        if real_path is None and not allowed_roots:
            raise ApiError(HTTPStatus.NOT_FOUND, f"Directory not found: {shown}")
        raise ApiError(HTTPStatus.FORBIDDEN, f"Directory not allowed: {shown}")
    if not os.path.exists(real_path):
        raise ApiError(HTTPStatus.NOT_FOUND, f"Directory not found: {shown}")
    return real_path


def _require_directory(real_path: str, shown: str) -> None:
    if not os.path.isdir(real_path):
        raise ApiError(HTTPStatus.BAD_REQUEST, f"Not a directory: {shown}")


def _followed(registry: Registry, directory: Directory) -> Directory:
    # Answer once the watcher follows the folder: from then on no frame can slip between
    # the load's scan and the watch. Without a watcher here (tests of the bare app), don't.
    if WATCH_EXTENSION_KEY not in current_app.extensions:
        return directory
    if not sync.wait_until_followed(
        registry.store, directory.id, directory.load_seq, FOLLOW_TIMEOUT_SECONDS
    ):
        log.warning("live folders: no watcher picked up %s yet", directory.real_path)
    return registry.get(directory.id) or directory
