"""The MCP tools (names and arguments pinned in docs/MCP.md), each one call of the HTTP API.

A tool answers with the API's JSON as text (and as structured content). A refusal of the
API becomes a tool error (`isError`) whose text is the API's `detail`, verbatim, so the
agent reads exactly what a curl user would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import mcp_types as types

from imageserver.variants.presets import PRESET_NAMES

from .client import ApiError
from .client import ImageServerApi

# get_image returns pixels a model reads: without a preset, the size Claude accepts.
DEFAULT_MODEL_PRESET = "claude"
MAX_PAGE_LIMIT = 10_000
MAX_PUBLISH_WAIT_SECONDS = 300

_DIRECTORY_ID = {"type": "string", "minLength": 1, "description": "A directory id."}
_IMAGE_NAME = {
    "type": "string",
    "minLength": 1,
    "description": "Image name relative to the directory, e.g. frame_000001.jpg or sub/a.png.",
}
_PRESET = {
    "type": "string",
    "enum": list(PRESET_NAMES),
    "description": "Vendor preset: the image resized and re-encoded to fit that model API.",
}

Handler = Callable[[ImageServerApi, dict[str, Any]], Awaitable[types.CallToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool: what the agent sees (`tool`) and what runs (`handler`)."""

    tool: types.Tool
    handler: Handler


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    # Unknown arguments are refused: a misspelt `limt` should not silently do nothing.
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _json_result(payload: Any) -> types.CallToolResult:
    """The API's JSON answer as text for the model and as structured content for programs."""
    structured = payload if isinstance(payload, dict) else {"result": payload}
    text = json.dumps(payload, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )


def error_result(error: ApiError) -> types.CallToolResult:
    """A tool error whose text is the API's `detail`, unchanged."""
    return types.CallToolResult(
        content=[types.TextContent(text=error.text)],
        structured_content={"status": error.status, "detail": error.detail},
        is_error=True,
    )


