"""The contact-sheet URL's part of the OpenAPI document (docs/API.md#contact-sheets)."""

from __future__ import annotations

from typing import Any

from imageserver.variants.params import VariantQuery
from imageserver.web.openapi.schemas import DIRECTORY_ID
from imageserver.web.openapi.schemas import INVALID
from imageserver.web.openapi.schemas import NOT_FOUND
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import URL
from imageserver.web.openapi.schemas import Schema
from imageserver.web.openapi.schemas import _object
from imageserver.web.openapi.schemas import query_parameters
from imageserver.web.openapi.schemas import response_spec
from imageserver.web.schemas import SheetQuery


def sheet_url_paths(ops: Any) -> dict[str, Any]:
    """Return `GET /api/directories/{id}/sheet-url`, built with the document's `Operations`."""
    signed = bool(ops.config.signing_key)
    parameters = [
        *query_parameters(SheetQuery),
        *query_parameters(VariantQuery, bounded=not signed),
    ]
    get = ops.operation(
        "sheet_url",
        "The URL of a contact sheet of these frames (signed when the server signs URLs)",
        {
            "200": response_spec("The sheet's absolute URL and the frames it shows.", "SheetUrl"),
            "404": NOT_FOUND,
            "422": INVALID,
        },
        parameters=parameters,
    )
    return {"/api/directories/{id}/sheet-url": ops.read_path(get, parameters=[DIRECTORY_ID])}


def sheet_url_schemas() -> dict[str, Schema]:
    """Return the named schema of the answer."""
    names = {"type": "array", "items": STRING}
    return {"SheetUrl": _object({"url": URL, "names": names})}
