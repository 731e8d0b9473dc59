"""What each tool does: a few calls of the HTTP API, shaped as an MCP result.

A tool answers with the API's JSON as text and as structured content; the tools that look
at images answer per `delivery.py`. An `ApiError` raised here becomes a tool error in
`tools.call_tool`, its text the API's `detail` verbatim.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from . import delivery
from . import loading
from .client import ApiError
from .client import ImageServerApi
from .loading import Progress

# get_image returns pixels a model reads: without a preset, the size Claude accepts.
DEFAULT_MODEL_PRESET = "claude"
LISTING_OPTIONS = ("offset", "limit", "unique", "distance", "facts", "name")


@dataclass(frozen=True)
class ToolCall:
    """One call: the HTTP API to use, the validated arguments, the progress reporter."""

    api: ImageServerApi
    args: dict[str, Any]
    progress: Progress | None = None


def json_result(payload: Any) -> types.CallToolResult:
    """The API's JSON answer as text for the model and as structured content for programs."""
    structured = payload if isinstance(payload, dict) else {"result": payload}
    text = json.dumps(payload, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )


async def list_directories(call: ToolCall) -> types.CallToolResult:
    return json_result(await call.api.list_directories())


async def load_directory(call: ToolCall) -> types.CallToolResult:
    return json_result(await loading.load(call.api, call.args, call.progress))


async def list_images(call: ToolCall) -> types.CallToolResult:
    query = {key: call.args.get(key) for key in LISTING_OPTIONS}
    return json_result(await call.api.list_images(call.args["directory_id"], **query))


async def image_url(call: ToolCall) -> types.CallToolResult:
    args = call.args
    url = await call.api.image_url(args["directory_id"], args["name"], args.get("preset"))
    return types.CallToolResult(
        content=[types.TextContent(text=url)], structured_content={"url": url}
    )


async def get_image(call: ToolCall) -> types.CallToolResult:
    """The image at a preset (default claude), inline within the limits or as a link."""
    api, args = call.api, call.args
    dir_id, name = args["directory_id"], args["name"]
    preset = args.get("preset") or DEFAULT_MODEL_PRESET
    entry = await api.image_entry(dir_id, name, preset=preset, facts=True)
    original = {key: entry.get(key) for key in ("width", "height", "format", "size")}

    async def url_for(extra: dict[str, str]) -> str:
        if not extra:
            return entry["url"]
        return (await api.image_entry(dir_id, name, preset=preset, **extra))["url"]

    async def fetch(url: str) -> Any:
        return await api.fetch(dir_id, url)

    sides = [side for side in (original["width"], original["height"]) if side]
    sent = await delivery.deliver(
        url_for, fetch, preset, _delivery(args), max(sides) if sides else None
    )
    note = delivery.describe(sent, name, preset) + " " + _original_note(original)
    return types.CallToolResult(
        content=delivery.content(sent, name, note),
        structured_content={
            "directory_id": dir_id,
            "name": name,
            "preset": preset,
            **sent.facts(),
            "original": original,
        },
    )


async def get_sheet(call: ToolCall) -> types.CallToolResult:
    """A contact sheet of up to 36 frames, inline within the limits or as a link."""
    api, args = call.api, call.args
    dir_id, preset = args["directory_id"], args.get("preset")
    selection = _sheet_selection(args)
    first = await api.sheet(dir_id, **selection, preset=preset)

    async def url_for(extra: dict[str, str]) -> str:
        if not extra:
            return first["url"]
        return (await api.sheet(dir_id, **selection, preset=preset, **extra))["url"]

    async def fetch(url: str) -> Any:
        return await api.fetch(dir_id, url)

    # Drawn at 1568 px (docs/API.md#contact-sheets): only the byte limit may apply.
    sent = await delivery.deliver(url_for, fetch, preset, _delivery(args), drawn_within=True)
    names = first["names"]
    what = f"Contact sheet of {len(names)} frames ({names[0]} .. {names[-1]})"
    return types.CallToolResult(
        content=delivery.content(sent, "sheet", delivery.describe(sent, what, preset)),
        structured_content={
            "directory_id": dir_id,
            "names": names,
            "preset": preset,
            **sent.facts(),
        },  # fmt: skip
    )


async def unload_directory(call: ToolCall) -> types.CallToolResult:
    return json_result(await call.api.unload_directory(call.args["directory_id"]))


async def publish(call: ToolCall) -> types.CallToolResult:
    args = call.args
    body = {"target": args["target"]}
    if args.get("preset"):
        body["preset"] = args["preset"]
    wait = float(args.get("wait_seconds", 0))
    return json_result(await call.api.publish(args["directory_id"], body, wait))


def lenient(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Take two spellings models often write instead of the schema's, before it is checked.

    `names` as one comma-separated string (the HTTP API's own form) and `frames` as a JSON
    string (agents that serialise nested objects, as some n8n models do).
    """
    fixed = dict(args)
    names = fixed.get("names")
    if name == "get_sheet" and isinstance(names, str):
        fixed["names"] = [part.strip() for part in names.split(",") if part.strip()]
    frames = fixed.get("frames")
    if name == "load_directory" and isinstance(frames, str):
        with contextlib.suppress(ValueError):  # else the schema check says what is wrong
            fixed["frames"] = json.loads(frames)
    return fixed


def _delivery(args: dict[str, Any]) -> str:
    return args.get("delivery") or "inline"


def _sheet_selection(args: dict[str, Any]) -> dict[str, Any]:
    """The sheet query of the arguments: `names`, or `from_name` (+ `count`), and `cols`.

    :raise ApiError 422: both or neither of `names` and `from_name`, or `count` with `names`.
    """
    names, start = args.get("names"), args.get("from_name")
    if (names is None) == (start is None):
        raise ApiError(422, "Invalid arguments for get_sheet: give either names or from_name")
    if names is not None and "count" in args:
        raise ApiError(422, "Invalid arguments for get_sheet: count goes with from_name")
    if any("," in name for name in names or ()):
        # The HTTP API separates `names` with commas; such a frame is shown through from_name.
        raise ApiError(422, "Invalid arguments for get_sheet: a name with a comma needs from_name")
    selection = {"names": ",".join(names)} if names is not None else {"from": start}
    if start is not None:
        selection["count"] = args.get("count")
    return {**selection, "cols": args.get("cols")}


def _original_note(original: dict[str, Any]) -> str:
    if not original.get("width"):
        return f"Original: {original.get('size') or 0:,} bytes."
    return (
        f"Original: {original['width']}x{original['height']} {original.get('format')}, "
        f"{original.get('size') or 0:,} bytes."
    )
