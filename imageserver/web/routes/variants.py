"""Variants over HTTP: the answer to `?max=`/`?preset=`... on image URLs, and the data-URI batch.

- `requested_variant` reads the transform parameters of an image URL (422 when invalid);
  `send_variant` answers with the cached file through Werkzeug's `send_file`, so a variant
  gets ETag, 304, Range, HEAD and Cache-Control like an original, or with a `text/plain`
  data URI for `as=datauri`. `X-Variant-Cache` says `hit` or `miss`.
- `POST /api/directories/<id>/datauris` (a control route: bearer token) returns up to 100
  data URIs in one JSON for n8n flows that inline images; a name that fails is reported in
  its item, not as a failure of the whole request.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from pydantic import ValidationError
from werkzeug.utils import send_file

from imageserver.security.confinement import resolve_image_file
from imageserver.state.registry import Directory
from imageserver.variants import datauri
from imageserver.variants import transform
from imageserver.variants.params import DataUriBatch
from imageserver.variants.params import VariantQuery
from imageserver.variants.params import VariantSpec
from imageserver.variants.params import has_transform
from imageserver.variants.params import transform_items
from imageserver.variants.service import Variant
from imageserver.variants.service import VariantService
from imageserver.web.context import Services
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.errors import RequestValidationError
from imageserver.web.errors import validation_errors
from imageserver.web.jsonio import read_json_body
from imageserver.web.routes.auth import require_token
from imageserver.web.schemas import parse_body

log = logging.getLogger(__name__)

bp = Blueprint("variants", __name__, url_prefix="/api/directories")
bp.before_request(require_token)

CACHE_HEADER = "X-Variant-Cache"
# One batch answer holds at most this much data-URI text; later items get 413 instead.
MAX_BATCH_DATA_CHARS = 64 * 1024 * 1024
# A variant evicted by another worker between lookup and open is produced again, once.
_ATTEMPTS = 2


def variant_service() -> VariantService:
    """Return this worker's variant service (the one the native image path uses too)."""
    return services().variants


def requested_variant(args: Mapping[str, str], signed: bool) -> VariantSpec | None:
    """Return the variant an image URL asks for, or None when it has no transform parameter.

    :param signed: the server signs its URLs, so the wide limits apply (else the listed sizes).
    :raise RequestValidationError: a parameter is invalid (422, `loc ["query", <key>]`).
    """
    if not has_transform(args):
        return None
    try:
        query = VariantQuery.model_validate(dict(args.items()), context={"bounded": not signed})
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc, ["query"])) from None
    return query.spec()


def variant_query_params(args: Mapping[str, str]) -> dict[str, str]:
    """Validate the transform parameters of a listing query and return them for its URLs.

    :raise RequestValidationError: a parameter is invalid (422).
    """
    requested_variant(args, signed=bool(services().config.signing_key))
    return transform_items(args)


def send_variant(
    svc: Services, real_path: str, info: os.stat_result, name: str, spec: VariantSpec
) -> Response:
    """Answer an image request with its variant (file or data URI).

    :raise ApiError: 413 too many pixels, 404 the source went away, 503 the cache is unusable.
    :raise RequestValidationError: 422, the source cannot be decoded or `max_bytes` reached.
    """
    for _ in range(_ATTEMPTS):
        variant = _variant_or_error(real_path, info, name, spec)
        try:
            response = variant_response(svc, variant, info, name, spec.datauri)
        except FileNotFoundError:  # evicted by another worker since the lookup: once more
            continue
        response.headers[CACHE_HEADER] = "hit" if variant.hit else "miss"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "Variant cache busy; try again")


def _variant_or_error(
    real_path: str, info: os.stat_result, name: str, spec: VariantSpec
) -> Variant:
    try:
        return variant_service().variant(real_path, info, name, spec)
    except transform.TransformError as exc:
        raise _transform_error(exc, name) from None
    except OSError:
        log.exception("variant cache unusable")
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "Variant cache unavailable") from None


