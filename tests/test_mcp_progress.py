"""Long video loads over MCP (docs/MCP.md#long-videos): `wait_seconds`, and progress.

A real server extracts a real recording in the background. With a progress token the SDK's
client receives MCP progress notifications (seconds of video done) while the tool waits, on
both transports; over HTTP that call is answered as an SSE stream within its POST, while a
call without a token stays one JSON answer. Without a token, `wait_seconds` goes to the HTTP
API as `"wait"`: 0 answers at once with the extraction still running.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import requests

from tests.support.mcp_sessions import TRANSPORTS
from tests.support.mcp_sessions import call_ok
from tests.support.mcp_sessions import session_for
from tests.support.recording import make_recording
from tests.support.server import ServerProcess

SECONDS = 60.0
FPS = 5  # the frames asked for: one per 0.2 s, 300 in all


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minute of screen recording: seconds of extraction on any machine."""
    folder = tmp_path_factory.mktemp("long-video")
    return make_recording(folder / "long.mp4", seconds=SECONDS, fps=FPS, size=(960, 540)).path


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_progress_notifications_during_a_long_load(
    transport: str, long_video: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()  # its own state folder: no cached frames from another test
    events: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append((progress, total, message))

    async def main() -> dict:
        async with session_for(transport, server) as session:
            arguments = {"path": str(long_video), "frames": {"fps": FPS}, "wait_seconds": 300}
            result = await session.call_tool(
                "load_directory", arguments, progress_callback=on_progress
            )
            assert not result.is_error, result.content
            return result.structured_content

    loaded = anyio.run(main)
    extraction = loaded["extraction"]
    assert extraction["state"] == "done", loaded
    assert loaded["image_count"] == extraction["frames"] == int(SECONDS * FPS)
    assert len(events) >= 3, events
    progress = [event[0] for event in events]
    assert progress == sorted(set(progress))  # strictly increasing, as the protocol asks
    assert all(total == pytest.approx(SECONDS, abs=0.5) for _, total, _ in events)
    assert any(message.startswith("running:") for _, _, message in events)
    assert events[-1][0] == pytest.approx(SECONDS, abs=0.5)
    assert events[-1][2].startswith("done:")


def test_without_a_token_wait_seconds_is_the_apis_wait(
    long_video: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()

    async def main() -> tuple[dict, dict]:
        async with session_for("http", server) as session:
            loaded = await call_ok(session, "load_directory", path=str(long_video),
                                   frames={"fps": FPS}, wait_seconds=0)  # fmt: skip
            listing = await call_ok(session, "list_directories")
            return loaded.structured_content, listing.structured_content

    loaded, listing = anyio.run(main)
    assert loaded["extraction"]["state"] == "running", loaded  # answered at once
    (directory,) = listing["directories"]
    assert directory["extraction"]["state"] in ("running", "done")
    # The answer form over HTTP: a call with a progress token is an SSE stream, one without
    # it a JSON body.
    headers = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "list_directories", "arguments": {}}}  # fmt: skip
    plain = requests.post(server.url("/mcp"), json=call, headers=headers, timeout=30)
    assert plain.headers["Content-Type"].startswith("application/json")
    call["params"]["_meta"] = {"progressToken": "t1"}
    streamed = requests.post(server.url("/mcp"), json=call, headers=headers, timeout=30)
    assert streamed.headers["Content-Type"].startswith("text/event-stream")
    assert '"directories"' in streamed.text
    requests.delete(server.url(f"/api/directories/{directory['id']}"), timeout=30)
