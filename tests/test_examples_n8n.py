"""The n8n workflows in examples/n8n/, run by real n8n against the real server.

Each workflow is imported into an isolated n8n instance (tests/support/n8n_cli.py) with its
Settings node aimed at a real `python server.py` on a loopback port, the vendor stand-in
(tests/support/vendor_stub.py, which checks every request body against the vendor's
documented shape) and, for workflow 2, a throwaway PostgreSQL with pgvector
(tests/support/postgres.py). The assertions read n8n's own execution data (items per node,
no node error) and the server's and the database's state afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.images import make_frames
from tests.support.n8n_cli import PLACEHOLDER
from tests.support.n8n_cli import Execution
from tests.support.n8n_cli import N8n
from tests.support.n8n_cli import require_n8n
from tests.support.postgres import PostgresServer
from tests.support.postgres import require_pg_bin
from tests.support.server import PROJECT_ROOT
from tests.support.server import ServerProcess
from tests.support.vendor_stub import VECTOR
from tests.support.vendor_stub import VendorStub

WORKFLOWS = sorted((PROJECT_ROOT / "examples" / "n8n").glob("*.json"))
SERVER_PREFIX = re.compile(
    r"^=\{\{ (?:\$json|\$\('Settings'\)\.(?:item|first\(\))\.json)\.image_server \}\}"
)
TOKEN = "n8n-test-token"
MCP_CLIENT_TOOL = "@n8n/n8n-nodes-langchain.mcpClientTool"
pytestmark = pytest.mark.timeout(300)  # each n8n command starts n8n afresh: seconds apiece
VECTOR_TEXT = "[" + ",".join(f"{value:g}" for value in VECTOR) + "]"  # pgvector's text form


def load_workflow(name: str) -> dict:
    return json.loads((PROJECT_ROOT / "examples" / "n8n" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """PostgreSQL with pgvector for the module; stopped by PID at the end."""
    server = PostgresServer(require_pg_bin()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def n8n(tmp_path_factory: pytest.TempPathFactory) -> N8n:
    """One isolated n8n instance for the module, with the header credentials the workflows name."""
    instance = N8n(require_n8n(), tmp_path_factory.mktemp("n8n-user"))
    instance.import_credentials(
        {
            name: ("httpHeaderAuth", {"name": "Authorization", "value": f"Bearer {secret}"})
            for name, secret in (
                ("Image server token", TOKEN),
                ("Voyage API key", "voyage-key"),
                ("Cohere API key", "cohere-key"),
                ("OpenAI API key", "openai-key"),
            )
        }
    )
    return instance


@pytest.fixture(scope="module")
def n8n_pg(n8n: N8n, pg: PostgresServer) -> N8n:
    """The module's n8n with the `Postgres (pgvector)` credential aimed at `pg`."""
    data = {"host": "127.0.0.1", "port": pg.port, "database": "postgres", "user": pg.user}
    n8n.import_credentials({"Postgres (pgvector)": ("postgres", {**data, "ssl": "disable"})})
    return n8n


@pytest.fixture
def server(server_factory) -> ServerProcess:
    """A real server that wants the token, as the README tells users to run it."""
    return server_factory(env={"IMAGE_SERVER_TOKEN": TOKEN})


@pytest.fixture
def stub() -> Iterator[VendorStub]:
    """A vendor stand-in for one test."""
    with VendorStub() as running:
        yield running


def directories(server: ServerProcess) -> list[dict]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = requests.get(server.url("/api/directories"), headers=auth, timeout=10)
    return answer.json()["directories"]


def assert_clean(execution: Execution) -> None:
    """The run succeeded and no node failed (message carries n8n's own error)."""
    assert execution.node_errors() == {}, execution.node_errors()
    assert execution.ok, (execution.exit_code, execution.error)


