"""The building blocks of the OpenAPI document: component schemas, parameters, responses.

Taken from the pydantic models that validate requests (`web/schemas.py`,
`variants/params.py`), so each constraint is written once. `document.py` assembles the
paths from these, `operations.py` the image routes' media types (`settings/media_types.py`).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices
from pydantic import BaseModel

from imageserver.settings.config import Config
from imageserver.variants import params as variant_params
from imageserver.web.schemas import MAX_TIMEOUT_MINUTES
from imageserver.web.schemas import LoadRequest

BEARER = "bearerAuth"
JSON = "application/json"
Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
COUNT: Schema = {"type": "integer", "minimum": 0}
URL: Schema = {"type": "string", "format": "uri"}
PREFIX_URL: Schema = {**URL, "pattern": "/$"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}
NULLABLE_TIMESTAMP: Schema = {
    "type": ["string", "null"],
    "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
}
NULLABLE_REMAINING: Schema = {"type": ["string", "null"], "pattern": r"^\d+m \d+s$"}
# pydantic validates the load body in lax mode, and docs/API.md#post-load-directory
# promises `"7"` for 7.
NUMERIC_STRING: Schema = {"type": "string", "pattern": "^[+-]?[0-9]+$"}
# What an unsigned URL (or the data-URI batch) may ask for: custom validators in
# `variants/params.py` that pydantic's own JSON schema cannot show.
UNSIGNED_VARIANT_LIMITS: dict[str, Schema] = {
    "max": {"enum": list(variant_params.UNSIGNED_SIZES)},
    "w": {"enum": list(variant_params.UNSIGNED_SIZES)},
    "h": {"enum": list(variant_params.UNSIGNED_SIZES)},
    "quality": {"multipleOf": variant_params.UNSIGNED_QUALITY_STEP},
    "max_bytes": {"enum": list(variant_params.UNSIGNED_MAX_BYTES)},
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], description: str = "") -> Schema:
    """An object whose listed keys are all present; extra keys may follow.

    See docs/API.md#conventions.
    """
    schema: Schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {**schema, "description": description} if description else schema


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


def response_spec(description: str, schema: str | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        response["content"] = {JSON: {"schema": ref(schema)}}
    return response


def _parameter(where: str, name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    parameter = {"name": name, "in": where, "description": description, "schema": schema}
    return parameter | ({"required": True} if where == "path" else {}) | extra


DIRECTORY_ID = _parameter(
    "path",
    "id",
    {**STRING, "examples": ["frames-0123456789"]},
    "Stable id of a loaded directory (readable slug + short hash of its real path).",
)
IMAGE_NAME = _parameter(
    "path",
    "name",
    {**STRING, "examples": ["frame_000000.jpg"]},
    "Image name relative to the directory; nested names (`sub/a.jpg`) use a literal `/`. "
    "An encoded separator (`%2F`) never acts as one.",
)
MINUTES = _parameter(
    "path",
    "minutes",
    {"type": "integer", "minimum": 0, "maximum": MAX_TIMEOUT_MINUTES},
    "New default timeout in minutes (0 disables it); `007` is 7, a negative value is a 400.",
)
# Conditional and partial requests that the image routes honour (docs/API.md#images).
IMAGE_HEADER_PARAMETERS: tuple[Schema, ...] = (
    _parameter("header", "Range", {**STRING, "examples": ["bytes=0-99"]}, "One byte range."),
    _parameter("header", "If-None-Match", STRING, "ETag(s) of the client's copy."),
    _parameter(
        "header",
        "If-Modified-Since",
        {**STRING, "examples": ["Sun, 01 Jan 2034 00:00:00 GMT"]},
        "HTTP date of the client's copy.",
    ),
)


def image_query_parameters(config: Config) -> list[Schema]:
    """Return every query parameter of the image routes (both routes and their HEAD twins).

    The one place to declare them: the variant parameters (`max`, `w`, `format`...) come
    from `VariantQuery`, with the narrow limits when URLs are unsigned; `exp` and `sig`
    exist, and are required, only on a server that signs URLs.
    """
    signed = bool(config.signing_key)
    parameters = query_parameters(variant_params.VariantQuery, bounded=not signed)
    if signed:
        parameters += [
            _parameter("query", "exp", COUNT, "Expiry, epoch seconds.", required=True),
            _parameter(
                "query",
                "sig",
                STRING,
                "HMAC-SHA256 of the path, `exp` and every other parameter.",
                required=True,
            ),
        ]
    return parameters


def _non_null(prop: Schema) -> Schema:
    """The schema of an optional (`X | None`) model field without its `null` branch."""
    options = [option for option in prop.get("anyOf", [prop]) if option.get("type") != "null"]
    keep = {k: v for k, v in prop.items() if k not in ("anyOf", "title", "default")}
    if prop.get("default") is not None:
        keep["default"] = prop["default"]
    return {**options[0], **keep} if len(options) == 1 else {"anyOf": options, **keep}


def query_parameters(model: type[BaseModel], bounded: bool = False) -> list[Schema]:
    """Turn a query model's fields into OpenAPI query parameters, constraints included."""
    properties = model.model_json_schema()["properties"]
    limits = UNSIGNED_VARIANT_LIMITS if bounded else {}
    return [
        _parameter("query", name, {**_non_null(prop), **limits.get(name, {})}, prop["title"])
        for name, prop in properties.items()
    ]


