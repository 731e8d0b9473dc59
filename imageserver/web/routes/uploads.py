"""The upload inbox: `POST /api/uploads`, `PUT /api/uploads[/<name>]` (docs/API.md#uploads).

The HTTP side only: read the body (raw, or multipart with any number of file fields) into
spool files as it arrives, hand them to `imageserver.uploads`, answer 201 with stable URLs.
Uploads write files on the server, so they need the token: with none configured they are off.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from imageserver.settings.config import Config
from imageserver.uploads.errors import UploadError
from imageserver.uploads.errors import too_large
from imageserver.uploads.inbox import MIB
from imageserver.uploads.inbox import Inbox
from imageserver.uploads.inbox import StoredImage
from imageserver.uploads.names import inbox_name
from imageserver.uploads.spool import SpoolFile
from imageserver.uploads.spool import spooled_files
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.errors import json_error
from imageserver.web.routes.auth import require_token
from imageserver.web.urls import image_url

bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")

MAX_FILES = 16  # per request: a batch of frames, not a whole recording
# Part headers, boundaries and small text fields of a multipart body, on top of the files.
MULTIPART_OVERHEAD_BYTES = 1 * MIB
MAX_FORM_FIELD_BYTES = MIB  # also bounds the parser's buffer, which holds up to 64 KiB blocks


def body_limit(config: Config) -> int:
    """Return the largest body the upload routes read (see `body_limit.allow_larger`)."""
    return MAX_FILES * config.upload_max_mb * MIB + MULTIPART_OVERHEAD_BYTES


@bp.before_request
def require_upload_token() -> None:
    """Uploads write files: they are off without a token, and need it when one is set.

    :raise ApiError 403: no `IMAGE_SERVER_TOKEN` configured. :raise ApiError 401: wrong token.
    """
    if request.method == "OPTIONS":
        return
    if not services().config.tokens:
        raise ApiError(
            HTTPStatus.FORBIDDEN,
            "Uploads are disabled: set IMAGE_SERVER_TOKEN on the server to enable them "
            "(uploads always need the bearer token)",
        )
    require_token()


@bp.errorhandler(UploadError)
def _refused(exc: UploadError) -> Response:
    response = json_error(exc.status, exc.detail)
    # Part of the body may still be unread: close rather than parse it as the next request.
    response.headers["Connection"] = "close"
    return response


@bp.route("", methods=["POST", "PUT"])
def upload() -> Response:
    """Store the body's image(s) in the inbox `?inbox=` and answer their stable URLs."""
    return _upload(request.args.get("name"))


@bp.put("/<name>")
def upload_named(name: str) -> Response:
    """`curl -T frame.png .../api/uploads/`: curl appends the file's name to the URL."""
    return _upload(name)


def _upload(name: str | None) -> Response:
    svc = services()
    inbox = Inbox(svc.registry, svc.config, inbox_name(request.args.get("inbox")))
    max_file = svc.config.upload_max_mb * MIB
    with spooled_files() as spools:
        if request.mimetype == "multipart/form-data":
            _read_multipart(spools, inbox.temp_folder(), max_file, svc.config)
        else:
            _read_raw(spools, inbox.temp_folder(), max_file, name or _disposition_name())
        directory, stored = inbox.store(spools)
    now = svc.clock()
    images = [_described(svc.config, directory.id, image, now) for image in stored]
    response = jsonify({"id": directory.id, "images": images})
    response.status_code = HTTPStatus.CREATED
    return response


def _read_raw(spools: list[SpoolFile], folder: str, max_file: int, name: str | None) -> None:
    """Spool a raw body (any Content-Type: the content decides what it is)."""
    length = request.content_length
    if length is not None and length > max_file:
        # Refused before reading a byte of it.
        raise too_large(f"The file is larger than the upload limit of {max_file // MIB} MB")
    spool = SpoolFile(folder, max_file, name)
    spools.append(spool)
    spool.copy_from(request.stream, length)


def _read_multipart(spools: list[SpoolFile], folder: str, max_file: int, config: Config) -> None:
    """Spool every file part of a multipart body, whatever its field name."""

    def spool_for(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> SpoolFile:
        if len(spools) >= MAX_FILES:
            raise too_large(f"At most {MAX_FILES} files per request")
        spool = SpoolFile(folder, max_file, filename or None)
        spools.append(spool)
        return spool

    parser = FormDataParser(
        stream_factory=spool_for,  # type: ignore[arg-type] - a file-like object suffices
        max_content_length=body_limit(config),
        max_form_memory_size=MAX_FORM_FIELD_BYTES,
        max_form_parts=4 * MAX_FILES,
        silent=False,
    )
    try:
        parser.parse_from_environ(request.environ)
    except ValueError as exc:
        raise UploadError(HTTPStatus.BAD_REQUEST, f"Malformed multipart body: {exc}") from None


def _disposition_name() -> str | None:
    """The file name of a `Content-Disposition` header, as some clients send with raw bodies."""
    header = request.headers.get("Content-Disposition")
    if not header:
        return None
    return parse_options_header(header)[1].get("filename")


def _described(config: Config, dir_id: str, image: StoredImage, now: float) -> dict:
    return {
        "name": image.name,
        "url": image_url(config, dir_id, image.name, now),
        "size": image.size,
        "width": image.facts.width,
        "height": image.facts.height,
        "media_type": image.facts.media_type,
    }
