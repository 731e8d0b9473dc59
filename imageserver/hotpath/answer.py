"""What the native image path answers with, and the headers it builds (no framework).

`ImageRequest` is what the hot path reads of a request and `ImageAnswer` what it sends; the
headers are computed as Werkzeug's `send_file` computes them, and encoded once per version of
a file (`file_headers`), so a repeated request costs a cache lookup, not a dozen encodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field
from functools import lru_cache

from imageserver.hotpath.conditional import content_disposition
from imageserver.hotpath.conditional import expires_header
from imageserver.hotpath.conditional import last_modified_header
from imageserver.hotpath.conditional import single_range
from imageserver.hotpath.headers import FIXED_IMAGE_HEADERS
from imageserver.state.registry import Directory

Header = tuple[bytes, bytes]

# Files up to this size are sent as one bytes object; larger ones are streamed.
SMALL_FILE_BYTES = 512 * 1024
STREAM_BLOCK_BYTES = 256 * 1024
_FIXED_HEADERS: tuple[Header, ...] = tuple(
    (name.encode("latin-1"), value.encode("latin-1")) for name, value in FIXED_IMAGE_HEADERS
)
VARIANT_HIT: Header = (b"X-Variant-Cache", b"hit")
# Route templates, as metrics and the access log name them (never the raw path).
STABLE_ROUTE = "/d/{id}/{name}"
IMAGES_ROUTE = "/images/{name}"


class ShortRead(OSError):
    """A streamed file shrank after its Content-Length was sent: the answer is cut short.

    Either engine then drops the connection, so a client never takes padding for the file.
    """


@dataclass(slots=True)
class ImageRequest:
    """The parts of an image GET/HEAD the hot path looks at, taken from any engine."""

    head: bool
    raw_path: str  # still percent-encoded, latin-1 decoded, without the query
    query: str = ""
    range: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    # If-Range or If-Match: rare preconditions left to Werkzeug's slower, complete path.
    other_precondition: bool = False


@dataclass(slots=True)
class ImageAnswer:
    """A yes: the status, the headers and the bytes, or a descriptor to stream.

    When `stream_fd` is set the sender reads `stream_length` bytes from offset 0 and closes
    it; `body` is then empty. `touched` names an idle-mode directory whose deadline slides.
    `route`, `directory_id` and `variant` describe the answer for metrics and the access log.
    """

    status: int
    headers: list[Header]
    body: bytes = b""
    stream_fd: int | None = None
    stream_length: int = 0
    touched: Directory | None = field(default=None)
    route: str = ""
    directory_id: str = ""
    variant: bool = False

    @property
    def body_bytes(self) -> int:
        """The number of body bytes this answer sends."""
        return self.stream_length if self.stream_fd is not None else len(self.body)


def answer_range(
    request: ImageRequest, fd: int, size: int, headers: list[Header]
) -> ImageAnswer | None:
    """Answer one satisfiable byte range with 206; anything else is Werkzeug's (416...)."""
    byte_range = single_range(request.range or "", size, SMALL_FILE_BYTES)
    if byte_range is None:
        return None
    start, stop = byte_range
    data = b"" if request.head else os.pread(fd, stop - start, start)
    if not request.head and len(data) != stop - start:
        return None  # the file shrank meanwhile
    return ImageAnswer(
        206,
        [
            headers[0],
            (b"Content-Length", b"%d" % (stop - start)),
            *headers[1:],
            (b"Content-Range", f"bytes {start}-{stop - 1}/{size}".encode()),
        ],
        data,
    )


@dataclass(frozen=True, slots=True)
class _FileHeaders:
    """The headers of one version of one file, encoded once (the hot path reuses them)."""

    content_type: Header
    content_length: Header
    last_modified: Header
    disposition: Header
    tail: tuple[Header, ...]  # ETag, the fixed image headers, the variant marker


@lru_cache(maxsize=8192)
def file_headers(
    download_name: str, etag: str, media_type: str, modified: int, size: int, variant: bool
) -> _FileHeaders:
    tail = ((b"ETag", etag.encode("latin-1")), *_FIXED_HEADERS)
    return _FileHeaders(
        content_type=(b"Content-Type", media_type.encode("latin-1")),
        content_length=(b"Content-Length", b"%d" % size),
        last_modified=(b"Last-Modified", _last_modified(modified)),
        disposition=(b"Content-Disposition", _disposition(download_name)),
        tail=(*tail, VARIANT_HIT) if variant else tail,
    )


@lru_cache(maxsize=8192)
def _disposition(download_name: str) -> bytes:
    return content_disposition(download_name).encode("latin-1")


@lru_cache(maxsize=4096)
def _last_modified(mtime_seconds: int) -> bytes:
    return last_modified_header(mtime_seconds).encode("latin-1")


@lru_cache(maxsize=4)
def expires_value(now_seconds: int, max_age: int) -> bytes:
    return expires_header(now_seconds, max_age).encode("latin-1")
