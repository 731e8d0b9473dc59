"""The MCP tools (names and arguments pinned in docs/MCP.md): definitions and dispatch.

Each tool has a title, a one-line description, argument and result schemas
(`schemas.py`), annotations that let a client ask before it changes anything, and a
handler (`handlers.py`). A refusal of the HTTP API becomes a tool error (`isError`) whose
text is the API's `detail`, verbatim, so the agent reads exactly what a curl user would.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import mcp_types as types

from . import handlers
from . import schemas
from .client import ApiError
from .client import ImageServerApi
from .handlers import ToolCall
from .loading import Progress

Handler = Callable[[ToolCall], Awaitable[types.CallToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool: what the agent sees (`tool`) and what runs (`handler`)."""

    tool: types.Tool
    handler: Handler


def error_result(error: ApiError) -> types.CallToolResult:
    """A tool error whose text is the API's `detail`, unchanged, and no structured content.

    Structured content must match the tool's output schema, and an error's shape does not:
    the TypeScript SDK's client (1.20, in n8n's MCP Client Tool) checks it even on errors and
    replaces the whole result with a -32602 error, so the agent never read the detail.
    """
    return types.CallToolResult(content=[types.TextContent(text=error.text)], is_error=True)


def _spec(
    name: str,
    title: str,
    description: str,
    arguments: dict[str, Any],
    output: dict[str, Any],
    handler: Handler,
    *,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
) -> ToolSpec:
    annotations = types.ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )
    tool = types.Tool(
        name=name,
        title=title,
        description=description,
        input_schema=arguments,
        output_schema=output,
        annotations=annotations,
    )
    return ToolSpec(tool, handler)


_SPECS = (
    _spec(
        "list_directories",
        "List loaded directories",
        "List the loaded directories (folders and videos) with ids, image counts, URL prefixes "
        "and a video's extraction state.",
        schemas.arguments({}),
        schemas.LIST_DIRECTORIES_RESULT,
        handlers.list_directories,
        read_only=True,
        idempotent=True,
    ),
    _spec(
        "load_directory",
        "Load a folder or video",
        "Load a server-side folder of images, or a video's frames, and return its directory id, "
        "URL prefix and (for a video) its extraction state.",
        schemas.LOAD_ARGUMENTS,
        schemas.LOAD_RESULT,
        handlers.load_directory,
        idempotent=True,
    ),
    _spec(
        "list_images",
        "List images",
        "List one page of a directory's images (name, URL, size, mtime; a video frame's time), "
        "sorted by name; unique keeps only frames that changed; name returns just that one.",
        schemas.LIST_IMAGES_ARGUMENTS,
        schemas.LIST_IMAGES_RESULT,
        handlers.list_images,
        read_only=True,
        idempotent=True,
    ),
    _spec(
        "get_image",
        "Look at an image",
        "Fetch one image resized for a model (preset, default claude) with its stable URL; "
        "delivery=link sends only the URL.",
        schemas.GET_IMAGE_ARGUMENTS,
        schemas.GET_IMAGE_RESULT,
        handlers.get_image,
        read_only=True,
        idempotent=True,
    ),
    _spec(
        "get_sheet",
        "Look at many frames",
        "A contact sheet: up to 36 frames in one labelled grid (names, or from_name and count), "
        "with its URL; delivery=link sends only the URL.",
        schemas.GET_SHEET_ARGUMENTS,
        schemas.GET_SHEET_RESULT,
        handlers.get_sheet,
        read_only=True,
        idempotent=True,
    ),
    _spec(
        "image_url",
        "Get an image's URL",
        "Return the stable (signed when signing is on) HTTP URL of one image.",
        schemas.ONE_IMAGE_ARGUMENTS,
        schemas.IMAGE_URL_RESULT,
        handlers.image_url,
        read_only=True,
        idempotent=True,
    ),
    _spec(
        "unload_directory",
        "Unload a directory",
        "Unload one directory by id; its URLs stop answering.",
        schemas.DIRECTORY_ARGUMENTS,
        schemas.UNLOAD_RESULT,
        handlers.unload_directory,
        destructive=True,
    ),
    _spec(
        "publish",
        "Publish to S3 storage",
        "Upload a directory to S3 storage (s3://bucket/prefix) and return the job state.",
        schemas.PUBLISH_ARGUMENTS,
        schemas.PUBLISH_RESULT,
        handlers.publish,
        idempotent=True,
        open_world=True,
    ),
)
TOOLS: dict[str, ToolSpec] = {spec.tool.name: spec for spec in _SPECS}


async def call_tool(
    api: ImageServerApi,
    name: str,
    arguments: dict[str, Any] | None,
    progress: Progress | None = None,
) -> types.CallToolResult:
    """Validate the arguments against the tool's schema, run it, and shape errors.

    :param progress: reports progress to the client (None when it sent no progress token).
    :raise KeyError: no tool has that name (the caller answers with a protocol error).
    """
    spec = TOOLS[name]
    args, ignored = _known_arguments(spec, handlers.lenient(name, arguments or {}))
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
        result = await spec.handler(ToolCall(api, args, progress))
    except ApiError as exc:
        result = error_result(exc)
    if ignored:
        note = f"Ignored arguments {name} does not take: {', '.join(ignored)}."
        result.content.append(types.TextContent(text=note))
    return result


def _known_arguments(spec: ToolSpec, args: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split off the arguments the tool's schema does not declare, to name them, not refuse.

    n8n's AI Agent (v3 in n8n 1.123) sends its own input fields and a `toolCallId` along with
    the model's arguments; refusing them would make every call of that client fail. A
    misspelt argument is still reported, in the result's text
    (docs/MCP.md#n8n-ai-agent-with-the-mcp-client-tool).
    """
    declared = spec.tool.input_schema.get("properties", {})
    ignored = sorted(key for key in args if key not in declared)
    return {k: v for k, v in args.items() if k in declared}, ignored
