"""The OpenAPI 3.1 document of the whole HTTP API: its paths, built from `openapi_schemas.py`.

Bodies and queries come from the pydantic models that validate them (`schemas.py`,
`variants/params.py`) and image media types from `mediatypes.py`, so each constraint is
written once; response shapes follow `routes/payloads.py` and docs/API.md. Every operation
the app serves is listed, including the HEAD twin of each GET and the OPTIONS answers;
`tests/test_openapi.py` checks the document against the app's URL map both ways.

The document describes *this* server: the bearer token, the `exp`/`sig` parameters and the
unsigned variant limits follow `IMAGE_SERVER_TOKEN` and `IMAGE_SERVER_SIGNING_KEY`. Nothing
changes while the server runs except `servers` (the request's own base URL, or
`IMAGE_SERVER_PUBLIC_URL`), so `document_for` builds the rest once per app.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask

from imageserver.hotpath.media_types import IMAGE_MEDIA_TYPES
from imageserver.settings.config import Config
from imageserver.settings.version import package_version
from imageserver.web.openapi.publish import publish_paths
from imageserver.web.openapi.publish import publish_schemas
from imageserver.web.openapi.schemas import ALLOW
from imageserver.web.openapi.schemas import BEARER
from imageserver.web.openapi.schemas import DIRECTORY_ID
from imageserver.web.openapi.schemas import IMAGE_HEADER_PARAMETERS
from imageserver.web.openapi.schemas import IMAGE_NAME
from imageserver.web.openapi.schemas import INVALID
from imageserver.web.openapi.schemas import JSON
from imageserver.web.openapi.schemas import MINUTES
from imageserver.web.openapi.schemas import NOT_FOUND
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import TOO_LARGE
from imageserver.web.openapi.schemas import UNAUTHORIZED
from imageserver.web.openapi.schemas import Schema
from imageserver.web.openapi.schemas import component_schemas
from imageserver.web.openapi.schemas import image_query_parameters
from imageserver.web.openapi.schemas import query_parameters
from imageserver.web.openapi.schemas import ref
from imageserver.web.openapi.schemas import response_spec
from imageserver.web.schemas import PageQuery

OPENAPI_VERSION = "3.1.0"
CACHE_KEY = "imageserver.web.openapi.document"


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
            content = {JSON: {"schema": ref(body)}}
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
        allowed = response_spec("The methods this path allows.", headers=ALLOW)
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
        """GET, HEAD and OPTIONS of an image route (docs/API.md#images, B.4, B.5; variants)."""
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
            "404": response_spec("Not a served image of that directory.", "Detail"),
            "413": response_spec("The source has too many pixels for a variant.", "Detail"),
            "416": response_spec("The range is outside the file, or malformed.", "Detail"),
            "422": response_spec(
                "Bad variant parameters, or an undecodable source.", "ValidationError"
            ),
            "503": response_spec("The variant cache is busy or unusable; try again.", "Detail"),
            **(others or {}),
        }
        if self.config.signing_key:
            responses["403"] = response_spec("Missing, wrong or expired signature.", "Detail")
        parameters = [*image_query_parameters(self.config), *IMAGE_HEADER_PARAMETERS]
        get = self.operation(operation_id, summary, responses, control=False, parameters=parameters)
        # The preflight answers before any lookup. Only a path that no route matches (an
        # empty name, `/d/<id>/`) gets a routing 404.
        unrouted = response_spec("No route matches the name.", "Detail")
        options = self.options(f"{operation_id}_options", "204", {"404": unrouted})
        return self.read_path(get, options)


def build_paths(config: Config) -> dict[str, Any]:
    """Return every path of the API with every method the app serves on it."""
    ops = _Operations(config)

    def ok(schema: str) -> dict[str, Any]:
        return {"200": response_spec("Success.", schema)}

    def err(description: str) -> dict[str, Any]:
        return response_spec(description, "Detail")

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
        parameters=query_parameters(PageQuery),
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
        **publish_paths(ops),
        "/healthz": ops.read_path(
            ops.operation("healthz", "Liveness check", ok("Health"), control=False)
        ),
        "/robots.txt": ops.read_path(
            ops.operation("robots", "robots.txt: everything allowed", robots, control=False)
        ),
        "/readyz": ops.read_path(
            ops.operation(
                "readyz",
                "Readiness: the state database answers and its directory is writable",
                {**ok("Ready"), "503": err("Not ready; the detail says why.")},
                control=False,
            )
        ),
        "/metrics": ops.read_path(
            ops.operation(
                "metrics",
                "Prometheus metrics of every worker, and the state gauges",
                {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": STRING}},
                    },
                    "404": err("Metrics are disabled (IMAGE_SERVER_METRICS=false)."),
                },
            )
        ),
        "/openapi.json": ops.read_path(
            ops.operation("openapi_document", "This document", ok("OpenApiDocument"), control=False)
        ),
    }


def _api_version() -> str:
    # The package version, from the one file that declares it (works installed too).
    return package_version()


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
        "components": {
            "schemas": {**component_schemas(), **publish_schemas()},
            "securitySchemes": {BEARER: bearer},
        },
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