def test_the_workflows_of_the_issues_are_shipped() -> None:
    assert [path.name for path in WORKFLOWS] == [
        "01-load-page-unload.json",
        "02-voyage-embeddings-pgvector.json",
        "03-cohere-datauri-embeddings.json",
        "04-binary-to-url.json",
        "05-agent-over-mcp.json",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_credentials_are_placeholders_and_no_secret_is_shipped(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for node in json.loads(text)["nodes"]:
        for credential in node.get("credentials", {}).values():
            assert credential["id"] == PLACEHOLDER and credential["name"]
    assert "Bearer " not in text and "sk-" not in text and "apiKey" not in text


def server_routes(workflow: dict) -> set[tuple[str, str]]:
    """(method, path template) of every HTTP or MCP client node that calls the image server."""
    routes = set()
    for node in workflow["nodes"]:
        url = node["parameters"].get("url", "")
        endpoint = node["parameters"].get("endpointUrl", "")
        if node["type"] == MCP_CLIENT_TOOL and SERVER_PREFIX.match(endpoint):
            routes.add(("post", SERVER_PREFIX.sub("", endpoint)))  # JSON-RPC over POST
        if node["type"] == "n8n-nodes-base.httpRequest" and SERVER_PREFIX.match(url):
            path = SERVER_PREFIX.sub("", url).split("?", 1)[0]
            method = node["parameters"].get("method", "GET").lower()
            routes.add((method, re.sub(r"\{\{.*?\}\}", "{}", path)))
    return routes


def served_routes(server_url: str) -> set[tuple[str, str]]:
    document = requests.get(server_url + "/openapi.json", timeout=10).json()
    return {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_every_route_the_workflows_call_is_served(shared_server) -> None:
    called = set().union(*(server_routes(json.loads(p.read_text())) for p in WORKFLOWS))
    assert called == {
        ("post", "/load-directory"),
        ("get", "/api/directories/{}/images"),
        ("delete", "/api/directories/{}"),
        ("post", "/api/directories/{}/datauris"),
        ("post", "/api/uploads"),
        ("post", "/mcp"),
    }
    assert called - {("post", "/mcp")} <= served_routes(shared_server.base_url)
    # `/mcp` speaks JSON-RPC, so it is not in the OpenAPI document: it answers MCP instead.
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    answer = requests.post(shared_server.url("/mcp"), json=listing, headers=accept, timeout=30)
    assert "list_images" in {tool["name"] for tool in answer.json()["result"]["tools"]}


def test_real_n8n_imports_every_workflow_as_shipped(n8n: N8n) -> None:
    # Placeholder credentials and all, as `n8n import:workflow --input=<file>` reads them.
    workflows = [json.loads(path.read_text(encoding="utf-8")) for path in WORKFLOWS]
    assert all(workflow.get("versionId") for workflow in workflows)  # the importer needs it
    ids = N8n(n8n.binary, n8n.user_folder).import_workflows(workflows)
    assert len(set(ids)) == len(WORKFLOWS)


def test_load_page_unload(n8n: N8n, server: ServerProcess, frames: Path) -> None:
    settings = {"image_server": server.base_url, "folder": str(frames), "page_size": 2}
    workflow_id = n8n.import_workflow(
        load_workflow("01-load-page-unload.json"), {"Settings": settings}
    )
    execution = n8n.execute(workflow_id)

    assert_clean(execution)
    dir_id = execution.items("Load folder")[0]["id"]
    assert execution.counts() == {
        "Start": 1,
        "Settings": 1,
        "Load folder": 1,
        "List images": 3,  # 5 frames, 2 per page: n8n followed `next` twice
        "One item per image": 5,
        "Use the URLs here": 5,
        "Unload folder": 1,  # executeOnce: one DELETE, not one per image
    }
    urls = [item["url"] for item in execution.items("One item per image")]
    assert urls == [f"{server.base_url}/d/{dir_id}/frame_00000{i}.jpg" for i in range(5)]
    assert directories(server) == []


def test_voyage_embeddings_land_in_pgvector(
    n8n_pg: N8n, server: ServerProcess, stub: VendorStub, pg: PostgresServer, tmp_path: Path
) -> None:
    pg.sql("DROP TABLE IF EXISTS frame_embeddings")
    pg.sql(  # the README's table, with the stand-in's 4 dimensions instead of 1024
        "CREATE TABLE frame_embeddings (directory_id text NOT NULL, name text NOT NULL,"
        " url text NOT NULL, embedding vector(4) NOT NULL, PRIMARY KEY (directory_id, name))"
    )
    folder = tmp_path / "frames"
    make_frames(folder, 3)
    settings = {
        "image_server": server.base_url,
        "folder": str(folder),
        "page_size": 2,
        "voyage_api": stub.base_url + "/v1",
    }
    workflow = load_workflow("02-voyage-embeddings-pgvector.json")
    execution = n8n_pg.execute(n8n_pg.import_workflow(workflow, {"Settings": settings}))

    assert_clean(execution)
    assert stub.problems() == []
    assert len(stub.calls_to("voyage")) == 3
    assert {image.source for image in stub.images} == {"url"}
    counts = execution.counts()
    assert (counts["List frames"], counts["One item per frame"]) == (2, 3)
    # One statement per item, in one batch; a query that returns no rows outputs one
    # `{"success": true}` for the batch, so the rows themselves are the evidence.
    assert execution.items("Insert into pgvector") == [{"success": True}]
    dir_id = execution.items("Load folder")[0]["id"]
    rows = pg.sql(
        "SELECT directory_id, name, url, embedding::text FROM frame_embeddings ORDER BY 2"
    )
    assert rows == [
        [dir_id, name, f"{server.base_url}/d/{dir_id}/{name}?preset=voyage", VECTOR_TEXT]
        for name in (f"frame_00000{i}.jpg" for i in range(3))
    ]
    assert [d["id"] for d in directories(server)] == [dir_id]  # stays loaded: URLs in the DB


def test_cohere_embeds_the_data_uris_that_worked(
    n8n: N8n, server: ServerProcess, stub: VendorStub, tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 3)
    (folder / "broken.png").write_bytes(b"\x89PNG truncated")
    settings = {
        "image_server": server.base_url,
        "folder": str(folder),
        "page_size": 2,
        "cohere_api": stub.base_url,
    }
    workflow = load_workflow("03-cohere-datauri-embeddings.json")
    execution = n8n.execute(n8n.import_workflow(workflow, {"Settings": settings}))

    assert_clean(execution)
    assert stub.problems() == []
    counts = execution.counts()
    assert counts["Fetch data URIs"] == 2  # one call per page of the listing
    assert counts["One item per image"] == 4
    assert counts["Only the ones that worked"] == 3  # broken.png filtered out
    dir_id = execution.items("Load folder")[0]["id"]
    assert execution.items("Vectors") == [
        {"directory_id": dir_id, "name": f"frame_00000{i}.jpg", "embedding": VECTOR}
        for i in range(3)
    ]
    assert {image.source for image in stub.images} == {"data"}


def test_binary_images_are_uploaded_and_described_by_url(
    n8n: N8n, server: ServerProcess, stub: VendorStub, tmp_path: Path
) -> None:
    # The images to download: served by the server itself from a folder of its own.
    make_frames(tmp_path / "source", 2, ext=".png")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    loaded = requests.post(
        server.url("/load-directory"), json={"path": str(tmp_path / "source")}, headers=auth
    ).json()
    sources = [loaded["url_prefix"] + f"frame_00000{i}.png" for i in range(2)]
    settings = {
        "image_server": server.base_url,
        "source_urls": sources,
        "openai_api": stub.base_url + "/v1",
    }
    workflow = load_workflow("04-binary-to-url.json")
    execution = n8n.execute(n8n.import_workflow(workflow, {"Settings": settings}))

    assert_clean(execution)
    assert stub.problems() == []
    uploads = execution.items("One item per upload")
    assert [image["name"] for image in uploads] == ["frame_000000.png", "frame_000001.png"]
    assert all(image["media_type"] == "image/png" for image in uploads)
    assert {image.url for image in stub.images} == {image["url"] for image in uploads}
    assert [item["url"] for item in execution.items("Descriptions")] == [
        image["url"] for image in uploads
    ]
    for image in uploads:  # the inbox serves what was uploaded, byte for byte
        served = requests.get(image["url"], timeout=10).content
        assert served == (tmp_path / "source" / image["name"]).read_bytes()
