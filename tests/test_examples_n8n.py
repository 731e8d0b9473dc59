"""The n8n workflows in examples/n8n/: importable as n8n reads them, and replayed for real.

Structure: the fields n8n's importer needs on every node, connections between existing
nodes, HTTP Request nodes at typeVersion 4.2, placeholder credentials only, expressions
inside the subset the replay evaluates, and every image-server route a node calls present
in the real server's /openapi.json. Replay: tests/support/n8n_replay.py runs each workflow
node by node against the real server and the vendor stand-in (tests/support/vendor_stub.py),
which checks every request body against the vendor's documented shape.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.images import make_frames
from tests.support.n8n_expr import ExpressionError
from tests.support.n8n_expr import compile_expression
from tests.support.n8n_replay import Replay
from tests.support.n8n_template import evaluate
from tests.support.n8n_template import expressions_in
from tests.support.server import PROJECT_ROOT
from tests.support.vendor_stub import VECTOR
from tests.support.vendor_stub import VendorStub

WORKFLOWS = sorted((PROJECT_ROOT / "examples" / "n8n").glob("*.json"))
PLACEHOLDER = "REPLACE_WITH_YOUR_CREDENTIAL"
SERVER_PREFIX = re.compile(r"^=\{\{ (?:\$json|\$\('Settings'\)\.item\.json)\.image_server \}\}")
TOKEN = "n8n-test-token"
CREDENTIALS = {
    "Image server token": ("Authorization", f"Bearer {TOKEN}"),
    "Voyage API key": ("Authorization", "Bearer voyage-test-key"),
    "Cohere API key": ("Authorization", "Bearer cohere-test-key"),
}


def load_workflow(name: str) -> dict:
    return json.loads((PROJECT_ROOT / "examples" / "n8n" / name).read_text(encoding="utf-8"))


@pytest.fixture
def stub() -> Iterator[VendorStub]:
    """A vendor stand-in for one test."""
    with VendorStub() as running:
        yield running


def test_the_three_workflows_of_the_issue_are_shipped() -> None:
    assert [path.name for path in WORKFLOWS] == [
        "01-load-page-unload.json",
        "02-voyage-embeddings-pgvector.json",
        "03-cohere-datauri-embeddings.json",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_node_has_what_the_importer_reads(path: Path) -> None:
    workflow = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(workflow["name"], str) and workflow["name"]
    names = [node["name"] for node in workflow["nodes"]]
    ids = [node["id"] for node in workflow["nodes"]]
    assert len(set(names)) == len(names) and len(set(ids)) == len(ids)
    for node in workflow["nodes"]:
        uuid.UUID(node["id"])
        assert node["type"].startswith("n8n-nodes-base."), node["name"]
        assert isinstance(node["typeVersion"], (int, float))
        assert len(node["position"]) == 2 and all(isinstance(v, int) for v in node["position"])
        assert isinstance(node["parameters"], dict)
        if node["type"] == "n8n-nodes-base.httpRequest":
            assert node["typeVersion"] == 4.2, node["name"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_connections_link_existing_nodes_into_one_chain(path: Path) -> None:
    workflow = json.loads(path.read_text(encoding="utf-8"))
    names = {node["name"] for node in workflow["nodes"]}
    reached, frontier = set(), ["Start"]
    for source, outputs in workflow["connections"].items():
        assert source in names
        for branch in outputs["main"]:
            for link in branch:
                assert link["node"] in names and link["type"] == "main" and link["index"] == 0
    while frontier:
        name = frontier.pop()
        reached.add(name)
        for branch in workflow["connections"].get(name, {}).get("main", []):
            frontier.extend(link["node"] for link in branch)
    assert reached == names, "every node runs from the trigger"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_credentials_are_placeholders_and_no_secret_is_shipped(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    workflow = json.loads(text)
    for node in workflow["nodes"]:
        for credential in node.get("credentials", {}).values():
            assert credential["id"] == PLACEHOLDER and credential["name"]
    assert "Bearer " not in text and "sk-" not in text and "apiKey" not in text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_expression_is_inside_the_replayed_subset(path: Path) -> None:
    workflow = json.loads(path.read_text(encoding="utf-8"))
    expressions = expressions_in(workflow["nodes"])
    assert expressions
    for expression in expressions:
        compile_expression(expression)


def server_routes(workflow: dict) -> list[tuple[str, str]]:
    """(method, path template) of every HTTP node that calls the image server."""
    routes = []
    for node in workflow["nodes"]:
        if node["type"] != "n8n-nodes-base.httpRequest":
            continue
        url = node["parameters"]["url"]
        if SERVER_PREFIX.match(url):
            path = SERVER_PREFIX.sub("", url).split("?", 1)[0]
            routes.append(
                (node["parameters"]["method"].lower(), re.sub(r"\{\{.*?\}\}", "{}", path))
            )
    return routes


def test_every_route_the_workflows_call_is_in_openapi(shared_server) -> None:
    document = requests.get(shared_server.url("/openapi.json"), timeout=10).json()
    served = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in document["paths"].items()
        for method in operations
    }
    called = {route for path in WORKFLOWS for route in server_routes(json.loads(path.read_text()))}
    assert called == {
        ("post", "/load-directory"),
        ("get", "/api/directories/{}/images"),
        ("delete", "/api/directories/{}"),
        ("post", "/api/directories/{}/datauris"),
    }
    assert called <= served


def test_load_page_unload_replays_against_a_locked_server(server_factory, frames: Path) -> None:
    server = server_factory(env={"IMAGE_SERVER_TOKEN": TOKEN})
    settings = {"image_server": server.base_url, "folder": str(frames), "page_size": 2}
    replay = Replay(load_workflow("01-load-page-unload.json"), CREDENTIALS, {"Settings": settings})
    outputs = replay.run()

    dir_id = outputs["Load folder"][0].json["id"]
    pages = [sent for sent in replay.sent if sent.node == "List images"]
    assert len(pages) == 3  # 5 frames, 2 per page, following `next`
    urls = [item.json["url"] for item in outputs["One item per image"]]
    assert urls == [f"{server.base_url}/d/{dir_id}/frame_00000{i}.jpg" for i in range(5)]
    assert [sent.method for sent in replay.sent if sent.node == "Unload folder"] == ["DELETE"]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listing = requests.get(server.url("/api/directories"), headers=auth, timeout=10).json()
    assert listing["directories"] == []


def test_voyage_workflow_embeds_each_frame_and_inserts_it(api, stub, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 3)
    settings = {
        "image_server": api.base_url,
        "folder": str(folder),
        "page_size": 2,
        "voyage_api": stub.base_url + "/v1",
    }
    workflow = load_workflow("02-voyage-embeddings-pgvector.json")
    replay = Replay(workflow, CREDENTIALS, {"Settings": settings})
    outputs = replay.run()

    assert stub.problems() == []
    assert len(stub.calls_to("voyage")) == 3
    assert {image.source for image in stub.images} == {"url"}
    dir_id = outputs["Load folder"][0].json["id"]
    assert [values[:2] for _, values in replay.queries] == [
        [dir_id, f"frame_00000{i}.jpg"] for i in range(3)
    ]
    for _, (_, name, url, vector) in replay.queries:
        assert url == f"{api.base_url}/d/{dir_id}/{name}?preset=voyage"
        assert json.loads(vector) == VECTOR  # pgvector's text form is a JSON array
    assert api.get(f"/api/directories/{dir_id}").status_code == 200  # stays loaded


def test_cohere_workflow_embeds_the_data_uris_that_worked(api, stub, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 3)
    (folder / "broken.png").write_bytes(b"\x89PNG truncated")
    settings = {
        "image_server": api.base_url,
        "folder": str(folder),
        "page_size": 2,
        "cohere_api": stub.base_url,
    }
    workflow = load_workflow("03-cohere-datauri-embeddings.json")
    replay = Replay(workflow, CREDENTIALS, {"Settings": settings})
    outputs = replay.run()

    assert stub.problems() == []
    assert [sent.node for sent in replay.sent].count("Fetch data URIs") == 2
    assert len(outputs["One item per image"]) == 4
    dir_id = outputs["Load folder"][0].json["id"]
    assert [item.json for item in outputs["Vectors"]] == [
        {"directory_id": dir_id, "name": f"frame_00000{i}.jpg", "embedding": VECTOR}
        for i in range(3)
    ]
    assert {image.source for image in stub.images} == {"data"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # A JSON body ends in `}}` right after an expression: not the expression's end.
        ('={"a": {"b": {{ $json.n }}}}', '{"a": {"b": 3}}'),
        ("={{ [$json.n, $json.s] }}", [3, "x"]),  # one expression keeps its type
        ("={{ $json.s }}/{{ $json.n }}", "x/3"),
        ("={{ JSON.stringify($json.list.map(item => item.k)) }}", '["p","q"]'),
        ("={{ $json.missing?.k === undefined }}", True),
        ("plain text", "plain text"),
    ],
)
def test_templates_resolve_as_n8n_resolves_them(template: str, expected: object) -> None:
    scope = {"$json": {"n": 3, "s": "x", "list": [{"k": "p"}, {"k": "q"}], "missing": None}}
    assert evaluate(template, scope) == expected


def test_reading_a_missing_field_fails_instead_of_sending_undefined() -> None:
    with pytest.raises(ExpressionError, match="no field 'url'"):
        evaluate('={"image_url": "{{ $json.url }}"}', {"$json": {"name": "a.jpg"}})


def test_an_object_spliced_into_text_fails_as_it_would_break_the_body() -> None:
    # n8n would send "[object Object]" here; the workflows use JSON.stringify instead.
    with pytest.raises(ExpressionError, match="JSON.stringify"):
        evaluate('={"inputs": {{ $json.inputs }}}', {"$json": {"inputs": [{"a": 1}]}})
