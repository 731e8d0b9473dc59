"""The frames toolkit over MCP (docs/MCP.md), driven by the SDK's own client on both transports.

Against a real `python server.py`: the tools' titles, annotations and schemas; video loads
with `frames` and `wait_seconds`; `list_images` with `distance`, `facts` and `name`;
`get_sheet`; `delivery`; the inline limits on a 12 MP frame and on a 36-frame sheet; and
refusals as tool errors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import requests
from mcp import ClientSession
from mcp_types import CallToolResult
from mcp_types import ImageContent
from mcp_types import ResourceLink
from mcp_types import TextContent

from tests.support.images import make_frame
from tests.support.images import make_noise
from tests.support.mcp_sessions import TRANSPORTS
from tests.support.mcp_sessions import call_error
from tests.support.mcp_sessions import call_ok
from tests.support.mcp_sessions import decoded
from tests.support.mcp_sessions import session_for
from tests.support.recording import make_recording
from tests.support.server import ServerProcess

INLINE_MAX_BYTES = 1_000_000  # the contract's bound; the tools keep to 750,000 (base64 fits)
INLINE_MAX_SIDE = 1568
SHEET_FRAMES = 36
READ_ONLY = {"list_directories", "list_images", "get_image", "get_sheet", "image_url"}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 12 MP noise frame (big for any encoder), a screen-like one, 36 noisy frames, a video."""
    root = tmp_path_factory.mktemp("mcp-media")
    big = root / "big"
    make_noise(big / "noise12mp.jpg", (4000, 3000), quality=92)
    make_frame(big / "screen.jpg", size=(4000, 3000), seed=3)
    many = root / "many"
    for i in range(SHEET_FRAMES + 2):
        make_noise(many / f"frame_{i:03d}.jpg", (640, 360), quality=90)
    video = make_recording(root / "talk.mp4", seconds=6.0, fps=10, size=(640, 360)).path
    return {"big": big, "many": many, "video": video}


def only(result: CallToolResult, kind: type) -> list[Any]:
    return [block for block in result.content if isinstance(block, kind)]


def assert_no_bytes_in_structure(result: CallToolResult) -> None:
    """Structured content holds URLs and facts: nothing long enough to be an image."""
    assert result.structured_content is not None
    for value in json.dumps(result.structured_content).split('"'):
        assert len(value) < 2000, value[:80]


def assert_inline_within_limits(result: CallToolResult) -> tuple[int, int]:
    """One image block within the limits, its URL as text and as a resource link."""
    (image,) = only(result, ImageContent)
    picture = decoded(image)
    assert picture.info["nbytes"] <= INLINE_MAX_BYTES
    assert len(image.data) <= INLINE_MAX_BYTES  # even as base64: Claude Desktop's 1 MB
    assert max(picture.size) <= INLINE_MAX_SIDE
    url, *_ = (block.text for block in only(result, TextContent))
    (link,) = only(result, ResourceLink)
    assert link.uri == url and link.mime_type == image.mime_type
    served = requests.get(url, timeout=60)  # the URL serves exactly the inline image
    assert served.status_code == 200 and served.content == base64.b64decode(image.data)
    facts = result.structured_content
    assert facts["delivery"] == "inline" and facts["url"] == url
    assert (facts["width"], facts["height"], facts["size"]) == (*picture.size, len(served.content))
    assert_no_bytes_in_structure(result)
    return picture.size


def assert_link_only(result: CallToolResult) -> str:
    """No image bytes anywhere: the URL as text and a resource link."""
    assert only(result, ImageContent) == []
    url, *_ = (block.text for block in only(result, TextContent))
    (link,) = only(result, ResourceLink)
    assert link.uri == url
    assert result.structured_content["delivery"] == "link"
    assert result.structured_content["size"] is None
    assert requests.get(url, timeout=60).status_code == 200
    assert_no_bytes_in_structure(result)
    return url


