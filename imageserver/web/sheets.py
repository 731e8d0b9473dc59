"""Contact sheets of frames, cached and answered like variants (docs/API.md#contact-sheets).

The sheet is rendered once (Pillow, `frames/sheet.py`), passed through the variant transform
(so `preset`, `max`, `format`, `max_bytes` mean what they mean on an image) and stored in the
variant cache under a key of every frame's identity, its label, the grid and the transform.
A frame that changes, or other parameters, give another key; the ETag derives from it.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from http import HTTPStatus

from flask import Response

from imageserver.frames import sheet
from imageserver.security.confinement import resolve_image_file
from imageserver.state.registry import Directory
from imageserver.variants import transform
from imageserver.variants.params import VariantSpec
from imageserver.variants.service import ETAG_HEX_DIGITS
from imageserver.variants.service import Variant
from imageserver.web.context import Services
from imageserver.web.errors import ApiError
from imageserver.web.frame_listing import frame_times
from imageserver.web.routes.variants import CACHE_HEADER
from imageserver.web.routes.variants import variant_response
from imageserver.web.schemas import SheetQuery

SHEET_NAME = "sheet"
# The long side a sheet is drawn at before the transform: the `claude` preset's size.
DRAWN_MAX_SIDE = 1568


@dataclass(frozen=True)
class Cell:
    """One frame of a sheet: where it is, as `info` saw it, and its label."""

    real_path: str
    info: os.stat_result
    label: str


def selected_names(svc: Services, directory: Directory, query: SheetQuery) -> list[str]:
    """Return the names a sheet shows: the listed ones, or `count` names from `from` on.

    :raise ApiError 404: `from` is not an image of the directory.
    """
    if query.from_ is None:
        return query.name_list()
    names = svc.registry.image_names(directory.id)
    try:
        start = names.index(query.from_)
    except ValueError:
        raise ApiError(HTTPStatus.NOT_FOUND, f"Image not found: {query.from_}") from None
    return names[start : start + query.count]


def cells(svc: Services, directory: Directory, names: list[str]) -> list[Cell]:
    """Resolve each name inside the directory and label it with its time or its name.

    :raise ApiError 404: a name is not a served image of the directory.
    """
    times = frame_times(svc, directory) or {}
    found: list[Cell] = []
    for name in names:
        indexed = svc.registry.find_image(directory.id, name) is not None
        resolved = resolve_image_file(directory.real_path, name) if indexed else None
        if resolved is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"Image not found: {name}")
        label = sheet.format_time(times[name]) if name in times else name
        found.append(Cell(resolved[0], resolved[1], label))
    return found


def sheet_key(items: list[Cell], cols: int | None, spec: VariantSpec) -> str:
    """Return the cache key: each frame's identity and label, the grid and the transform."""
    digest = hashlib.sha256(f"sheet\0{cols}\0{DRAWN_MAX_SIDE}\0{spec.cache_token()}".encode())
    for cell in items:
        identity = f"\0{cell.real_path}\0{cell.info.st_size}\0{cell.info.st_mtime_ns}"
        digest.update(f"{identity}\0{cell.label}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def render(items: list[Cell], cols: int | None, spec: VariantSpec, max_pixels: int) -> bytes:
    """Draw the grid, then encode it through the variant transform.

    :raise transform.TransformError: `max_bytes` out of reach.
    """
    drawn = sheet.render_sheet(
        [(c.real_path, c.label) for c in items], cols=cols, max_side=DRAWN_MAX_SIDE
    )
    buffer = io.BytesIO()
    drawn.save(buffer, "BMP")  # lossless and fast: the transform encodes the real output
    buffer.seek(0)
    return transform.render(buffer, spec, max_pixels).data


def send_sheet(
    svc: Services, directory: Directory, query: SheetQuery, spec: VariantSpec | None
) -> Response:
    """Answer a contact sheet (image or data URI) from the variant cache, rendering it once.

    :raise ApiError 404: a frame is missing. :raise ApiError 503: the cache is unusable.
    """
    items = cells(svc, directory, selected_names(svc, directory, query))
    spec = svc.variants.resolve(spec or VariantSpec(), f"{SHEET_NAME}.jpg")
    assert spec.format is not None
    key = sheet_key(items, query.cols, spec)
    extension = transform.EXTENSIONS[spec.format]
    max_pixels = svc.variants.max_pixels
    try:
        entry = svc.variants.cache.get_or_create(
            key, extension, lambda: render(items, query.cols, spec, max_pixels)
        )
    except transform.TransformError as exc:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"Cannot make the sheet: {exc}") from None
    except OSError:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "Variant cache unavailable") from None
    variant = Variant(
        path=entry.path,
        size=entry.size,
        media_type=transform.MEDIA_TYPES[spec.format],
        extension=extension,
        etag=f"s-{key[:ETAG_HEX_DIGITS]}",
        hit=entry.hit,
    )
    newest = max((c.info for c in items), key=lambda info: info.st_mtime)
    response = variant_response(svc, variant, newest, SHEET_NAME, spec.datauri or query.datauri)
    response.headers[CACHE_HEADER] = "hit" if entry.hit else "miss"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
