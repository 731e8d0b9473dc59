"""The upload inbox's part of the OpenAPI document (docs/API.md#uploads): paths and schemas."""

from __future__ import annotations

from typing import Any

from imageserver.uploads.names import INBOX_NAME
from imageserver.uploads.names import MAX_NAME_LENGTH
from imageserver.uploads.validate import MEDIA_TYPES
from imageserver.web.openapi.schemas import COUNT
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import URL
from imageserver.web.openapi.schemas import Schema
from imageserver.web.openapi.schemas import _object
from imageserver.web.openapi.schemas import _parameter
from imageserver.web.openapi.schemas import response_spec

INBOX = _parameter(
    "query",
    "inbox",
    {**STRING, "pattern": f"^{INBOX_NAME.pattern}$", "default": "uploads"},
    "The inbox to store into; created on first use.",
)
NAME_QUERY = _parameter(
    "query",
    "name",
    STRING,
    "The file name of a raw body (sanitised; without one the file is named by its content).",
)
NAME_PATH = _parameter(
    "path",
    "name",
    {**STRING, "maxLength": 4 * MAX_NAME_LENGTH},
    "The file name (curl -T appends it to a URL ending in /).",
)
BINARY: Schema = {"type": "string", "contentMediaType": "application/octet-stream"}


def _request_body() -> dict[str, Any]:
    raw = {"schema": BINARY}
    multipart = {
        "schema": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": BINARY},
            "description": "One or more files (at most 16), under any field name.",
        }
    }
    content = {media_type: raw for media_type in sorted(set(MEDIA_TYPES.values()))}
    content |= {"application/octet-stream": raw, "multipart/form-data": multipart}
    return {"required": True, "content": content}


def _upload_operation(ops: Any, operation_id: str, summary: str) -> dict[str, Any]:
    def err(description: str) -> dict[str, Any]:
        return response_spec(description, "Detail")

    operation = ops.operation(
        operation_id,
        summary,
        {
            "201": response_spec("Stored (or already stored): their stable URLs.", "Uploaded"),
            "400": err("A malformed multipart body, or a body cut short."),
            "403": err("Uploads are disabled: the server has no IMAGE_SERVER_TOKEN."),
            "409": err("A different file already has that name in the inbox."),
            "413": err("A file over IMAGE_SERVER_UPLOAD_MAX_MB, or the inbox over its quota."),
            "415": err("Not an image (text, SVG, HTML, another format)."),
            "422": err("A bad inbox name; a truncated or polyglot image; a misleading name."),
        },
    )
    operation["requestBody"] = _request_body()
    return operation


def upload_paths(ops: Any) -> dict[str, Any]:
    """Return the upload paths, built with the document's `Operations` (`ops`)."""
    post = _upload_operation(ops, "upload", "Store images in an inbox; answer stable URLs")
    put = _upload_operation(ops, "upload_put", "The same as POST /api/uploads, with PUT")
    named = _upload_operation(ops, "upload_named", "Store one raw image under this name")
    return {
        "/api/uploads": {
            "parameters": [INBOX, NAME_QUERY],
            **ops.write_path(post),
            "put": put,
        },
        "/api/uploads/{name}": {"parameters": [NAME_PATH, INBOX], **ops.write_path(named, "put")},
    }


def upload_schemas() -> dict[str, Schema]:
    """Return the named schemas of the upload answer."""
    image = _object(
        {
            "name": STRING,
            "url": URL,
            "size": COUNT,
            "width": COUNT,
            "height": COUNT,
            "media_type": {"enum": sorted(set(MEDIA_TYPES.values()))},
        }
    )
    return {"Uploaded": _object({"id": STRING, "images": {"type": "array", "items": image}})}
