"""Workflow 05 (examples/n8n/05-agent-over-mcp.json) run by real n8n: its AI Agent over MCP.

n8n's own AI Agent node calls the server's tools through n8n's own MCP Client Tool node,
over streamable HTTP at `/mcp` with the token as a header credential, as a user sets it up.
The model is a stand-in of an OpenAI-compatible chat completions API
(tests/support/scripted_chat.py, set as the OpenAI credential's base URL) that plays a
scripted agent: load the recording, list it with `unique=true`, look at a frame with each
`delivery`, answer with the URLs. The assertions read n8n's execution data (each tool call
of the MCP node, the agent's output), what the agent sent the model as tool results, and
the server's state over HTTP.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from PIL import ImageFont

from tests.support.n8n_agent import tool_runs
from tests.support.n8n_cli import N8n
from tests.support.n8n_cli import require_n8n
from tests.support.recording import decorate
from tests.support.recording import draw_screen
from tests.support.recording import make_recording
from tests.support.scripted_chat import ScriptedChat
from tests.support.scripted_chat import ToolResult
from tests.support.server import PROJECT_ROOT
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(300)  # each n8n command starts n8n afresh: seconds apiece
TOKEN = "n8n-agent-token"
MODEL = "gpt-4.1-mini"  # the Settings node's default: the stand-in checks it arrives
WORKFLOW = PROJECT_ROOT / "examples" / "n8n" / "05-agent-over-mcp.json"
MCP_NODE = "Image server MCP"
# The recording: (layout, text) of the screen in each frame. A cursor and a clock move in
# every frame; the screen itself changes at frames 3 (new window), 5 (new text) and 6.
SCREENS = [(0, 0), (0, 0), (0, 0), (1, 1), (1, 1), (1, 2), (2, 3), (2, 3)]
CHANGED = [0, 3, 5, 6]  # the frames `unique=true` keeps: the first, then each change
MADE_UP_URL = "http://127.0.0.1:9/d/no-such-folder/frame_000042.jpg"


def make_frames_recording(folder: Path) -> list[str]:
    """Frames of a screen recording, 1280x720 JPEG, named in time order."""
    folder.mkdir(parents=True)
    font = ImageFont.load_default()
    names = []
    for index, (layout, text) in enumerate(SCREENS):
        frame = decorate(draw_screen((1280, 720), layout, text), index * 0.5, 1.0, font)
        names.append(f"frame_{index:06d}.jpg")
        frame.save(folder / names[-1], quality=90)
    return names


def blocks(result: ToolResult) -> list[dict[str, Any]]:
    """The content blocks of a tool result: n8n hands them to the model as JSON text."""
    return json.loads(result.content)


def payload(result: ToolResult) -> dict[str, Any]:
    """The JSON answer of a tool that answers with the API's JSON as its text block."""
    return json.loads(next(b["text"] for b in blocks(result) if b["type"] == "text"))


def still_extracting(result: ToolResult, dir_id: str) -> bool:
    """Whether a load_directory result says the video's frames are still being extracted."""
    answer = payload(result)
    assert answer["id"] == dir_id
    return (answer.get("extraction") or {}).get("state") == "running"


class FrameFinder:
    """The scripted model: load (and wait for a video), list the changes, look, answer."""

    def __init__(
        self,
        recording: Path,
        frames: dict[str, float] | None = None,
        deliveries: tuple[str, ...] = ("link", "inline"),
        sheet: bool = True,
    ) -> None:
        self.recording = recording
        self.frames = frames
        self.deliveries = deliveries
        self.sheet = sheet

    def __call__(self, results: list[ToolResult]) -> list[tuple[str, dict[str, Any]]] | str:
        load = {"path": str(self.recording)}
        if self.frames:  # a video: asked not to wait, so that the model follows the extraction
            load.update(frames=self.frames, wait_seconds=0)
        if not results:
            return [("load_directory", load)]
        dir_id = payload(results[0])["id"]
        if results[-1].name == "load_directory" and still_extracting(results[-1], dir_id):
            # As the workflow's system message says: load again, which joins it and waits.
            return [("load_directory", {**load, "wait_seconds": 50})]
        listings = [result for result in results if result.name == "list_images"]
        if not listings:
            return [("list_images", {"directory_id": dir_id, "unique": True})]
        kept = payload(listings[0])["images"]
        looked = sum(result.name == "get_image" for result in results)
        if looked < len(self.deliveries):
            # The second kept frame: the first change of screen.
            arguments = {"directory_id": dir_id, "name": kept[1]["name"]}
            return [("get_image", {**arguments, "delivery": self.deliveries[looked]})]
        if self.sheet and not any(result.name == "get_sheet" for result in results):
            names = [image["name"] for image in kept]
            return [("get_sheet", {"directory_id": dir_id, "names": names, "delivery": "link"})]
        lines = [f"- {image['url']} (screen changed here)" for image in kept]
        return "\n".join(["The screen changed in these frames:", *lines, MADE_UP_URL])