async def _list_directories(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    return _json_result(await api.list_directories())


async def _load_directory(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    options = {key: args.get(key) for key in ("recursive", "timeout_minutes", "watch")}
    return _json_result(await api.load_directory(args["path"], **options))


async def _list_images(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    query = {key: args.get(key) for key in ("offset", "limit", "unique")}
    return _json_result(await api.list_images(args["directory_id"], **query))


async def _get_image(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    preset = args.get("preset") or DEFAULT_MODEL_PRESET
    image = await api.fetch_image(args["directory_id"], args["name"], preset)
    data = base64.b64encode(image.data).decode("ascii")
    return types.CallToolResult(
        content=[
            types.ImageContent(data=data, mime_type=image.media_type),
            types.TextContent(text=image.url),
        ],
        structured_content={
            "url": image.url,
            "media_type": image.media_type,
            "bytes": len(image.data),
            "preset": preset,
        },
    )


async def _image_url(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    url = await api.image_url(args["directory_id"], args["name"], args.get("preset"))
    return types.CallToolResult(
        content=[types.TextContent(text=url)], structured_content={"url": url}
    )


async def _unload_directory(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    return _json_result(await api.unload_directory(args["directory_id"]))


async def _publish(api: ImageServerApi, args: dict[str, Any]) -> types.CallToolResult:
    body = {"target": args["target"]}
    if args.get("preset"):
        body["preset"] = args["preset"]
    wait = min(float(args.get("wait_seconds", 0)), MAX_PUBLISH_WAIT_SECONDS)
    return _json_result(await api.publish(args["directory_id"], body, wait))


def _tool(name: str, description: str, schema: dict[str, Any], read_only: bool) -> types.Tool:
    return types.Tool(
        name=name,
        description=description,
        input_schema=schema,
        annotations=types.ToolAnnotations(read_only_hint=read_only, open_world_hint=False),
    )


# The arguments of the tools about one image (`get_image`, `image_url`).
_ONE_IMAGE = _schema(
    {"directory_id": _DIRECTORY_ID, "name": _IMAGE_NAME, "preset": _PRESET},
    ("directory_id", "name"),
)

TOOLS: dict[str, ToolSpec] = {
    spec.tool.name: spec
    for spec in (
        ToolSpec(
            _tool(
                "list_directories",
                "List the loaded image directories with their ids, image counts and URL prefixes.",
                _schema({}),
                read_only=True,
            ),
            _list_directories,
        ),
        ToolSpec(
            _tool(
                "load_directory",
                "Load a server-side folder of images and return its directory id and URL prefix.",
                _schema(
                    {
                        "path": {
                            "type": "string",
                            "minLength": 1,
                            "description": "Folder path on the server (~ and relative allowed).",
                        },
                        "recursive": {
                            "type": "boolean",
                            "description": "Include images in sub-folders (named sub/x.jpg).",
                        },
                        "timeout_minutes": {
                            "type": ["integer", "null"],
                            "description": "Unload after this many minutes; 0 = never.",
                        },
                        "watch": {
                            "type": "boolean",
                            "description": "Follow the folder: new files appear within 1 s.",
                        },
                    },
                    ("path",),
                ),
                read_only=False,
            ),
            _load_directory,
        ),
        ToolSpec(
            _tool(
                "list_images",
                "List one page of a directory's images (name, URL, size, mtime), sorted by name.",
                _schema(
                    {
                        "directory_id": _DIRECTORY_ID,
                        "offset": {"type": "integer", "minimum": 0, "description": "Skip N."},
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE_LIMIT,
                            "description": "Page size (default 1000).",
                        },
                        "unique": {
                            "type": "boolean",
                            "description": "Only frames that differ from the previous kept one.",
                        },
                    },
                    ("directory_id",),
                ),
                read_only=True,
            ),
            _list_images,
        ),
        ToolSpec(
            _tool(
                "get_image",
                "Fetch one image resized for a model (preset, default claude) and its stable URL.",
                _ONE_IMAGE,
                read_only=True,
            ),
            _get_image,
        ),
        ToolSpec(
            _tool(
                "image_url",
                "Return the stable (signed when signing is on) HTTP URL of one image.",
                _ONE_IMAGE,
                read_only=True,
            ),
            _image_url,
        ),
        ToolSpec(
            _tool(
                "unload_directory",
                "Unload one directory by id; its URLs stop answering.",
                _schema({"directory_id": _DIRECTORY_ID}, ("directory_id",)),
                read_only=False,
            ),
            _unload_directory,
        ),
        ToolSpec(
            _tool(
                "publish",
                "Upload a directory to S3 storage (s3://bucket/prefix) and return the job state.",
                _schema(
                    {
                        "directory_id": _DIRECTORY_ID,
                        "target": {
                            "type": "string",
                            "pattern": "^s3://",
                            "description": "s3://BUCKET/PREFIX, allowed by the server.",
                        },
                        "preset": _PRESET,
                        "wait_seconds": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": MAX_PUBLISH_WAIT_SECONDS,
                            "description": "Wait up to this long for the job to finish.",
                        },
                    },
                    ("directory_id", "target"),
                ),
                read_only=False,
            ),
            _publish,
        ),
    )
}


async def call_tool(
    api: ImageServerApi, name: str, arguments: dict[str, Any] | None
) -> types.CallToolResult:
    """Validate the arguments against the tool's schema, run it, and shape errors.

    :raise KeyError: no tool has that name (the caller answers with a protocol error).
    """
    spec = TOOLS[name]
    args = dict(arguments or {})
    try:
        # The low-level SDK server does not check arguments against the schema it advertises.
        jsonschema.validate(args, spec.tool.input_schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        message = f"Invalid arguments for {name}: {exc.message}" + (
            f" (at {where})" if where else ""
        )
        return error_result(ApiError(422, message))
    try:
        return await spec.handler(api, args)
    except ApiError as exc:
        return error_result(exc)
