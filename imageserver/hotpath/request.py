"""The one place where an image request is read out of an engine's request.

Both engine adapters (`engines/asgi.py`, `engines/wsgi_fastpath.py`) build the same
`ImageRequest` here, and the RFC 9110 14.2 rule (a `Range` in a unit other than bytes is
ignored, where Werkzeug would answer 416) is applied here for the image path and, through
`without_unknown_range`, for what Flask sees. Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from imageserver.hotpath.answer import ImageRequest
from imageserver.security.confinement import raw_request_path

IMAGE_PREFIXES = (b"/d/", b"/images/")
RawHeaders = Sequence[tuple[bytes, bytes]]


def usable_range(value: str | None) -> str | None:
    """Return a `Range` header worth acting on: bytes ranges only, else None (ignored)."""
    if value is None or not value.lstrip().lower().startswith("bytes="):
        return None
    return value


def request_from_scope(scope: Mapping[str, Any], head: bool) -> ImageRequest | None:
    """Read an image request out of an ASGI scope, or None when the path is no image route.

    The path is the scope's `raw_path`, still percent-encoded, so `%2F` never separates.
    """
    raw_path: bytes = scope.get("raw_path") or b""
    if not raw_path.startswith(IMAGE_PREFIXES):
        return None
    request = ImageRequest(
        head, raw_path.decode("latin-1"), scope["query_string"].decode("latin-1")
    )
    for name, value in scope["headers"]:
        if name == b"range":
            request.range = usable_range(value.decode("latin-1"))
        elif name == b"if-none-match":
            request.if_none_match = value.decode("latin-1")
        elif name == b"if-modified-since":
            request.if_modified_since = value.decode("latin-1")
        elif name == b"if-range" or name == b"if-match":
            request.other_precondition = True
    return request


def request_from_environ(environ: Mapping[str, Any], head: bool) -> ImageRequest:
    """Read an image request out of a WSGI environ (the raw target when the server gives it)."""
    return ImageRequest(
        head=head,
        raw_path=raw_request_path(dict(environ)),
        query=environ.get("QUERY_STRING", ""),
        range=usable_range(environ.get("HTTP_RANGE")),
        if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
        if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
        other_precondition="HTTP_IF_RANGE" in environ or "HTTP_IF_MATCH" in environ,
    )


def without_unknown_range(headers: RawHeaders) -> RawHeaders:
    """Return raw headers without a `Range` in an unknown unit (the same headers otherwise)."""
    if any(
        name == b"range" and usable_range(value.decode("latin-1")) is None
        for name, value in headers
    ):
        return [(name, value) for name, value in headers if name != b"range"]
    return headers
