"""The directories API: every loaded directory, one by id, unload by id, paged listings,
and the URL of a contact sheet (signed when the server signs URLs).

docs/API.md#several-directories, docs/API.md#get-apidirectoriesidsheet-url.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from imageserver.state.registry import Directory
from imageserver.web import frame_listing
from imageserver.web import video_status
from imageserver.web.context import Services
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.routes import payloads
from imageserver.web.routes.auth import require_token
from imageserver.web.routes.variants import requested_variant
from imageserver.web.routes.variants import variant_query_params
from imageserver.web.schemas import PageQuery
from imageserver.web.schemas import SheetQuery
from imageserver.web.schemas import parse_query
from imageserver.web.sheets import SHEET_NAME
from imageserver.web.sheets import cells
from imageserver.web.sheets import selected_names
from imageserver.web.urls import image_url
from imageserver.web.urls import public_base_url
from imageserver.web.video_loading import extraction_of

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
            "directories": [
                payloads.directory_summary(svc.config, d, now, extraction_of(svc, d))
                for d in directories
            ],
            "current": svc.registry.current_id(),
        }
    )


@bp.get("/<dir_id>")
def get_directory(dir_id: str) -> Response:
    """Describe one loaded directory. :raise 404: unknown id."""
    svc = services()
    directory = _loaded(dir_id)
    summary = payloads.directory_summary(
        svc.config, directory, svc.clock(), extraction_of(svc, directory)
    )
    return jsonify(summary)


@bp.delete("/<dir_id>")
def delete_directory(dir_id: str) -> Response:
    """Unload one directory; if it was current, nothing is current afterwards.

    A video's extraction still running stops (its process is killed).
    """
    svc = services()
    directory = svc.registry.get(dir_id)
    if not svc.registry.unload(dir_id):
        raise ApiError(HTTPStatus.NOT_FOUND, f"Directory not found: {dir_id}")
    if directory is not None:
        video_status.stop_extraction(svc, directory)
    return jsonify({"status": "success", "message": "Directory unloaded successfully"})


@bp.get("/<dir_id>/images")
def list_images(dir_id: str) -> Response:
    """Return one page of a directory's images, sorted by name, with absolute URLs.

    `?unique=true` pages through the frames kept after the near-duplicate collapse,
    `?facts=true` adds width, height and format (docs/API.md#near-duplicates-and-facts).
    `?name=` answers just that entry (404 when the listing lacks it): one request for the
    URL of one image, signed like every listed URL.
    """
    svc = services()
    directory = _loaded(dir_id)
    page = parse_query(PageQuery, request.args.to_dict())
    # `?preset=claude` (any transform parameter): list variant URLs, signed with them.
    variant = variant_query_params(request.args)
    now = svc.clock()
    times = frame_listing.frame_times(svc, directory)
    rows, total = _rows(svc, directory, page, times)
    facts = frame_listing.facts_of(svc, directory, rows) if page.facts else {}
    images = [
        {
            "name": row["name"],
            "url": image_url(svc.config, directory.id, row["name"], now, params=variant),
            "size": row["size"],
            "mtime": row["mtime_ns"] / 1e9,
            **frame_listing.entry_extras(row, times, facts.get(row["name"])),
        }
        for row in rows
    ]
    next_offset = page.offset + len(rows)
    next_url = None
    if rows and next_offset < total and page.name is None:
        query = urlencode(
            {"offset": next_offset, "limit": page.limit, **_listing_flags(page), **variant}
        )
        next_url = f"{public_base_url(svc.config)}{request.path}?{query}"
    return jsonify(
        {
            "id": directory.id,
            "total": total,
            "offset": 0 if page.name is not None else page.offset,
            "limit": page.limit,
            "images": images,
            "next": next_url,
        }
    )


@bp.get("/<dir_id>/sheet-url")
def sheet_url(dir_id: str) -> Response:
    """Return the absolute URL of a contact sheet, signed when the server signs URLs.

    Takes the sheet's own query (`names` or `from` + `count`, `cols`, the variant
    parameters) and checks it as the sheet would, so the URL answers 200.
    :raise 404: unknown id or frame. :raise 422: bad parameters.
    """
    svc = services()
    directory = _loaded(dir_id)
    query = parse_query(SheetQuery, request.args.to_dict())
    requested_variant(request.args, signed=bool(svc.config.signing_key))
    names = selected_names(svc, directory, query)
    cells(svc, directory, names)  # every frame exists, or the 404 the sheet would give
    params = {k: v for k, v in request.args.items() if k not in ("exp", "sig")}
    url = image_url(svc.config, directory.id, SHEET_NAME, svc.clock(), params=params)
    return jsonify({"url": url, "names": names})


def _rows(
    svc: Services, directory: Directory, page: PageQuery, times: dict[str, float] | None
) -> tuple[list[dict[str, Any]], int]:
    """One page of rows and the total they page through (the kept frames with `unique`).

    :raise ApiError 404: `name` is given and the listing (kept frames with `unique`) lacks it.
    """
    if page.name is not None:
        return _named_row(svc, directory, page, times), 1
    if page.unique:
        kept = frame_listing.kept_frames(svc, directory, page.distance, times)
        return kept[page.offset : page.offset + page.limit], len(kept)
    entries = svc.registry.image_page(directory.id, page.offset, page.limit)
    rows = [{"name": e.name, "size": e.size, "mtime_ns": e.mtime_ns} for e in entries]
    return rows, directory.image_count


def _named_row(
    svc: Services, directory: Directory, page: PageQuery, times: dict[str, float] | None
) -> list[dict[str, Any]]:
    """The one row of `?name=`: from the index, or from the kept frames with `unique`."""
    assert page.name is not None
    if page.unique:
        kept = frame_listing.kept_frames(svc, directory, page.distance, times)
        rows = [row for row in kept if row["name"] == page.name]
    else:
        entry = svc.registry.find_image(directory.id, page.name)
        rows = (
            []
            if entry is None
            else [{"name": entry.name, "size": entry.size, "mtime_ns": entry.mtime_ns}]
        )
    if not rows:
        raise ApiError(HTTPStatus.NOT_FOUND, f"Image not found: {page.name}")
    return rows


def _listing_flags(page: PageQuery) -> dict[str, str]:
    """The listing options the `next` URL carries over."""
    flags: dict[str, str] = {}
    if page.unique:
        flags.update(unique="true", distance=str(page.distance))
    if page.facts:
        flags["facts"] = "true"
    return flags
