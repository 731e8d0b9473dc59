"""How `get_image` and `get_sheet` hand an image to the agent: inline within limits, or a link.

Why these limits: Claude Desktop refuses a tool result over 1 MB, and a model API refuses or
scales down images over about 1568 px on the long side when a request holds several. An
inline image is therefore at most `INLINE_MAX_SIDE` px and `INLINE_MAX_BYTES` bytes, so its
base64 form (4/3 larger) stays within 1,000,000 bytes. The server makes the smaller copy
(`max=`, `max_bytes=`: quality steps down first, then the size; docs/API.md#images), so the
copy is cached and has a URL of its own like any variant; this process only asks for it.

Every answer also carries the URL as text and as a `resource_link`: clients that cannot
take image content (n8n's MCP Client Tool turns it into text), and pipelines that pass URLs
on, get what they can use. `delivery="link"` sends only that, no image bytes at all.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from PIL import Image
from PIL import UnidentifiedImageError

from imageserver.variants.presets import PRESETS

from .client import FetchedImage

INLINE_MAX_SIDE = 1568
INLINE_MAX_BYTES = 750_000

# Given variant parameters beyond the preset's, the URL the server hands out for them.
UrlFor = Callable[[dict[str, str]], Awaitable[str]]
Fetch = Callable[[str], Awaitable[FetchedImage]]


@dataclass(frozen=True)
class Delivered:
    """What was handed over: the URL described, the preset's URL, and the inline image."""

    url: str
    preset_url: str
    image: FetchedImage | None = None
    size: tuple[int, int] | None = None
    reduced: bool = False

    def facts(self) -> dict[str, Any]:
        """The structured facts of the delivery (never the bytes)."""
        width, height = self.size or (None, None)
        return {
            "url": self.url,
            "preset_url": self.preset_url,
            "delivery": "inline" if self.image is not None else "link",
            "media_type": self.image.media_type if self.image else None,
            "width": width,
            "height": height,
            "size": len(self.image.data) if self.image else None,
            "reduced": self.reduced,
        }


def side_params(preset: str | None) -> dict[str, str]:
    """`max=` when the preset allows a longer side than an inline image may have."""
    limit = PRESETS[preset].max_side if preset else None
    return {} if limit is not None and limit <= INLINE_MAX_SIDE else {"max": str(INLINE_MAX_SIDE)}


def byte_params(preset: str | None) -> dict[str, str]:
    """`max_bytes=` when the preset allows more bytes than an inline image may have."""
    limit = PRESETS[preset].max_bytes if preset else None
    fits = limit is not None and limit <= INLINE_MAX_BYTES
    return {} if fits else {"max_bytes": str(INLINE_MAX_BYTES)}


async def deliver(
    url_for: UrlFor,
    fetch: Fetch,
    preset: str | None,
    delivery: str,
    original_side: int | None = None,
    drawn_within: bool = False,
) -> Delivered:
    """Return the link, or the inline image within the limits (smaller only when it must be).

    The preset's own image is fetched first; only when it is over the byte limit is the
    server asked for a copy within it. `original_side` (the source's long side, when known)
    tells whether the side limit made it smaller than the preset would have; `drawn_within`
    says the image is drawn within the side limit anyway (a contact sheet).
    """
    preset_url = await url_for({})
    if delivery == "link":
        return Delivered(preset_url, preset_url)
    side = {} if drawn_within else side_params(preset)
    url = await url_for(side) if side else preset_url
    image = await fetch(url)
    stepped = len(image.data) > INLINE_MAX_BYTES
    if stepped:
        url = await url_for({**side, **byte_params(preset)})
        image = await fetch(url)
    size = image_size(image.data)
    return Delivered(url, preset_url, image, size, stepped or _shrunk(side, size, original_side))


def _shrunk(side: dict[str, str], size: tuple[int, int] | None, original: int | None) -> bool:
    """Whether the side limit (not the preset) made the image smaller than its source."""
    if not side or size is None or original is None:
        return False
    return original > INLINE_MAX_SIDE and max(size) >= INLINE_MAX_SIDE


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image's header, or None when it does not read."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.size
    except (UnidentifiedImageError, OSError):
        return None


def content(delivered: Delivered, name: str, note: str) -> list[types.ContentBlock]:
    """The content blocks: the image (inline), the URL as text, a resource link, the note."""
    image = delivered.image
    link = types.ResourceLink(
        name=name,
        uri=delivered.url,
        mime_type=image.media_type if image else None,
        size=len(image.data) if image else None,
    )
    blocks: list[types.ContentBlock] = []
    if image is not None:
        data = base64.b64encode(image.data).decode("ascii")
        blocks.append(types.ImageContent(data=data, mime_type=image.media_type))
    return [*blocks, types.TextContent(text=delivered.url), link, types.TextContent(text=note)]


def describe(delivered: Delivered, what: str, preset: str | None) -> str:
    """One sentence on what was sent, and whether (and why) it was made smaller."""
    at = f"preset {preset}" if preset else "its drawn size"
    if delivered.image is None:
        return f"{what}: URL at {at}; no image bytes sent (delivery=link)."
    width, height = delivered.size or (0, 0)
    sent = (
        f"{what}: sent inline as {width}x{height} {delivered.image.media_type}, "
        f"{len(delivered.image.data):,} bytes ({at})."
    )
    if not delivered.reduced:
        return sent
    return (
        f"{sent} It was reduced to fit the inline limits ({INLINE_MAX_SIDE} px, "
        f"{INLINE_MAX_BYTES:,} bytes); without them: {delivered.preset_url}"
    )