@pytest.fixture(scope="module")
def chat() -> Iterator[ScriptedChat]:
    """The model stand-in for the module; each test gives it its script."""
    with ScriptedChat(lambda results: "no script", model=MODEL) as running:
        yield running


@pytest.fixture(scope="module")
def n8n(tmp_path_factory: pytest.TempPathFactory, chat: ScriptedChat) -> N8n:
    """An isolated n8n with the two credentials workflow 05 names."""
    instance = N8n(require_n8n(), tmp_path_factory.mktemp("n8n-agent"))
    instance.import_credentials(
        {
            "Image server token": (
                "httpHeaderAuth",
                {"name": "Authorization", "value": f"Bearer {TOKEN}"},
            ),
            "OpenAI account": ("openAiApi", {"apiKey": "sk-stand-in", "url": chat.base_url}),
        }
    )
    return instance


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def server(server_factory, recordings: Path) -> ServerProcess:
    """A real server with a token and an allowed root, as docs/MCP.md tells users to run it."""
    env = {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_ALLOWED_ROOTS": str(recordings)}
    return server_factory(env=env)


def run_workflow(n8n: N8n, server: ServerProcess, recording: Path):
    workflow = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    settings = {"image_server": server.base_url, "recording": str(recording)}
    return n8n.execute(n8n.import_workflow(workflow, {"Settings": settings}))


def api(server: ServerProcess, path: str) -> Any:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = requests.get(server.url(path), headers=auth, timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_the_agent_finds_the_changed_frames_through_n8ns_mcp_client(
    n8n: N8n, chat: ScriptedChat, server: ServerProcess, recordings: Path
) -> None:
    recording = recordings / "demo"
    names = make_frames_recording(recording)
    chat.play(FrameFinder(recording))

    execution = run_workflow(n8n, server, recording)

    assert chat.problems == []
    assert execution.node_errors() == {}, execution.node_errors()
    assert execution.ok, (execution.exit_code, execution.error)
    # The model was offered the server's tools but the two that remove or upload.
    offered = {tool["function"]["name"] for tool in chat.requests[0].body["tools"]}
    assert offered == {
        "list_directories", "load_directory", "list_images", "get_image", "get_sheet", "image_url"
    }  # fmt: skip
    # n8n's MCP Client Tool ran each call the model asked for, with its arguments.
    calls = tool_runs(execution, MCP_NODE)
    assert [(call.tool, call.error) for call in calls] == [
        ("load_directory", None),
        ("list_images", None),
        ("get_image", None),
        ("get_image", None),
        ("get_sheet", None),
    ]
    (loaded,) = api(server, "/api/directories")["directories"]
    dir_id = loaded["id"]
    assert (loaded["directory"], loaded["image_count"]) == (str(recording), len(names))
    # The listing n8n logged and the agent handed on is the server's own unique listing.
    served = api(server, f"/api/directories/{dir_id}/images?unique=true")["images"]
    assert [image["name"] for image in served] == [names[i] for i in CHANGED]
    urls = [image["url"] for image in served]
    listed = json.loads(calls[1].response[0]["text"])
    assert [image["url"] for image in listed["images"]] == urls
    assert [image["url"] for image in payload(chat.results[1])["images"]] == urls
    # The workflow's output: the URLs of the answer that a tool returned, the rest apart.
    (out,) = execution.items("Changed frames")
    assert out["urls"] == urls
    assert out["unverified_urls"] == [MADE_UP_URL]
    for url in urls:
        frame = requests.get(url, timeout=10)
        assert (frame.status_code, frame.headers["Content-Type"]) == (200, "image/jpeg")
    report_get_image(chat.results[2], chat.results[3], urls[1])
    # One contact sheet of the changed frames, by URL: it answers with the picture.
    sheet_blocks = blocks(chat.results[4])
    assert [block["type"] for block in sheet_blocks] == ["text", "resource_link", "text"]
    sheet = requests.get(sheet_blocks[0]["text"], timeout=30)
    assert (sheet.status_code, sheet.headers["Content-Type"]) == (200, "image/jpeg")


def test_the_agent_finds_the_changes_of_a_video_recording(
    n8n: N8n, chat: ScriptedChat, server: ServerProcess, recordings: Path
) -> None:
    recordings.mkdir()
    video = make_recording(recordings / "demo.mp4", seconds=12, fps=10)
    chat.play(FrameFinder(video.path, frames={"fps": 2}, deliveries=(), sheet=False))

    execution = run_workflow(n8n, server, video.path)

    assert chat.problems == []
    assert execution.ok, (execution.exit_code, execution.error, execution.node_errors())
    calls = tool_runs(execution, MCP_NODE)
    assert calls[0].tool == "load_directory" and calls[0].arguments["frames"] == {"fps": 2}
    for call in calls[1:-1]:  # while the first answer said it was still extracting
        assert (call.tool, call.arguments["wait_seconds"]) == ("load_directory", 50)
    print(f"\nthe agent loaded the video {len(calls) - 1} times to wait for its frames")
    assert calls[-1].tool == "list_images"
    (loaded,) = api(server, "/api/directories")["directories"]
    kept = api(server, f"/api/directories/{loaded['id']}/images?unique=true")["images"]
    # The first frame, then the first frame at 2 fps on or after each change of screen.
    firsts = [0.0] + [math.ceil(point * 2 - 1e-9) / 2 for point in video.change_points]
    assert [image["t"] for image in kept] == firsts
    (out,) = execution.items("Changed frames")
    assert out["urls"] == [image["url"] for image in kept]


def report_get_image(link: ToolResult, inline: ToolResult, plain_url: str) -> None:
    """What n8n's agent sent the model for `get_image` with each delivery (printed: -s)."""
    link_blocks, inline_blocks = blocks(link), blocks(inline)
    # link: the URL of the frame at the model preset, as text and as a resource_link.
    assert [block["type"] for block in link_blocks] == ["text", "resource_link", "text"]
    link_url = link_blocks[0]["text"]
    assert link_url.startswith(plain_url + "?") and link_blocks[1]["uri"] == link_url
    assert "no image bytes" in link_blocks[2]["text"]
    linked = requests.get(link_url, timeout=10)
    assert (linked.status_code, linked.headers["Content-Type"]) == (200, "image/jpeg")
    # inline: the image too, but n8n's MCP Client Tool passes it on as text: base64 in JSON.
    assert [block["type"] for block in inline_blocks] == ["image", "text", "resource_link", "text"]
    data = base64.b64decode(inline_blocks[0]["data"])
    assert inline_blocks[2]["uri"] == inline_blocks[1]["text"]
    assert requests.get(inline_blocks[1]["text"], timeout=10).content == data
    with Image.open(io.BytesIO(data)) as decoded:
        size = decoded.size
    assert len(data) <= 1_000_000 and max(size) <= 1568
    print(
        f"\nn8n's agent received from get_image: delivery=link {len(link.content)} characters"
        f" of JSON text (blocks {[b['type'] for b in link_blocks]}); delivery=inline"
        f" {len(inline.content)} characters of JSON text (blocks"
        f" {[b['type'] for b in inline_blocks]}: a {inline_blocks[0]['mimeType']} of"
        f" {len(data)} bytes, {size[0]}x{size[1]}, as base64 inside the text)"
    )


def test_a_refused_call_reaches_the_agent_as_the_servers_detail(
    n8n: N8n, chat: ScriptedChat, server: ServerProcess, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"  # not under IMAGE_SERVER_ALLOWED_ROOTS
    make_frames_recording(outside)
    chat.play(lambda results: results[0].content if results else FrameFinder(outside)([]))

    execution = run_workflow(n8n, server, outside)

    # The run goes on: n8n marks the MCP node's call failed with the server's detail,
    # verbatim, and hands the agent that detail as the tool's result, in plain text.
    detail = f"Directory not allowed: {outside}"
    assert (execution.exit_code, execution.error) == (0, None)
    assert execution.node_errors() == {MCP_NODE: detail}
    assert chat.problems == []
    (call,) = tool_runs(execution, MCP_NODE)
    # n8n fills in the defaults the tool's schema declares (wait_seconds) before it calls.
    assert (call.tool, call.arguments["path"], call.response) == (
        "load_directory",
        str(outside),
        detail,
    )
    assert [result.content for result in chat.results] == [detail]
    (out,) = execution.items("AI Agent")
    assert out["output"] == detail
    assert api(server, "/api/directories")["directories"] == []