def _transform_error(exc: transform.TransformError, name: str) -> Exception:
    if isinstance(exc, transform.ImageTooLarge):
        return ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
    if isinstance(exc, transform.SourceMissing):
        return ApiError(HTTPStatus.NOT_FOUND, f"Image not found: {name}")
    if isinstance(exc, transform.CannotFit):
        error = {"type": "max_bytes_unreachable", "loc": ["query", "max_bytes"]}
    else:
        error = {"type": "image_undecodable", "loc": ["path", "name"]}
    return RequestValidationError([{**error, "msg": str(exc), "input": name}])


def variant_response(
    svc: Services, variant: Variant, info: os.stat_result, name: str, as_datauri: bool
) -> Response:
    """Send a cached variant as a file (ETag, 304, Range) or as a `text/plain` data URI.

    :raise FileNotFoundError: the file was evicted since the lookup.
    """
    max_age = svc.config.cache_max_age
    if not as_datauri:
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return send_file(
            variant.path,
            request.environ,
            mimetype=variant.media_type,
            download_name=stem + variant.extension,
            conditional=True,
            etag=variant.etag,
            last_modified=info.st_mtime,
            max_age=max_age,
        )
    body = datauri.encode(variant.path.read_bytes(), variant.media_type)
    response = Response(body, mimetype="text/plain")
    response.set_etag(f"{variant.etag}-datauri")
    response.last_modified = info.st_mtime  # type: ignore[assignment]
    # The same caching headers as `send_file` gives the image form.
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.expires = int(time.time() + max_age)  # type: ignore[assignment]
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=len(body))


@bp.post("/<dir_id>/datauris")
def datauris(dir_id: str) -> Response:
    """Return data URIs of several images of one directory, one item per requested name.

    :raise 404: unknown directory. :raise 422: invalid body (names: 1 to 100).
    """
    svc = services()
    directory = svc.directory_or_404(dir_id)
    batch: DataUriBatch = parse_body(DataUriBatch, read_json_body(request))
    spec = batch.spec(datauri=True)
    svc.registry.note_access(directory)
    items: list[dict[str, Any]] = []
    budget = MAX_BATCH_DATA_CHARS
    for name in batch.names:
        item = _batch_item(svc, directory, name, spec, budget)
        budget -= len(item.get("data_uri", ""))
        items.append(item)
    failed = sum(1 for item in items if item["status"] != HTTPStatus.OK)
    return jsonify(
        {
            "id": directory.id,
            "preset": batch.preset,
            "count": len(items),
            "failed": failed,
            "items": items,
        }
    )


def _batch_item(
    svc: Services, directory: Directory, name: str, spec: VariantSpec, budget: int
) -> dict[str, Any]:
    found = svc.registry.find_image(directory.id, name) is not None
    resolved = resolve_image_file(directory.real_path, name) if found else None
    if resolved is None:
        return _failed(name, HTTPStatus.NOT_FOUND, f"Image not found: {name}")
    real_path, info = resolved
    try:
        variant = variant_service().variant(real_path, info, name, spec)
        data = variant.path.read_bytes()
    except transform.TransformError as exc:
        error = _transform_error(exc, name)
        if isinstance(error, ApiError):
            return _failed(name, error.status, error.detail)
        return _failed(name, HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
    except OSError:
        log.exception("variant cache unusable")
        return _failed(name, HTTPStatus.SERVICE_UNAVAILABLE, "Variant cache unavailable")
    if datauri.uri_length(len(data), variant.media_type) > budget:
        detail = f"Batch answer limit reached ({MAX_BATCH_DATA_CHARS} characters); ask again"
        return _failed(name, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, detail)
    return {
        "name": name,
        "status": HTTPStatus.OK.value,
        "media_type": variant.media_type,
        "bytes": len(data),
        "data_uri": datauri.encode(data, variant.media_type),
    }


def _failed(name: str, status: int, detail: Any) -> dict[str, Any]:
    return {"name": name, "status": int(status), "detail": detail}
