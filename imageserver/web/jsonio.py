"""JSON in and out, the way the first (FastAPI) version did it.

Out: compact separators, keys in insertion order, UTF-8 as is, no trailing newline, so
responses match the old server byte for byte. In: a body is read as JSON when it is sent as
`application/json`, with no Content-Type, or as curl's default form type (bare `-d`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask
from flask import Request
from flask import Response
from flask.json.provider import DefaultJSONProvider

from imageserver.web.errors import RequestValidationError

MISSING = object()


class NonFiniteNumber(ValueError):
    """NaN or an infinite number in a JSON body: valid Python, not valid JSON."""


def _refuse(constant: str) -> float:
    raise NonFiniteNumber(constant)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 overflows to inf; it could never be stored or echoed back
        raise NonFiniteNumber(text)
    return value


class CompatJSONProvider(DefaultJSONProvider):
    """Flask's provider, made to serialise like FastAPI's `JSONResponse`."""

    sort_keys = False
    ensure_ascii = False
    compact = True

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        body = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return self._app.response_class(body, mimetype="application/json")


def init_app(app: Flask) -> None:
    """Install the JSON provider."""
    app.json_provider_class = CompatJSONProvider
    app.json = CompatJSONProvider(app)


def read_json_body(request: Request) -> Any:
    """Return the parsed JSON body, or `MISSING` when the body is empty.

    Any Content-Type is tolerated as long as the bytes are JSON: old clients send JSON as
    curl's default `application/x-www-form-urlencoded`, or with no type at all.

    :raise RequestValidationError: the body is not valid JSON (422, like FastAPI).
    :raise RequestEntityTooLarge: the body is over the configured limit (413).
    """
    # `body_limit.py` has already refused an over-limit body and sized a chunked one.
    data = request.get_data(cache=True)
    if not data.strip():
        return MISSING
    charset = request.mimetype_params.get("charset", "utf-8")
    try:
        return json.loads(data.decode(charset), parse_constant=_refuse, parse_float=_finite)
    except (LookupError, UnicodeDecodeError, NonFiniteNumber):
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error", "input": {}}]
        ) from None
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", exc.pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
