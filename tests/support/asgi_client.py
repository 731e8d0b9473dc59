"""Drive an ASGI application in process, one HTTP request at a time.

Just enough of an ASGI server for tests that must see which layer answered: it builds the
scope granian would (a percent-encoded `raw_path`, lower-case header names), sends the body
in one message, and collects the answer into a Werkzeug `Response`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response


class ASGIClient:
    """Send requests to `app` on a private event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def open(
        self,
        target: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: bytes = b"",
    ) -> Response:
        """Send one request (`target` is a path with an optional query) and return the answer."""
        body = data
        request_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if json is not None:
            import json as json_module

            body = json_module.dumps(json).encode()
            request_headers.setdefault("content-type", "application/json")
        if body:
            request_headers["content-length"] = str(len(body))
        request_headers.setdefault("host", "localhost")
        parts = urlsplit(target)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(parts.path),
            "raw_path": parts.path.encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in request_headers.items()
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        return self.loop.run_until_complete(self._run(scope, body))

    async def _run(self, scope: dict[str, Any], body: bytes) -> Response:
        sent_body = False
        status = 500
        headers = Headers()
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # a real server would report a disconnect eventually
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message["headers"]:
                    # Title case, as a WSGI server would show them: the tests compare names.
                    headers.add(_title(name.decode("latin-1")), value.decode("latin-1"))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        response = Response(b"".join(chunks), status=status)
        response.headers = headers
        return response


_SPECIAL = {"etag": "ETag", "x-content-type-options": "X-Content-Type-Options"}


def _title(name: str) -> str:
    lower = name.lower()
    return _SPECIAL.get(lower) or "-".join(part.capitalize() for part in lower.split("-"))
