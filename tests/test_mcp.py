"""MCP (docs/MCP.md) against the real server: both transports, driven by the SDK's own client.

`python server.py` (granian, 2 workers) runs on a free loopback port; `/mcp` is reached with
`streamable_http_client`, and `imageserver mcp --server URL` is spawned with `stdio_client`.
The same scenario runs over both: every tool, the resource template, the presets' limits,
and the errors of an unknown id and of traversal attempts, as the HTTP API words them.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote

import anyio
import httpx2
import pytest
import requests
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import BlobResourceContents
from mcp_types import ImageContent
from mcp_types import ResourceLink
from mcp_types import TextContent
from PIL import Image

from imageserver.variants.presets import PRESETS
from tests.support.images import make_image
from tests.support.live import process_group
from tests.support.mcp_sessions import TRANSPORTS
from tests.support.mcp_sessions import call_error
from tests.support.mcp_sessions import call_ok
from tests.support.mcp_sessions import decoded
from tests.support.mcp_sessions import leaves
from tests.support.mcp_sessions import session_for
from tests.support.mcp_sessions import text_of
from tests.support.s3 import aws_env
from tests.support.s3 import new_bucket
from tests.support.server import PROJECT_ROOT
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until
from tests.support.workers import answered_per_worker

TOKEN = "mcp-test-token"
SIGNING_KEY = "mcp-test-signing-key"
TOOL_NAMES = {
    "list_directories",
    "load_directory",
    "list_images",
    "get_image",
    "get_sheet",
    "image_url",
    "unload_directory",
    "publish",
}
TRAVERSALS = ("../etc/passwd", "sub/../../etc/passwd", "/etc/passwd", "..%2Fetc%2Fpasswd")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Real images: one larger than every preset, a PNG with a space, one in a sub-folder."""
    root = tmp_path / "pictures"
    make_image(root / "big.jpg", size=(3000, 2000), color=3)
    make_image(root / "small with space.png", size=(40, 30), color=5)
    make_image(root / "sub" / "nested.jpg", size=(64, 48), color=7)
    (tmp_path / "secret.jpg").write_bytes((root / "big.jpg").read_bytes())  # outside the root
    return root


def assert_within_preset(picture: Image.Image, preset_name: str) -> None:
    preset = PRESETS[preset_name]
    width, height = picture.size
    if preset.max_side:
        assert max(width, height) <= preset.max_side
    if preset.max_pixels:
        assert width * height <= preset.max_pixels
    if preset.max_bytes:
        assert picture.info["nbytes"] <= preset.max_bytes


