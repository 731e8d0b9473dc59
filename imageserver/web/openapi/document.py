"""The OpenAPI 3.1 document of the whole HTTP API: its paths, built from `schemas.py`.

Bodies and queries come from the pydantic models that validate them (`web/schemas.py`,
`variants/params.py`) and image media types from `settings/media_types.py` (through
`operations.py`), so each constraint is written once; response shapes follow
`web/routes/payloads.py` and docs/API.md. Every operation
the app serves is listed, including the HEAD twin of each GET and the OPTIONS answers;
`tests/test_openapi.py` checks the document against the app's URL map both ways.

The document describes *this* server: the bearer token, the `exp`/`sig` parameters and the
unsigned variant limits follow `IMAGE_SERVER_TOKEN` and `IMAGE_SERVER_SIGNING_KEY`. Nothing
changes while the server runs except `servers` (the request's own base URL, or
`IMAGE_SERVER_PUBLIC_URL`), so `document_for` builds the rest once per app.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from imageserver.settings.config import Config
from imageserver.settings.version import package_version
from imageserver.web.openapi.components import component_schemas
from imageserver.web.openapi.operations import Operations
from imageserver.web.openapi.publish import publish_paths
from imageserver.web.openapi.publish import publish_schemas
from imageserver.web.openapi.schemas import BEARER
from imageserver.web.openapi.schemas import DIRECTORY_ID
from imageserver.web.openapi.schemas import IMAGE_NAME
from imageserver.web.openapi.schemas import INVALID
from imageserver.web.openapi.schemas import MINUTES
from imageserver.web.openapi.schemas import NOT_FOUND
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import query_parameters
from imageserver.web.openapi.schemas import response_spec
from imageserver.web.openapi.sheets import sheet_url_paths
from imageserver.web.openapi.sheets import sheet_url_schemas
from imageserver.web.openapi.uploads import upload_paths
from imageserver.web.openapi.uploads import upload_schemas
from imageserver.web.schemas import PageQuery
from imageserver.web.schemas import SheetQuery

OPENAPI_VERSION = "3.1.0"
CACHE_KEY = "imageserver.web.openapi.document"


def build_paths(config: Config) -> dict[str, Any]:
    """Return every path of the API with every method the app serves on it."""
    ops = Operations(config)

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
        "One page of a directory's images, sorted by name (or just the one `name` asks for)",
        {
            **ok("ImagePage"),
            "404": err("Unknown directory id, or `name` is not in the listing."),
            "422": INVALID,
        },
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
        **sheet_url_paths(ops),
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
        "/d/{id}/sheet": {
            "parameters": [DIRECTORY_ID],
            **ops.image_path(
                "contact_sheet",
                "A labelled grid of up to 36 frames of one directory (contact sheet)",
                own_parameters=query_parameters(SheetQuery),
            ),
        },
        "/d/{id}/{name}": {
            "parameters": [DIRECTORY_ID, IMAGE_NAME],
            **ops.image_path("stable_image", "An image of one directory, by id (stable URL)"),
        },
        **publish_paths(ops),
        **upload_paths(ops),
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
            "schemas": {
                **component_schemas(),
                **publish_schemas(),
                **upload_schemas(),
                **sheet_url_schemas(),
            },
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
