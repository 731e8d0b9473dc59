"""RFC 2397 data URIs: `data:<media type>;base64,<data>`, the form Cohere and n8n inline."""

from __future__ import annotations

import base64
import binascii

PREFIX = "data:"
MARKER = ";base64,"


def encode(data: bytes, media_type: str) -> str:
    """Return `data` as a base64 data URI of `media_type`."""
    return f"{PREFIX}{media_type}{MARKER}{base64.b64encode(data).decode('ascii')}"


def decode(uri: str) -> tuple[str, bytes]:
    """Return the media type and the bytes of a base64 data URI.

    :raise ValueError: not a base64 data URI, or the payload is not valid base64.
    """
    if not uri.startswith(PREFIX) or MARKER not in uri:
        raise ValueError("not a base64 data URI")
    media_type, _, payload = uri[len(PREFIX) :].partition(MARKER)
    try:
        return media_type, base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64 payload: {exc}") from None


def uri_length(size: int, media_type: str) -> int:
    """Return the length of the data URI of `size` bytes, without building it."""
    return len(PREFIX) + len(media_type) + len(MARKER) + 4 * ((size + 2) // 3)
