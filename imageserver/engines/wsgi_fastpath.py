"""The native image path as WSGI middleware, for WSGI servers started from outside.

`python server.py` runs the ASGI application (`engines/asgi.py`) under granian. This adapter
serves `imageserver.wsgi:application` under a WSGI server, and lets tests drive the responder
in process. What it loses against ASGI (SECURITY.md, "The WSGI entry point"):
- a server that puts the raw request target in `RAW_URI`/`REQUEST_URI` (gunicorn, uWSGI,
  Werkzeug's) keeps `%2F` a plain character: a name with it is a 404, as under granian;
- a server that does not (wsgiref, granian's WSGI interface) hands over a decoded
  `PATH_INFO`, where `%2F` has already become `/`: it then acts as a separator between index
  names, and the file it names is served. Confinement still holds: only indexed names answer.
- no metrics and no access log: the observer needs the ASGI engine (`engines/asgi.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from imageserver.engines.flask_bridge import WSGIApplication as WSGIApp
from imageserver.hotpath.answer import STREAM_BLOCK_BYTES
from imageserver.hotpath.answer import ImageAnswer
from imageserver.hotpath.answer import ShortRead
from imageserver.hotpath.request import request_from_environ
from imageserver.hotpath.request import usable_range
from imageserver.hotpath.responder import ImageResponder

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class ImageFastPath:
    """WSGI middleware: answers plain image GET/HEAD itself, hands the rest to `app`."""

    def __init__(self, app: WSGIApp, responder: ImageResponder) -> None:
        self.app = app
        self.responder = responder
        self.config = responder.config

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "HTTP_RANGE" in environ and usable_range(environ["HTTP_RANGE"]) is None:
            del environ["HTTP_RANGE"]  # ignored by every layer below, as under ASGI
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            answer = self.responder.respond(request_from_environ(environ, method == "HEAD"))
            if answer is not None:
                if answer.touched is not None:
                    self.responder.registry.touch(answer.touched)
                return _send(answer, start_response)
        return self.app(environ, start_response)


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
                # Raised, not returned: the WSGI server then drops the connection instead of
                # ending a response shorter than its Content-Length (as under ASGI).
                raise ShortRead(f"file shrank to {offset} of {length} bytes while sent")
            offset += len(block)
            yield block
    finally:
        os.close(fd)