def _model_schema(
    model: type[BaseModel], *, lax_integers: bool = False, bounded: bool = False
) -> Schema:
    """Return a body model's JSON schema, as lenient as the server's validation of it.

    :param lax_integers: integer fields also take a decimal string (pydantic's lax mode).
    :param bounded: apply the unsigned variant limits (custom validators pydantic can't show).
    """
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, prop in schema["properties"].items():
        integers = [o for o in prop.get("anyOf", [prop]) if o.get("type") == "integer"]
        for option in integers:
            option.update(UNSIGNED_VARIANT_LIMITS.get(name, {}) if bounded else {})
        if integers and lax_integers:
            if "anyOf" not in prop:
                keys = [key for key in ("type", "minimum", "maximum") if key in prop]
                prop["anyOf"] = [{key: prop.pop(key) for key in keys}]
            prop["anyOf"].append(NUMERIC_STRING)
    _add_alias_choices(model, schema)
    return schema


def _add_alias_choices(model: type[BaseModel], schema: Schema) -> None:
    """Document every name of an `AliasChoices` field; require any one of them.

    pydantic's schema shows only the first name (`path`, not the old `directory`).
    """
    properties, required = schema["properties"], schema.get("required", [])
    alternatives = []
    for name, field in model.model_fields.items():
        if not isinstance(field.validation_alias, AliasChoices):
            continue
        choices = [c for c in field.validation_alias.choices if isinstance(c, str)]
        for other in choices[1:]:
            properties[other] = {**properties[name], "title": f"Alias of `{name}`"}
        if name in required:
            required.remove(name)
            alternatives.append({"anyOf": [{"required": [choice]} for choice in choices]})
    if alternatives:
        schema["allOf"] = alternatives
    if not required:
        schema.pop("required", None)


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
        "LoadRequest": _model_schema(LoadRequest, lax_integers=True),
        "DataUriBatch": _model_schema(variant_params.DataUriBatch, bounded=True),
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


NOT_FOUND = response_spec("Unknown directory id, or no such route.", "Detail")
INVALID = response_spec("Validation failed.", "ValidationError")
TOO_LARGE = response_spec("The request body is over 1 MiB.", "Detail")
UNAUTHORIZED = response_spec(
    "The bearer token is missing or wrong.",
    "Detail",
    headers={"WWW-Authenticate": {"schema": {"const": "Bearer"}, "required": True}},
)
ALLOW = {"Allow": {"schema": STRING, "required": True}}
