"""The 1 MiB request-body limit (SECURITY.md), with or without a length; uploads take more.

Flask checks `MAX_CONTENT_LENGTH` only when a view reads the body, and granian has no limit
of its own, so the check runs before every request. A chunked body (no Content-Length) is
read up to one byte over the limit and handed on to the view as a plain, sized body; a
route that never reads its body still answers 413 for one that is too large.

An unread body ends the keep-alive connection (granian closes it), so an over-limit body of
reasonable size is read and dropped before the 413: the client can send its next request on
the same connection.

One blueprint may take larger bodies (`allow_larger`: the upload inbox, docs/API.md#uploads).
Its views read the body as a stream and check sizes as it arrives, so a chunked body is
handed on unbuffered (marked as terminated, so Werkzeug reads it to its end).
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask import current_app
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

# Bodies up to this size are read and dropped after a 413 so the connection stays usable.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
_BLOCK = 65536
LARGER_LIMITS_KEY = "imageserver.body_limit.larger"


def init_app(app: Flask) -> None:
    """Check the size of every request body before the view runs."""
    app.before_request(_check_body_size)


def allow_larger(app: Flask, blueprint: str, limit: int) -> None:
    """Let the views of `blueprint` take bodies up to `limit` bytes, streamed to them."""
    app.extensions.setdefault(LARGER_LIMITS_KEY, {})[blueprint] = limit


def _check_body_size() -> None:
    larger = current_app.extensions.get(LARGER_LIMITS_KEY, {}).get(request.blueprint)
    if larger is not None:
        request.max_content_length = larger  # Werkzeug's stream stops there too
    limit = request.max_content_length
    if limit is None:
        return
    environ = request.environ
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        if larger is not None:
            environ["wsgi.input_terminated"] = True
        else:
            _buffer_chunked_body(environ, limit)
        return
    length = request.content_length or 0
    if length > limit:
        if length <= DRAIN_LIMIT_BYTES:
            _drain(environ["wsgi.input"], length)
        raise RequestEntityTooLarge()


def _buffer_chunked_body(environ: dict[str, Any], limit: int) -> None:
    """Read a chunked body (at most `limit` bytes) and give it to the view as a sized one.

    :raise RequestEntityTooLarge: the body is longer than `limit`.
    """
    stream = environ["wsgi.input"]
    data = stream.read(limit + 1)  # one byte more tells "exactly the limit" from "over it"
    if len(data) > limit:
        _drain(stream, DRAIN_LIMIT_BYTES - len(data))
        raise RequestEntityTooLarge()
    # From here on it is a plain body of known length (Werkzeug reads none of a chunked body
    # unless the server marks its input as terminated).
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    del environ["HTTP_TRANSFER_ENCODING"]


def _drain(stream: Any, length: int) -> None:
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _BLOCK))
        if not chunk:
            return
        remaining -= len(chunk)
