"""Which answer form a `/mcp` POST gets: one JSON body, or an SSE stream with progress.

The stateless transport answers a POST with one JSON body, so any worker answers any
request and nothing stays open. That body cannot carry notifications, though, and a long
video load should report progress: a `tools/call` whose `_meta` holds a `progressToken`,
from a client that accepts `text/event-stream`, is answered as an SSE stream instead (its
progress notifications, then the result), still within the one POST. The body is read here
to tell, then replayed to the SDK's transport.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyTooLarge(Exception):
    """The request body passed the server's limit."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read the whole request body. :raise BodyTooLarge: over `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: the transport answers what it got
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out `body` once, then the real one (a disconnect)."""
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def wants_progress(body: bytes, accept: str | None) -> bool:
    """A tool call with a progress token, from a client that takes an SSE answer."""
    if "text/event-stream" not in (accept or "") or b"progressToken" not in body:
        return False
    try:
        message = json.loads(body)
    except ValueError:
        return False
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return False
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and meta.get("progressToken") is not None
