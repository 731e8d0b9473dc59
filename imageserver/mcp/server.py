"""Build the MCP server (the SDK's low-level `Server`) for one way of reaching the HTTP API.

The low-level server is used rather than `MCPServer`'s decorators because the tool schemas
are written out (as docs/MCP.md lists them, with enums and bounds) and because an API refusal
must reach the agent as the API's `detail`, not wrapped in the SDK's own error text.

`api_for` decides how each request reaches the HTTP API: stdio always uses one client; the
`/mcp` mount builds one per request from the caller's headers (its token, its `Host`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import mcp_types as types
from mcp.server import Server
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError

from imageserver.settings.version import package_version

from .client import ApiError
from .client import ImageServerApi
from .loading import Progress
from .tools import TOOLS
from .tools import call_tool

SERVER_NAME = "imageserver"
RESOURCE_SCHEME = "imageserver://d/"
RESOURCE_TEMPLATE = "imageserver://d/{id}/{name}"
# JSON-RPC error code of an unknown resource (MCP specification, resources).
RESOURCE_NOT_FOUND = -32002
INSTRUCTIONS = (
    "Serves local image folders and video frames at stable HTTP URLs. Load a folder or video "
    "(load_directory) or pick one (list_directories), page through list_images (unique=true "
    "keeps only frames that changed), look at many frames at once with get_sheet or at one "
    "with get_image, and hand URLs to other models or tools (image_url, or delivery=link)."
)

ApiFactory = Callable[[ServerRequestContext[Any]], ImageServerApi]


def parse_resource_uri(uri: str) -> tuple[str, str] | None:
    """Split `imageserver://d/<id>/<name>` into id and name (percent-decoded), or None."""
    if not uri.startswith(RESOURCE_SCHEME):
        return None
    dir_id, _, name = uri[len(RESOURCE_SCHEME) :].partition("/")
    # The template's {name} percent-encodes `/`; a client may also send sub/x.jpg as is.
    dir_id, name = unquote(dir_id), unquote(name)
    return (dir_id, name) if dir_id and name else None


def _progress(ctx: ServerRequestContext[Any]) -> Progress | None:
    """The progress reporter of this request, or None when the client sent no token."""
    meta = ctx.meta or {}
    if meta.get("progress_token") is None:
        return None
    return ctx.session.report_progress


def build_server(api_for: ApiFactory) -> Server[Any]:
    """Return the MCP server: docs/MCP.md's tools and the `imageserver://d/{id}/{name}` template."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[spec.tool for spec in TOOLS.values()])

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name not in TOOLS:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        return await call_tool(api_for(ctx), params.name, params.arguments, _progress(ctx))

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        # Every image is reachable through the template; listing them all would not scale.
        return types.ListResourcesResult(resources=[])

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            name="image",
            title="Image of a loaded directory",
            uri_template=RESOURCE_TEMPLATE,
            description="The original bytes of image {name} in directory {id}.",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        parts = parse_resource_uri(uri)
        if parts is None:
            raise MCPError(RESOURCE_NOT_FOUND, f"Not an image resource: {uri}")
        try:
            image = await api_for(ctx).fetch_image(*parts)
        except ApiError as exc:
            # A protocol error, unlike tools: resources/read has no "error result" form.
            raise MCPError(RESOURCE_NOT_FOUND, exc.text, {"status": exc.status}) from None
        blob = types.BlobResourceContents(
            uri=uri, mime_type=image.media_type, blob=base64.b64encode(image.data).decode("ascii")
        )
        return types.ReadResourceResult(contents=[blob])

    return Server(
        SERVER_NAME,
        version=package_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )
