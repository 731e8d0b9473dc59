"""The named schemas of the OpenAPI document: error shapes, request and response bodies.

Built from the blocks in `schemas.py`; `document.py` puts them under `components`.
"""

from __future__ import annotations

from imageserver.variants import params as variant_params
from imageserver.web.openapi.schemas import COUNT
from imageserver.web.openapi.schemas import NULLABLE_INT
from imageserver.web.openapi.schemas import NULLABLE_REMAINING
from imageserver.web.openapi.schemas import NULLABLE_STRING
from imageserver.web.openapi.schemas import NULLABLE_TIMESTAMP
from imageserver.web.openapi.schemas import PREFIX_URL
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import URL
from imageserver.web.openapi.schemas import Schema
from imageserver.web.openapi.schemas import _object
from imageserver.web.openapi.schemas import model_schema
from imageserver.web.openapi.schemas import ref
from imageserver.web.schemas import LoadRequest

# Live folders (docs/API.md#live-folders): extra keys after the pinned ones, so
# documented, not required.
WATCH_PROPERTIES: dict[str, Schema] = {
    "watch": {"type": "boolean", "description": "The index follows the folder."},
    "watch_mode": {
        "enum": ["inotify", "poll", None],
        "description": "How the folder is followed; null until the watcher has set it up.",
    },
}


# A video's directory (docs/API.md#long-videos): after the live-folder keys, absent for folders.
EXTRACTION_PROPERTIES: dict[str, Schema] = {
    "extraction": {
        "type": "object",
        "description": "Where the video's background extraction is (a video's directory only).",
        "properties": {
            "state": {"enum": ["running", "done", "failed"]},
            "frames": {"type": "integer", "description": "Frames written so far."},
            "seconds_done": {"type": "number", "description": "Seconds of video covered."},
            "duration": {"type": ["number", "null"], "description": "The video's length."},
            "detail": {"type": "string", "description": "Why it failed (failed only)."},
        },
        "required": ["state", "frames", "seconds_done", "duration"],
    },
}


def _with_watch(schema: Schema) -> Schema:
    extra = {**WATCH_PROPERTIES, **EXTRACTION_PROPERTIES}
    return {**schema, "properties": {**schema["properties"], **extra}}


def component_schemas() -> dict[str, Schema]:
    """Return every named schema: the error shapes, the request bodies, the response bodies."""
    status = {
        "current_directory": NULLABLE_STRING,
        "image_count": COUNT,
        "image_list": {"type": "array", "items": STRING},
        "load_time": NULLABLE_TIMESTAMP,
        "timeout_minutes": NULLABLE_INT,
        "auto_unload_at": NULLABLE_TIMESTAMP,
        "time_remaining": NULLABLE_REMAINING,
    }
    directory = {
        "id": STRING,
        "directory": STRING,
        "image_count": COUNT,
        "load_time": NULLABLE_TIMESTAMP,
        "timeout_minutes": NULLABLE_INT,
        "auto_unload_at": NULLABLE_TIMESTAMP,
        "url_prefix": PREFIX_URL,
    }
    loaded = {
        "status": {"const": "success"},
        "directory": STRING,
        "image_count": COUNT,
        "message": STRING,
        "timeout": STRING,
        "id": STRING,
        "url_prefix": PREFIX_URL,
    }
    page = {
        "id": STRING,
        "total": COUNT,
        "offset": COUNT,
        "limit": {"type": "integer", "minimum": 1},
        "images": {"type": "array", "items": ref("Image")},
        "next": {"type": ["string", "null"], "format": "uri"},
    }
    loc = {"type": "array", "items": {"type": ["string", "integer"]}}
    error_item = _object({"type": STRING, "loc": loc, "msg": STRING, "input": {}})
    error_item["properties"]["ctx"] = {"type": "object"}  # optional: pydantic's context
    timeout = {"timeout_minutes": COUNT, "timeout_enabled": {"type": "boolean"}}
    listing = {"directories": {"type": "array", "items": ref("Directory")}}
    # One item per requested name: the data URI, or the status and detail of its failure.
    data_uri_item = _object({"name": STRING, "status": {"type": "integer"}})
    data_uri_item["properties"] |= {
        "media_type": STRING,
        "bytes": COUNT,
        "data_uri": {**STRING, "pattern": "^data:"},
        "detail": {},
    }
    batch = {"id": STRING, "preset": NULLABLE_STRING, "count": COUNT, "failed": COUNT}
    return {
        "Detail": _object({"detail": STRING}, "The one error shape."),
        "ValidationError": _object(
            {"detail": {"type": "array", "items": ref("ValidationErrorItem")}},
            "A 422: pydantic's error list; `loc` starts with body, query or path.",
        ),
        "ValidationErrorItem": error_item,
        "LoadRequest": model_schema(LoadRequest, lax_integers=True),
        "DataUriBatch": model_schema(variant_params.DataUriBatch, bounded=True),
        "Status": _with_watch(
            _object(status, "The current directory and its timer (docs/API.md#get-).")
        ),
        "Loaded": _with_watch(
            _object(loaded, "A directory was loaded (docs/API.md#post-load-directory).")
        ),
        "Message": _object({"status": {"enum": ["success", "info"]}, "message": STRING}),
        "Timeout": _object(timeout),
        "TimeoutSet": _object({"status": {"const": "success"}, **timeout, "message": STRING}),
        "Directory": _with_watch(
            _object(directory, "One loaded directory (docs/API.md#several-directories).")
        ),
        "DirectoryList": _object({**listing, "current": NULLABLE_STRING}),
        "Image": _object({"name": STRING, "url": URL, "size": COUNT, "mtime": {"type": "number"}}),
        "ImagePage": _object(page, "One page of a directory's images, sorted by name."),
        "DataUriItem": data_uri_item,
        "DataUris": _object({**batch, "items": {"type": "array", "items": ref("DataUriItem")}}),
        "Health": _object({"status": {"const": "ok"}}),
        "Ready": _object({"status": {"const": "ready"}}),
        "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    }