async def check_tools(session: ClientSession) -> None:
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    for name, tool in tools.items():
        assert tool.title and tool.annotations is not None, name
        assert tool.annotations.read_only_hint == (name in READ_ONLY), name
        assert tool.annotations.destructive_hint == (name == "unload_directory"), name
        assert tool.output_schema and tool.output_schema["type"] == "object", name
    properties = {name: set(tool.input_schema["properties"]) for name, tool in tools.items()}
    assert {"frames", "wait_seconds"} <= properties["load_directory"]
    assert {"distance", "facts", "name"} <= properties["list_images"]
    assert properties["get_sheet"] == {"directory_id", "names", "from_name", "count", "cols",
                                       "preset", "delivery"}  # fmt: skip
    assert {"delivery"} <= properties["get_image"]


async def check_big_frames(session: ClientSession, folder: Path) -> None:
    dir_id = (await call_ok(session, "load_directory", path=str(folder))).structured_content["id"]
    # voyage allows 16 MP and 20 MB: the inline copy is cut to the limits, and says so.
    noise = await call_ok(session, "get_image", directory_id=dir_id, name="noise12mp.jpg",
                          preset="voyage")  # fmt: skip
    size = assert_inline_within_limits(noise)
    assert max(size) == INLINE_MAX_SIDE
    facts = noise.structured_content
    assert facts["reduced"] is True and facts["preset_url"] != facts["url"]
    assert (facts["original"]["width"], facts["original"]["height"]) == (4000, 3000)
    note = only(noise, TextContent)[-1].text
    assert "reduced to fit" in note and "4000x3000" in note
    # claude's own size is within the limits already: nothing more to say.
    screen = await call_ok(session, "get_image", directory_id=dir_id, name="screen.jpg")
    assert_inline_within_limits(screen)
    assert screen.structured_content["reduced"] is False
    assert screen.structured_content["preset"] == "claude"
    assert "reduced" not in only(screen, TextContent)[-1].text
    link = await call_ok(session, "get_image", directory_id=dir_id, name="noise12mp.jpg",
                         preset="thumb", delivery="link")  # fmt: skip
    assert "preset=thumb" in assert_link_only(link)


async def check_sheets(session: ClientSession, folder: Path) -> None:
    dir_id = (await call_ok(session, "load_directory", path=str(folder))).structured_content["id"]
    for preset in (None, "voyage"):  # voyage encodes at quality 90: over the byte limit
        arguments = {"preset": preset} if preset else {}
        full = await call_ok(session, "get_sheet", directory_id=dir_id, count=SHEET_FRAMES,
                             from_name="frame_001.jpg", **arguments)  # fmt: skip
        assert_inline_within_limits(full)
        facts = full.structured_content
        assert facts["names"] == [f"frame_{i:03d}.jpg" for i in range(1, SHEET_FRAMES + 1)]
        as_drawn = requests.get(facts["preset_url"], timeout=60).content
        assert facts["reduced"] == (len(as_drawn) > 750_000)
        assert facts["reduced"] == (preset == "voyage")
    picked = await call_ok(session, "get_sheet", directory_id=dir_id, preset="thumb", cols=2,
                           names=["frame_005.jpg", "frame_000.jpg"])  # fmt: skip
    width, height = assert_inline_within_limits(picked)
    assert max(width, height) <= 256 and width > height  # two columns, one row
    assert picked.structured_content["names"] == ["frame_005.jpg", "frame_000.jpg"]
    # The HTTP API's own spelling, a comma-separated string, is taken too.
    spelled = await call_ok(session, "get_sheet", directory_id=dir_id, delivery="link",
                            names="frame_005.jpg,frame_000.jpg")  # fmt: skip
    assert spelled.structured_content["names"] == ["frame_005.jpg", "frame_000.jpg"]
    link = await call_ok(session, "get_sheet", directory_id=dir_id, names=["frame_002.jpg"],
                         delivery="link")  # fmt: skip
    assert "/sheet?" in assert_link_only(link)


async def check_listing(session: ClientSession, folder: Path) -> None:
    dir_id = (await call_ok(session, "load_directory", path=str(folder))).structured_content["id"]
    one = await call_ok(session, "list_images", directory_id=dir_id, name="frame_007.jpg",
                        facts=True)  # fmt: skip
    (entry,) = one.structured_content["images"]
    assert (entry["name"], entry["width"], entry["height"], entry["format"]) == (
        "frame_007.jpg", 640, 360, "JPEG")  # fmt: skip
    strict = await call_ok(session, "list_images", directory_id=dir_id, unique=True, distance=0)
    loose = await call_ok(session, "list_images", directory_id=dir_id, unique=True,
                          distance=368)  # fmt: skip
    assert strict.structured_content["total"] == SHEET_FRAMES + 2  # noise: all differ
    assert loose.structured_content["total"] == 1  # everything is "the same" at the maximum
    url = await call_ok(session, "image_url", directory_id=dir_id, name="frame_003.jpg")
    assert url.structured_content == {"url": entry["url"].replace("007", "003")}


