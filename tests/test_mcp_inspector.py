"""The MCP Inspector's CLI (a real client, not ours) against `/mcp` of a locked real server.

The Inspector is installed per machine by `scripts/install_mcp_inspector.sh` (run by
.ci/run); `MCP_INSPECTOR_BIN` names another one (tests/support/mcp_inspector.py). Missing,
the test skips, and fails under `CI=true`. It runs `tools/list` and one `tools/call` of
`get_sheet`, with the token as a header, as docs/MCP.md shows.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from tests.support.images import make_frame
from tests.support.mcp_inspector import require_inspector
from tests.support.mcp_inspector import run_inspector
from tests.support.server import ServerProcess

TOKEN = "inspector-token"


def inspect(binary: Path, home: Path, url: str, *arguments: str) -> Any:
    """The JSON answer of one successful Inspector run."""
    done = run_inspector(binary, home, url, *arguments, token=TOKEN)
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

    refused = run_inspector(binary, home, mcp_url, "--method", "tools/list")
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