async def scenario(session: ClientSession, folder: Path, token: str | None, signed: bool) -> None:
    """Every tool and the resource template, then the errors."""
    tools = (await session.list_tools()).tools
    assert {tool.name for tool in tools} == TOOL_NAMES
    for tool in tools:
        assert tool.description and "\n" not in tool.description
        assert tool.input_schema["type"] == "object"
    load = await call_ok(session, "load_directory", path=str(folder), recursive=True)
    loaded = load.structured_content
    dir_id = loaded["id"]
    assert loaded["image_count"] == 3
    listing = (await call_ok(session, "list_directories")).structured_content
    assert dir_id in [directory["id"] for directory in listing["directories"]]

    page = (await call_ok(session, "list_images", directory_id=dir_id, limit=2)).structured_content
    assert page["total"] == 3
    assert [image["name"] for image in page["images"]] == ["big.jpg", "small with space.png"]
    rest = await call_ok(session, "list_images", directory_id=dir_id, offset=2)
    assert [image["name"] for image in rest.structured_content["images"]] == ["sub/nested.jpg"]
    # `unique` reaches the server's near-duplicate collapse: every kept frame says how many
    # it stands for, and together they stand for all three.
    unique = await call_ok(session, "list_images", directory_id=dir_id, unique=True)
    kept = unique.structured_content["images"]
    assert kept and kept[0]["name"] == "big.jpg"
    assert sum(1 + image["duplicates"] for image in kept) == 3
    assert unique.structured_content["total"] == len(kept)

    for preset in ("claude", "thumb"):
        result = await call_ok(session, "get_image", directory_id=dir_id, name="big.jpg",
                               preset=preset)  # fmt: skip
        image, url, link, note = result.content
        assert isinstance(image, ImageContent) and image.mime_type == "image/jpeg"
        assert_within_preset(decoded(image), preset)
        assert isinstance(url, TextContent) and f"preset={preset}" in url.text
        assert isinstance(link, ResourceLink) and link.uri == url.text
        assert isinstance(note, TextContent) and "3000x2000" in note.text
        assert ("sig=" in url.text) == signed
        big_url = url.text
        served = requests.get(url.text, timeout=30)  # the URL works as handed out, no token
        assert served.status_code == 200 and served.content == base64.b64decode(image.data)
    default = await call_ok(session, "get_image", directory_id=dir_id, name="big.jpg")
    assert default.structured_content["preset"] == "claude"

    for name in ("sub/nested.jpg", "small with space.png"):
        url = text_of(await call_ok(session, "image_url", directory_id=dir_id, name=name))
        assert url.startswith(loaded["url_prefix"] + quote(name))
        assert ("sig=" in url) == signed
        assert requests.get(url, timeout=10).content == (folder / name).read_bytes()

    templates = (await session.list_resource_templates()).resource_templates
    assert [template.uri_template for template in templates] == ["imageserver://d/{id}/{name}"]
    for name in ("big.jpg", "sub/nested.jpg", quote("sub/nested.jpg", safe="")):
        contents = (await session.read_resource(f"imageserver://d/{dir_id}/{name}")).contents
        assert isinstance(contents[0], BlobResourceContents)
        assert base64.b64decode(contents[0].blob) == (folder / unquote(name)).read_bytes()

    # Errors: the HTTP API's detail, verbatim.
    for tool in ("get_image", "image_url"):
        assert await call_error(session, tool, directory_id="no-such-id", name="big.jpg") == (
            "Directory not found: no-such-id"
        )
        for name in TRAVERSALS:
            assert await call_error(session, tool, directory_id=dir_id, name=name) == (
                f"Image not found: {name}"
            )
    with pytest.raises(MCPError, match="Image not found"):
        await session.read_resource(f"imageserver://d/{dir_id}/..%2Fsecret.jpg")
    assert await call_error(session, "list_images", directory_id="no-such-id") == (
        "Directory not found: no-such-id"
    )
    assert "minimum" in await call_error(session, "list_images", directory_id=dir_id, limit=0)
    assert await call_error(session, "publish", directory_id=dir_id, target="s3://b/p") == (
        "Publishing is disabled (IMAGE_SERVER_PUBLISH_TARGETS is unset)"
    )
    denied = await call_error(session, "load_directory", path=str(folder / "missing"))
    assert denied == f"Directory not found: {folder / 'missing'}"

    unloaded = await call_ok(session, "unload_directory", directory_id=dir_id)
    assert unloaded.structured_content["status"] == "success"
    assert await call_error(session, "unload_directory", directory_id=dir_id) == (
        f"Directory not found: {dir_id}"
    )
    assert requests.get(big_url, timeout=10).status_code == 404  # a valid URL, now unloaded


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_tool_on_an_open_server(
    transport: str, folder: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()

    async def main() -> None:
        async with session_for(transport, server) as session:
            await scenario(session, folder, token=None, signed=False)

    anyio.run(main)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_locked_server_with_signed_urls(
    transport: str, folder: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    env = {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_SIGNING_KEY": SIGNING_KEY}
    server = server_factory(env=env)

    async def refused() -> None:
        if transport == "http":  # the SDK client gets the 401 as an MCPError (in task groups)
            with pytest.raises(BaseException) as caught:
                async with session_for(transport, server, token=None) as session:
                    await session.list_tools()
            assert any(isinstance(leaf, MCPError) for leaf in leaves(caught.value)), caught.value
        else:  # stdio starts, but every call is refused by the HTTP API
            async with session_for(transport, server, token="wrong") as session:
                assert await call_error(session, "list_directories") == "Not authenticated"

    async def allowed() -> None:
        async with session_for(transport, server, token=TOKEN) as session:
            await scenario(session, folder, token=TOKEN, signed=True)

    anyio.run(refused)
    anyio.run(allowed)


def test_mcp_without_token_is_401_json(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(env={"IMAGE_SERVER_TOKEN": TOKEN})
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = requests.post(server.url("/mcp"), json=body, headers={**accept, **headers},
                                 timeout=10)  # fmt: skip
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not authenticated"}
    authorised = {**accept, "Authorization": f"Bearer {TOKEN}"}
    for method in ("GET", "DELETE"):  # stateless: no SSE stream to open, no session to end
        response = requests.request(method, server.url("/mcp"), headers=authorised, timeout=10)
        assert (response.status_code, response.headers["Allow"]) == (405, "POST")
        assert response.json() == {"detail": "Method Not Allowed"}
    browser = {**authorised, "Origin": "https://evil.example"}
    response = requests.post(server.url("/mcp"), json=body, headers=browser, timeout=10)
    assert response.status_code == 403 and "IMAGE_SERVER_CORS_ORIGINS" in response.json()["detail"]


def test_http_transport_is_stateless_across_workers(
    folder: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    """No session id is handed out, and raw POSTs without one work on any worker."""
    server = server_factory(workers=2)
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
    load = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "load_directory", "arguments": {"path": str(folder)}}}  # fmt: skip
    first = requests.post(server.url("/mcp"), json=load, headers=headers, timeout=30)
    assert first.status_code == 200 and "mcp-session-id" not in first.headers
    dir_id = first.json()["result"]["structuredContent"]["id"]
    arguments = {"directory_id": dir_id}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "list_images", "arguments": arguments}}  # fmt: skip
    sent = 1

    def two_workers_answered() -> bool:
        nonlocal sent
        answer = requests.post(server.url("/mcp"), json=listing, headers=headers, timeout=30)
        assert answer.json()["result"]["structuredContent"]["total"] == 2
        sent += 1
        # Each worker counts what it answered in its own metric file (flushed within 0.25 s).
        return len(answered_per_worker(server.state_dir, "/mcp")) >= 2

    # A fresh connection per call; the kernel hands each to either worker, so keep asking
    # until the metric files show that both answered (a listing is a few milliseconds).
    wait_until(two_workers_answered, timeout=60, interval=0.05, message="two workers on /mcp")

    def all_counted() -> dict[int, int]:
        counted = answered_per_worker(server.state_dir, "/mcp")
        return counted if sum(counted.values()) == sent else {}

    per_worker = wait_until(all_counted, message="every /mcp answer counted")
    assert set(per_worker) <= set(process_group(server.process.pid)), per_worker
    assert all(count > 0 for count in per_worker.values()) and len(per_worker) == 2


def test_startup_does_not_import_the_sdk(tmp_path: Path) -> None:
    """A worker's app is built without the MCP SDK; `/mcp` imports it on first use."""
    code = (
        "import sys\n"
        "from imageserver.settings.config import Config\n"
        "from imageserver.asgi import create_asgi_application\n"
        "create_asgi_application(Config.from_env(), start_sweeper=False)\n"
        "prefixes = ('mcp.', 'mcp_types', 'starlette', 'httpx2')\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(prefixes)))\n"
    )
    env = {"IMAGE_SERVER_ENV_FILE": "/dev/null", "IMAGE_SERVER_STATE_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_publish_to_s3_waits_for_the_job(
    transport: str, folder: Path, server_factory: Callable[..., ServerProcess], moto: Any, s3: Any
) -> None:
    """`publish` starts the job through the API and, with `wait_seconds`, reports it done."""
    bucket = new_bucket(s3)
    env = {
        **aws_env(),
        "IMAGE_SERVER_TOKEN": TOKEN,
        "IMAGE_SERVER_PUBLISH_ENDPOINT_URL": moto.endpoint,
        "IMAGE_SERVER_PUBLISH_TARGETS": f"s3://{bucket}/allowed",
    }
    server = server_factory(env=env)

    async def main() -> None:
        async with session_for(transport, server, token=TOKEN) as session:
            load = await call_ok(session, "load_directory", path=str(folder), recursive=True)
            dir_id = load.structured_content["id"]
            refused = await call_error(session, "publish", directory_id=dir_id,
                                       target=f"s3://{bucket}/elsewhere")  # fmt: skip
            assert "IMAGE_SERVER_PUBLISH_TARGETS" in refused or "not allowed" in refused
            target = f"s3://{bucket}/allowed/mcp"
            result = await call_ok(session, "publish", directory_id=dir_id, target=target,
                                   preset="thumb", wait_seconds=60)  # fmt: skip
            job = result.structured_content
            assert (job["state"], job["total"], job["failed"]) == ("done", 3, 0), job
            for url in job["image_urls"]:
                picture = Image.open(io.BytesIO(requests.get(url, timeout=10).content))
                assert max(picture.size) <= PRESETS["thumb"].max_side

    anyio.run(main)


def test_http_transport_speaks_the_handshake_free_era(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """A 2026-07-28 client (`discover()`, no initialize) is served by the same stateless mount."""
    server = server_factory(env={"IMAGE_SERVER_TOKEN": TOKEN})

    async def main() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as client,
            streamable_http_client(server.url("/mcp"), http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            discovered = await session.discover()
            assert "2026-07-28" in discovered.supported_versions
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOL_NAMES
            listing = await call_ok(session, "list_directories")
            assert listing.structured_content == {"directories": [], "current": None}

    anyio.run(main)
