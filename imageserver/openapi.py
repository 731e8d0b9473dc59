"""The OpenAPI 3.1 document of the whole HTTP API, declared in one place.

Bodies and queries come from the pydantic models that validate them (`schemas.py`,
`variants/params.py`) and image media types from `mediatypes.py`, so each constraint is
written once; response shapes follow `routes/payloads.py` and CONTRACT.md. Every operation
the app serves is listed, including the HEAD twin of each GET and the OPTIONS answers;
`tests/test_openapi.py` checks the document against the app's URL map both ways.

The document describes *this* server: the bearer token, the `exp`/`sig` parameters and the
unsigned variant limits follow `IMAGE_SERVER_TOKEN` and `IMAGE_SERVER_SIGNING_KEY`. Nothing
changes while the server runs except `servers` (the request's own base URL, or
`IMAGE_SERVER_PUBLIC_URL`), so `document_for` builds the rest once per app.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from flask import Flask
from pydantic import AliasChoices
from pydantic import BaseModel

from imageserver.config import PROJECT_ROOT
from imageserver.config import Config
from imageserver.mediatypes import IMAGE_MEDIA_TYPES
from imageserver.schemas import MAX_TIMEOUT_MINUTES
from imageserver.schemas import LoadRequest
from imageserver.schemas import PageQuery
from imageserver.variants import params as variant_params

OPENAPI_VERSION = "3.1.0"
CACHE_KEY = "imageserver.openapi"
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
# pydantic validates the load body in lax mode, and CONTRACT A.2 promises `"7"` for 7.
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


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], description: str = "") -> Schema:
    """An object whose listed keys are all present; extra keys may follow (CONTRACT A.0)."""
    schema: Schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {**schema, "description": description} if description else schema


def _response(description: str, schema: str | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        response["content"] = {JSON: {"schema": _ref(schema)}}
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
# Conditional and partial requests that the image routes honour (CONTRACT B.5).
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
    parameters = _query_parameters(variant_params.VariantQuery, bounded=not signed)
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


def _query_parameters(model: type[BaseModel], bounded: bool = False) -> list[Schema]:
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
        "images": {"type": "array", "items": _ref("Image")},
        "next": {"type": ["string", "null"], "format": "uri"},
    }
    loc = {"type": "array", "items": {"type": ["string", "integer"]}}
    error_item = _object({"type": STRING, "loc": loc, "msg": STRING, "input": {}})
    error_item["properties"]["ctx"] = {"type": "object"}  # optional: pydantic's context
    timeout = {"timeout_minutes": COUNT, "timeout_enabled": {"type": "boolean"}}
    listing = {"directories": {"type": "array", "items": _ref("Directory")}}
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
            {"detail": {"type": "array", "items": _ref("ValidationErrorItem")}},
            "A 422: pydantic's error list; `loc` starts with body, query or path.",
        ),
        "ValidationErrorItem": error_item,
        "LoadRequest": _model_schema(LoadRequest, lax_integers=True),
        "DataUriBatch": _model_schema(variant_params.DataUriBatch, bounded=True),
        "Status": _object(status, "The current directory and its timer (CONTRACT A.1)."),
        "Loaded": _object(loaded, "A directory was loaded (CONTRACT A.2, B.1)."),
        "Message": _object({"status": {"enum": ["success", "info"]}, "message": STRING}),
        "Timeout": _object(timeout),
        "TimeoutSet": _object({"status": {"const": "success"}, **timeout, "message": STRING}),
        "Directory": _object(directory, "One loaded directory (CONTRACT B.1)."),
        "DirectoryList": _object({**listing, "current": NULLABLE_STRING}),
        "Image": _object({"name": STRING, "url": URL, "size": COUNT, "mtime": {"type": "number"}}),
        "ImagePage": _object(page, "One page of a directory's images, sorted by name."),
        "DataUriItem": data_uri_item,
        "DataUris": _object({**batch, "items": {"type": "array", "items": _ref("DataUriItem")}}),
        "Health": _object({"status": {"const": "ok"}}),
        "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    }


NOT_FOUND = _response("Unknown directory id, or no such route.", "Detail")
INVALID = _response("Validation failed.", "ValidationError")
TOO_LARGE = _response("The request body is over 1 MiB.", "Detail")
UNAUTHORIZED = _response(
    "The bearer token is missing or wrong.",
    "Detail",
    headers={"WWW-Authenticate": {"schema": {"const": "Bearer"}, "required": True}},
)
ALLOW = {"Allow": {"schema": STRING, "required": True}}


class _Operations:
    """Builds the operations of one server: what needs the token follows its `Config`."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def operation(
        self,
        operation_id: str,
        summary: str,
        responses: dict[str, Any],
        *,
        control: bool = True,
        parameters: list[Schema] | tuple[Schema, ...] = (),
        body: str | None = None,
    ) -> dict[str, Any]:
        """Build one operation; a control operation needs the token when one is set (401)."""
        operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
        if parameters:
            operation["parameters"] = list(parameters)
        if body is not None:
            content = {JSON: {"schema": _ref(body)}}
            operation["requestBody"] = {"required": True, "content": content}
            responses = {**responses, "413": TOO_LARGE, "422": INVALID}
        locked = control and bool(self.config.tokens)
        if locked:
            responses = {**responses, "401": UNAUTHORIZED}
        operation["responses"] = dict(sorted(responses.items()))
        # `security: []` states that the operation is open whatever the global default.
        operation["security"] = [{BEARER: []}] if locked else []
        return operation

    def options(
        self, operation_id: str, status: str = "200", others: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An OPTIONS answer: open, no body, the allowed methods in `Allow`."""
        allowed = _response("The methods this path allows.", headers=ALLOW)
        responses = {status: allowed, **(others or {})}
        summary = "Allowed methods (CORS preflight)"
        return self.operation(operation_id, summary, responses, control=False)

    def read_path(
        self, get: dict[str, Any], options: dict[str, Any] | None = None, **item: Any
    ) -> dict[str, Any]:
        """A path item with GET, its HEAD twin and OPTIONS (Flask's automatic one by default)."""
        head = copy.deepcopy(get)
        head["operationId"] = f"{get['operationId']}_head"
        head["summary"] = f"Headers of: {get['summary']}"
        for response in head["responses"].values():
            response.pop("content", None)  # a HEAD answer never has a body
        options = options or self.options(f"{get['operationId']}_options")
        return {**item, "get": get, "head": head, "options": options}

    def write_path(self, operation: dict[str, Any], method: str = "post") -> dict[str, Any]:
        """A path item with one writing method and Flask's automatic OPTIONS."""
        return {method: operation, "options": self.options(f"{operation['operationId']}_options")}

    def image_path(
        self, operation_id: str, summary: str, others: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """GET, HEAD and OPTIONS of an image route (CONTRACT A.3, B.4, B.5; variants)."""
        # The original's type, that of a variant (`format=`), or a data URI (`as=datauri`).
        media_types = [*sorted(set(IMAGE_MEDIA_TYPES.values())), "text/plain"]
        body = {media_type: {} for media_type in media_types}
        required = ("ETag", "Last-Modified", "Accept-Ranges", "Access-Control-Allow-Origin")
        headers: dict[str, Any] = {n: {"schema": STRING, "required": True} for n in required}
        headers["X-Variant-Cache"] = {"schema": {"enum": ["hit", "miss"]}}
        responses = {
            "200": {
                "description": "The image or its variant.",
                "headers": headers,
                "content": body,
            },
            "206": {"description": "One byte range of it.", "content": body},
            "304": {"description": "The client's copy is current."},
            "404": _response("Not a served image of that directory.", "Detail"),
            "413": _response("The source has too many pixels for a variant.", "Detail"),
            "416": _response("The range is outside the file, or malformed.", "Detail"),
            "422": _response(
                "Bad variant parameters, or an undecodable source.", "ValidationError"
            ),
            "503": _response("The variant cache is busy or unusable; try again.", "Detail"),
            **(others or {}),
        }
        if self.config.signing_key:
            responses["403"] = _response("Missing, wrong or expired signature.", "Detail")
        parameters = [*image_query_parameters(self.config), *IMAGE_HEADER_PARAMETERS]
        get = self.operation(operation_id, summary, responses, control=False, parameters=parameters)
        # The preflight answers before any lookup. Only a path that no route matches (an
        # empty name, `/d/<id>/`) gets a routing 404.
        unrouted = _response("No route matches the name.", "Detail")
        options = self.options(f"{operation_id}_options", "204", {"404": unrouted})
        return self.read_path(get, options)


def build_paths(config: Config) -> dict[str, Any]:
    """Return every path of the API with every method the app serves on it."""
    ops = _Operations(config)

    def ok(schema: str) -> dict[str, Any]:
        return {"200": _response("Success.", schema)}

    def err(description: str) -> dict[str, Any]:
        return _response(description, "Detail")

    load = ops.operation(
        "load_directory",
        "Load (index) a directory and make it current",
        {
            **ok("Loaded"),
            "400": err("Not a directory."),
            "403": err("Outside the allowed roots, or not readable."),
            "404": err("No such directory."),
        },
        body="LoadRequest",
    )
    set_timeout = ops.operation(
        "set_timeout",
        "Set the default timeout and re-arm the current directory's deadline",
        {**ok("TimeoutSet"), "400": err("Negative minutes."), "422": INVALID},
    )
    one = ops.operation(
        "get_directory", "One loaded directory", {**ok("Directory"), "404": NOT_FOUND}
    )
    delete = ops.operation(
        "delete_directory", "Unload one directory", {**ok("Message"), "404": NOT_FOUND}
    )
    page = ops.operation(
        "list_images",
        "One page of a directory's images, sorted by name",
        {**ok("ImagePage"), "404": NOT_FOUND, "422": INVALID},
        parameters=_query_parameters(PageQuery),
    )
    datauris = ops.operation(
        "data_uris",
        "Data URIs of up to 100 images of one directory (failures reported per item)",
        {**ok("DataUris"), "404": NOT_FOUND},
        body="DataUriBatch",
    )
    robots = {"200": {"description": "Allow all.", "content": {"text/plain": {"schema": STRING}}}}
    set_timeout_options = ops.options("set_timeout_options")
    # The preflight does not parse `minutes`: any segment is answered.
    set_timeout_options["parameters"] = [{**MINUTES, "schema": STRING}]
    return {
        "/": ops.read_path(ops.operation("status", "Current directory and timer", ok("Status"))),
        "/load-directory": ops.write_path(load),
        "/unload": ops.write_path(ops.operation("unload", "Unload the current one", ok("Message"))),
        "/timeout": ops.read_path(ops.operation("get_timeout", "Default timeout", ok("Timeout"))),
        "/timeout/{minutes}": {
            "parameters": [MINUTES],
            "post": set_timeout,
            "options": set_timeout_options,
        },
        "/api/directories": ops.read_path(
            ops.operation("list_directories", "Every loaded directory", ok("DirectoryList"))
        ),
        "/api/directories/{id}": {
            **ops.read_path(one, parameters=[DIRECTORY_ID]),
            "delete": delete,
        },
        "/api/directories/{id}/images": ops.read_path(page, parameters=[DIRECTORY_ID]),
        "/api/directories/{id}/datauris": {
            "parameters": [DIRECTORY_ID],
            **ops.write_path(datauris),
        },
        "/images/{name}": {
            "parameters": [IMAGE_NAME],
            **ops.image_path(
                "current_image",
                "An image of the current directory",
                {"400": err("No directory loaded.")},
            ),
        },
        "/d/{id}/{name}": {
            "parameters": [DIRECTORY_ID, IMAGE_NAME],
            **ops.image_path("stable_image", "An image of one directory, by id (stable URL)"),
        },
        "/healthz": ops.read_path(
            ops.operation("healthz", "Liveness check", ok("Health"), control=False)
        ),
        "/robots.txt": ops.read_path(
            ops.operation("robots", "robots.txt: everything allowed", robots, control=False)
        ),
        "/openapi.json": ops.read_path(
            ops.operation("openapi_document", "This document", ok("OpenApiDocument"), control=False)
        ),
    }


def _api_version() -> str:
    # The package version, from the one file that declares it.
    try:
        with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def build_document(config: Config) -> dict[str, Any]:
    """Build the whole document for a server with `config`, without `servers`."""
    bearer = {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <IMAGE_SERVER_TOKEN>` on the control API, "
        "when the server has a token. Images, /healthz, /robots.txt, /openapi.json and "
        "OPTIONS are always open.",
    }
    description = (
        "Stable, fast, safe HTTP URLs for local image folders. Every error is "
        '`{"detail": "<message>"}`; a validation error is a 422 with pydantic\'s error list.'
    )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Lightweight Image Server",
            "version": _api_version(),
            "description": description,
        },
        "paths": build_paths(config),
        "components": {"schemas": component_schemas(), "securitySchemes": {BEARER: bearer}},
    }


def document_for(app: Flask, config: Config, base_url: str) -> dict[str, Any]:
    """Return the document of `app` naming `base_url` as its server (built once per app).

    :param base_url: the request's own base URL or `IMAGE_SERVER_PUBLIC_URL`, no trailing `/`.
    """
    document = app.extensions.get(CACHE_KEY)
    if document is None:
        # Two threads may both build it on the first requests; the results are equal.
        document = app.extensions[CACHE_KEY] = build_document(config)
    head = {"openapi": document["openapi"], "info": document["info"]}
    return {**head, "servers": [{"url": base_url}], **document}
