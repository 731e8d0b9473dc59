"""The MCP Inspector's CLI (a real client, not ours) against `/mcp` of a locked real server.

The Inspector is installed per machine by `scripts/install_mcp_inspector.sh` (run by
.ci/run); `MCP_INSPECTOR_BIN` names another one. Missing, the test skips, and fails under
`CI=true`. It runs `tools/list` and one `tools/call` of `get_sheet`, with the token as a
header, as docs/MCP.md shows.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.support.images import make_frame
from tests.support.server import ServerProcess

TOKEN = "inspector-token"
INSPECTOR_BIN_ENV = "MCP_INSPECTOR_BIN"
INSPECTOR_CACHE_ENV = "MCP_INSPECTOR_CACHE_DIR"
# The same default as scripts/install_mcp_inspector.sh.
DEFAULT_CACHE_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imageserver-mcp-inspector"
)
RUN_TIMEOUT_SECONDS = 120


def require_inspector() -> Path:
    """The Inspector's binary; fail in CI (`CI=true`), skip elsewhere, when it is missing."""
    explicit = os.environ.get(INSPECTOR_BIN_ENV)
    cache = Path(os.environ.get(INSPECTOR_CACHE_ENV) or DEFAULT_CACHE_DIR)
    found = Path(explicit) if explicit else cache / "node_modules" / ".bin" / "mcp-inspector"
    if found.is_file():
        return found
    reason = (
        "the MCP Inspector is not installed "
        f"(bash scripts/install_mcp_inspector.sh, or set {INSPECTOR_BIN_ENV})"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def run_inspector(
    binary: Path, home: Path, url: str, *arguments: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    """Run the Inspector's CLI once over streamable HTTP (stdin closed: not interactive).

    `home` is its HOME: it keeps a catalog and a store under `~/.mcp-inspector`.
    """
    header = ["--header", f"Authorization: Bearer {token}"] if token else []
    command = [str(binary), "--cli", url, "--transport", "http", *header, *arguments]
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(home)}
    return subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)  # fmt: skip


def inspect(binary: Path, home: Path, url: str, *arguments: str) -> Any:
    """The JSON answer of one successful Inspector run."""
    done = run_inspector(binary, home, url, *arguments)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_inspector_lists_the_tools_and_calls_get_sheet_on_a_locked_server(
    tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    binary = require_inspector()
    folder = tmp_path / "frames"
    for i in range(4):
        make_frame(folder / f"frame_{i:03d}.jpg", size=(1280, 720), seed=i)
    server = server_factory(env={"IMAGE_SERVER_TOKEN": TOKEN})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    loaded = requests.post(server.url("/load-directory"), json={"path": str(folder)},
                           headers=auth, timeout=30).json()  # fmt: skip
    mcp_url = server.url("/mcp")
    home = tmp_path / "home"
    home.mkdir()

    refused = run_inspector(binary, home, mcp_url, "--method", "tools/list", token=None)
    # 401 (with `WWW-Authenticate: Bearer`): the Inspector gets no tools, and says why.
    assert refused.returncode != 0 and '"tools"' not in refused.stdout
    assert "auth" in refused.stderr.lower()

    tools = {
        tool["name"]: tool
        for tool in inspect(binary, home, mcp_url, "--method", "tools/list")["tools"]
    }
    assert set(tools) == {"list_directories", "load_directory", "list_images", "get_image",
                          "get_sheet", "image_url", "unload_directory", "publish"}  # fmt: skip
    for name, tool in tools.items():
        assert tool["title"] and tool["outputSchema"]["type"] == "object", name
    assert tools["get_sheet"]["annotations"]["readOnlyHint"] is True
    assert tools["unload_directory"]["annotations"]["destructiveHint"] is True

    result = inspect(
        binary, home, mcp_url, "--method", "tools/call", "--tool-name", "get_sheet",
        "--tool-arg", f"directory_id={loaded['id']}", "--tool-arg", "from_name=frame_000.jpg",
        "--tool-arg", "count=4", "--tool-arg", "cols=2",
    )  # fmt: skip
    assert result["isError"] is False
    image, url, link, note = result["content"]
    assert (image["type"], link["type"], link["uri"]) == ("image", "resource_link", url["text"])
    data = base64.b64decode(image["data"])
    picture = Image.open(io.BytesIO(data))
    assert len(data) <= 1_000_000 and max(picture.size) <= 1568
    assert requests.get(url["text"], timeout=30).content == data  # the URL needs no token
    assert "4 frames" in note["text"]
    assert result["structuredContent"]["names"] == [f"frame_{i:03d}.jpg" for i in range(4)]
    assert "data" not in json.dumps(result["structuredContent"])