async def check_video(session: ClientSession, video: Path) -> None:
    loaded = await call_ok(session, "load_directory", path=str(video), frames={"fps": 2},
                           wait_seconds=120)  # fmt: skip
    facts = loaded.structured_content
    assert facts["image_count"] == 12, facts
    assert facts["extraction"]["state"] == "done", facts  # waited for, well within 120 s
    assert facts["extraction"]["frames"] == 12
    page = await call_ok(session, "list_images", directory_id=facts["id"], limit=3)
    assert [image["t"] for image in page.structured_content["images"]] == [0.0, 0.5, 1.0]
    every = await call_ok(session, "load_directory", path=str(video), frames='{"every": 30}')
    assert every.structured_content["image_count"] == 2
    sheet = await call_ok(session, "get_sheet", directory_id=facts["id"], from_name=
                          page.structured_content["images"][0]["name"], count=12)  # fmt: skip
    assert_inline_within_limits(sheet)


async def check_errors(session: ClientSession, folder: Path, video: Path) -> None:
    dir_id = (await call_ok(session, "load_directory", path=str(folder))).structured_content["id"]
    sheet = {"directory_id": dir_id}
    assert "either names or from_name" in await call_error(session, "get_sheet", **sheet)
    assert "either names or from_name" in await call_error(
        session, "get_sheet", **sheet, names=["frame_000.jpg"], from_name="frame_000.jpg"
    )
    assert "count goes with from_name" in await call_error(
        session, "get_sheet", **sheet, names=["frame_000.jpg"], count=2
    )
    assert await call_error(session, "get_sheet", **sheet, names=["../etc/passwd"]) == (
        "Image not found: ../etc/passwd")  # fmt: skip
    assert await call_error(session, "get_sheet", directory_id="nope", from_name="a.jpg") == (
        "Directory not found: nope")  # fmt: skip
    too_many = [f"frame_{i:03d}.jpg" for i in range(SHEET_FRAMES + 1)]
    assert "(at names)" in await call_error(session, "get_sheet", **sheet, names=too_many)
    assert "delivery" in await call_error(session, "get_image", directory_id=dir_id,
                                          name="frame_000.jpg", delivery="bytes")  # fmt: skip
    assert await call_error(session, "list_images", directory_id=dir_id, name="zz.jpg") == (
        "Image not found: zz.jpg")  # fmt: skip
    assert "wait_seconds" in await call_error(session, "load_directory", path=str(video),
                                              wait_seconds=601)  # fmt: skip
    both = await call_error(session, "load_directory", path=str(video),
                            frames={"fps": 1, "every": 2})  # fmt: skip
    assert "exactly one of fps, scene, every" in both
    assert await call_error(session, "load_directory", path=str(folder),
                            frames={"fps": 1}) == f"Not a video file: {folder}"  # fmt: skip
    # n8n's AI Agent v3 adds its own fields: named in the answer, never a refusal.
    extra = await call_ok(session, "image_url", directory_id=dir_id, name="frame_001.jpg",
                          toolCallId="call_1", task="find changes")  # fmt: skip
    assert extra.structured_content["url"].endswith("/frame_001.jpg")
    notes = [block.text for block in only(extra, TextContent)]
    assert "Ignored arguments image_url does not take: task, toolCallId." in notes


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_frames_toolkit(
    transport: str, media: dict[str, Path], server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()

    async def main() -> None:
        async with session_for(transport, server) as session:
            await check_tools(session)
            await check_big_frames(session, media["big"])
            await check_sheets(session, media["many"])
            await check_listing(session, media["many"])
            await check_video(session, media["video"])
            await check_errors(session, media["many"], media["video"])

    anyio.run(main)
