"""The native image path as WSGI middleware, for WSGI servers started from outside.

`python server.py` runs the ASGI application (`asgi.py`) under granian. This adapter serves
`imageserver.engines.wsgi:application` under a WSGI server, and lets tests drive the responder in
process. It loses what only ASGI gives: a WSGI server that puts no raw request target in
`RAW_URI`/`REQUEST_URI` (granian's WSGI interface, for one) hands over decoded paths, so
names with an encoded `%2F` cannot be told apart and are refused rather than served.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from imageserver.hotpath.answer import STREAM_BLOCK_BYTES
from imageserver.hotpath.answer import ImageAnswer
from imageserver.hotpath.answer import ImageRequest
from imageserver.hotpath.answer import is_known_range_unit
from imageserver.hotpath.responder import ImageResponder
from imageserver.security.confinement import raw_request_path

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class ImageFastPath:
    """WSGI middleware: answers plain image GET/HEAD itself, hands the rest to `app`."""

    def __init__(self, app: WSGIApp, responder: ImageResponder) -> None:
        self.app = app
        self.responder = responder
        self.config = responder.config

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        range_header = environ.get("HTTP_RANGE")
        if range_header is not None and not is_known_range_unit(range_header):
            # RFC 9110 14.2: a Range in a unit the server does not know is ignored (Werkzeug
            # would answer 416); drop it here so every layer below sees a plain request.
            del environ["HTTP_RANGE"]
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            answer = self.responder.respond(_image_request(environ, method == "HEAD"))
            if answer is not None:
                if answer.touched is not None:
                    self.responder.registry.touch(answer.touched)
                return _send(answer, start_response)
        return self.app(environ, start_response)


def _image_request(environ: dict[str, Any], head: bool) -> ImageRequest:
    return ImageRequest(
        head=head,
        raw_path=raw_request_path(environ),
        query=environ.get("QUERY_STRING", ""),
        range=environ.get("HTTP_RANGE"),
        if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
        if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
        other_precondition="HTTP_IF_RANGE" in environ or "HTTP_IF_MATCH" in environ,
    )


def _send(answer: ImageAnswer, start_response: Callable[..., Any]) -> Iterable[bytes]:
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers]
    start_response(_STATUS_LINES[answer.status], headers)
    if answer.stream_fd is not None:
        return _blocks(answer.stream_fd, answer.stream_length)
    return [answer.body] if answer.body else []


def _blocks(fd: int, length: int) -> Iterator[bytes]:
    """Yield `length` bytes of `fd` in blocks, closing it at the end or on close()."""
    try:
        offset = 0
        while offset < length:
            block = os.pread(fd, min(STREAM_BLOCK_BYTES, length - offset), offset)
            if not block:
                return  # the file shrank: the server sees a short body and drops the connection
            offset += len(block)
            yield block
    finally:
        os.close(fd)
