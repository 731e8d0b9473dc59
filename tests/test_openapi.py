"""`GET /openapi.json`: a valid OpenAPI 3.1 document that matches the app's real routes.

The document is fetched over HTTP from the real server. Its paths and methods are compared,
both ways, with the Flask URL map of the same code, so a route added without documentation
(or documentation left behind by a removed route) fails here. Whether requests and answers
match the document is `tests/test_fuzz.py`'s job.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from flask import Flask

from imageserver.engines.app import create_app
from imageserver.settings.config import Config
from imageserver.variants.params import UNSIGNED_SIZES
from imageserver.web.openapi.document import document_for
from imageserver.web.schemas import MAX_PAGE_LIMIT
from imageserver.web.schemas import LoadRequest
from tests.conftest import Api
from tests.support.server import ServerProcess

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Flask's argument names that the contract spells differently (`/d/{id}/{name}`).
ARGUMENT_NAMES = {"dir_id": "id"}
FLASK_ARGUMENT = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")  # <name> or <converter:name>
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TOKEN = "docs-token"
PUBLIC_URL = "https://frames.example.test"
# The open routes that answer images (and variants): the contact sheet is one (#23).
IMAGE_PATHS = ("/images/{name}", "/d/{id}/{name}", "/d/{id}/sheet")


def openapi_path(flask_rule: str) -> str:
    """Turn a Flask rule (`/d/<dir_id>/<path:name>`) into an OpenAPI path (`/d/{id}/{name}`)."""
    return FLASK_ARGUMENT.sub(lambda m: "{" + ARGUMENT_NAMES.get(m[1], m[1]) + "}", flask_rule)


def app_routes(app: Flask) -> dict[str, set[str]]:
    """Return every path the app routes, with the methods it serves there (HEAD, OPTIONS too)."""
    routes: dict[str, set[str]] = defaultdict(set)
    for rule in app.url_map.iter_rules():
        # Flask's default static folder, and the gallery's HTML pages, their static files and
        # the JSON calls only their script makes (docs/API.md#the-gallery): for people, not the API.
        if rule.endpoint != "static" and not rule.endpoint.startswith("gallery."):
            routes[openapi_path(rule.rule)] |= rule.methods or set()
    return dict(routes)


def documented_routes(document: dict[str, Any]) -> dict[str, set[str]]:
    """Return every documented path with its documented methods, upper-case."""
    return {
        path: {method.upper() for method in item if method in HTTP_METHODS}
        for path, item in document["paths"].items()
    }


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (path, method, operation) for every documented operation."""
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def image_query(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return an operation's query parameters by name."""
    return {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}


def fetch_document(base_url: str) -> dict[str, Any]:
    """GET the document without any credentials and check how it is served."""
    response = requests.get(base_url + "/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


@pytest.fixture
def flask_app(tmp_path: Path) -> Flask:
    """The app built from the same code as the server, to read its URL map."""
    return create_app(Config(state_dir=str(tmp_path / "state")), start_sweeper=False)


@pytest.fixture
def locked_server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """A server with a token, a signing key and a public URL."""
    env = {
        "IMAGE_SERVER_TOKEN": TOKEN,
        "IMAGE_SERVER_SIGNING_KEY": "docs-signing-key",
        "IMAGE_SERVER_PUBLIC_URL": PUBLIC_URL + "/",
    }
    return server_factory(env=env)


def test_every_route_is_documented_with_exactly_its_methods(api: Api, flask_app: Flask) -> None:
    document = fetch_document(api.base_url)
    assert documented_routes(document) == app_routes(flask_app)


def test_document_lists_every_contract_route(api: Api) -> None:
    contract_paths = {
        "/",
        "/load-directory",
        "/unload",
        "/timeout",
        "/timeout/{minutes}",
        "/images/{name}",
        "/d/{id}/{name}",
        "/d/{id}/sheet",
        "/api/directories",
        "/api/directories/{id}",
        "/api/directories/{id}/images",
        "/healthz",
        "/robots.txt",
        "/openapi.json",
    }
    assert contract_paths <= set(fetch_document(api.base_url)["paths"])


def test_document_is_valid_openapi_3_1(api: Api) -> None:
    document = fetch_document(api.base_url)
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    # That meta-schema leaves the embedded JSON Schemas alone: check each one too.
    embedded = list(document["components"]["schemas"].values())
    for _, _, operation in operations(document):
        embedded += [parameter["schema"] for parameter in operation.get("parameters", [])]
    for path_item in document["paths"].values():
        embedded += [parameter["schema"] for parameter in path_item.get("parameters", [])]
    for schema in embedded:
        jsonschema_rs.meta.validate({"$schema": JSON_SCHEMA_DIALECT, **schema})


def test_servers_is_the_requests_own_base_url(api: Api) -> None:
    assert fetch_document(api.base_url)["servers"] == [{"url": api.base_url}]


def test_unlocked_server_documents_no_token_and_no_signature(api: Api) -> None:
    document = fetch_document(api.base_url)
    for path, method, operation in operations(document):
        assert operation["security"] == [], (method, path)
        assert "401" not in operation["responses"], (method, path)
    for path in IMAGE_PATHS:
        query = image_query(document["paths"][path]["get"])
        assert not {"exp", "sig"} & set(query)
        # Unsigned URLs take the listed variant sizes only.
        assert query["w"]["schema"]["enum"] == list(UNSIGNED_SIZES)


def test_locked_server_documents_its_token_signatures_and_public_url(
    locked_server: ServerProcess,
) -> None:
    # Served without a token: the document reveals no state.
    document = fetch_document(locked_server.base_url)
    assert document["servers"] == [{"url": PUBLIC_URL}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # /readyz is open like /healthz: supervisors and orchestrators probe without a token.
    open_paths = {"/healthz", "/readyz", "/robots.txt", "/openapi.json"}
    open_paths |= set(IMAGE_PATHS)
    for path, method, operation in operations(document):
        control = path not in open_paths and method != "options"
        assert operation["security"] == ([{"bearerAuth": []}] if control else []), (method, path)
        assert ("401" in operation["responses"]) == control, (method, path)
    for path in IMAGE_PATHS:
        for method in ("get", "head"):
            operation = document["paths"][path][method]
            query = image_query(operation)
            assert query["exp"]["required"] and query["sig"]["required"]
            assert "enum" not in query["w"]["schema"]  # signed URLs take any size in range
            assert "403" in operation["responses"]


def test_head_twins_have_no_body_and_options_are_open(api: Api) -> None:
    document = fetch_document(api.base_url)
    for path, item in document["paths"].items():
        if "get" in item:
            assert set(item["head"]["responses"]) == set(item["get"]["responses"]), path
            assert all("content" not in r for r in item["head"]["responses"].values()), path
        assert item["options"]["security"] == [], path


def test_constraints_come_from_the_request_models(api: Api) -> None:
    document = fetch_document(api.base_url)
    body = document["components"]["schemas"]["LoadRequest"]
    assert set(LoadRequest.model_fields) <= set(body["properties"])
    assert (
        "directory" in body["properties"]
    )  # the old name of `path` (docs/API.md#post-load-directory)
    listing = document["paths"]["/api/directories/{id}/images"]["get"]
    query = {p["name"]: p["schema"] for p in listing["parameters"] if p["in"] == "query"}
    assert query["limit"]["minimum"] == 1
    assert query["limit"]["maximum"] == MAX_PAGE_LIMIT
    assert query["offset"]["minimum"] == 0
    assert document["paths"]["/timeout/{minutes}"]["parameters"][0]["schema"]["type"] == "integer"


def test_document_is_built_once_per_app(flask_app: Flask) -> None:
    config = Config()
    first = document_for(flask_app, config, "http://one.test")
    second = document_for(flask_app, config, "http://two.test")
    assert first["paths"] is second["paths"]
    assert (first["servers"], second["servers"]) == (
        [{"url": "http://one.test"}],
        [{"url": "http://two.test"}],
    )
