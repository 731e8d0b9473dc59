"""The SDK's own MCP client on both transports, and small helpers for calling tools.

`/mcp` of a real server is reached with `streamable_http_client`; `imageserver mcp --server
URL` is spawned with `stdio_client`. Both yield an initialised `ClientSession`.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import ClientSession
from mcp import StdioServerParameters
from mcp import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult
from mcp_types import ImageContent
from mcp_types import TextContent
from PIL import Image

from tests.support.server import PROJECT_ROOT
from tests.support.server import ServerProcess

TRANSPORTS = ("http", "stdio")


@asynccontextmanager
async def http_session(server: ServerProcess, token: str | None) -> AsyncIterator[ClientSession]:
    """A ClientSession on `/mcp` (streamable HTTP), initialised."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as client,
        streamable_http_client(server.url("/mcp"), http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(server: ServerProcess, token: str | None) -> AsyncIterator[ClientSession]:
    """A ClientSession on `imageserver mcp --server URL` spawned over stdio, initialised."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "imageserver", "mcp", "--server", server.base_url],
        env={"IMAGE_SERVER_TOKEN": token or "", "IMAGE_SERVER_ENV_FILE": "/dev/null"},
        cwd=PROJECT_ROOT,
    )
    with open(server.state_dir / "mcp-stdio.log", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def session_for(transport: str, server: ServerProcess, token: str | None = None) -> Any:
    """An async context manager of a session over `transport` ("http" or "stdio")."""
    return (http_session if transport == "http" else stdio_session)(server, token)


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def text_of(result: CallToolResult) -> str:
    """Every text block of a result, joined by newlines."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call_ok(session: ClientSession, tool: str, /, **arguments: Any) -> CallToolResult:
    """Call a tool and assert it succeeded."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return result


async def call_error(session: ClientSession, tool: str, /, **arguments: Any) -> str:
    """Call a tool, assert it is a tool error, and return its text."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, text_of(result)
    return text_of(result)


def decoded(image: ImageContent) -> Image.Image:
    """The image of an image block, fully decoded; `info["nbytes"]` is its byte size."""
    data = base64.b64decode(image.data)
    picture = Image.open(io.BytesIO(data))
    picture.load()  # the whole image decodes, not just its header
    picture.info["nbytes"] = len(data)
    return picture
