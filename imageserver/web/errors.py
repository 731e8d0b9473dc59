"""The one error shape of the API: `{"detail": ...}`, rendered in one place.

Views raise `ApiError` (or let pydantic raise `ValidationError`); the handlers registered by
`init_app` turn every failure, including Werkzeug's 404/405/413 and any unexpected exception,
into JSON with the right status. No HTML page and no traceback ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Werkzeug's headers that describe its own HTML body; ours is JSON.
_BODY_HEADERS = {"content-type", "content-length"}


class ApiError(Exception):
    """An error with an HTTP status and the `detail` text the client gets."""

    def __init__(
        self, status: HTTPStatus, detail: Any, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class RequestValidationError(Exception):
    """A 422: a list of pydantic-style errors whose `loc` already names where (body, path...)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def validation_errors(exc: ValidationError, location: Sequence[str | int]) -> list[dict]:
    """Convert pydantic errors to the documented 422 list, prefixing each `loc` with `location`."""
    errors = []
    for error in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": [*location, *error["loc"]],
            "msg": error["msg"],
            "input": error.get("input"),
        }
        if error.get("ctx"):
            item["ctx"] = {key: _json_safe(value) for key, value in error["ctx"].items()}
        errors.append(item)
    return errors


def _json_safe(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def json_error(status: int, detail: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """Build the `{"detail": ...}` response."""
    response = current_app.json.response({"detail": detail})
    response.status_code = status
    for name, value in headers:
        if name.lower() not in _BODY_HEADERS:
            response.headers[name] = value
    return response


def _handle_api_error(exc: ApiError) -> Response:
    return json_error(exc.status, exc.detail, exc.headers.items())


def _handle_validation(exc: RequestValidationError) -> Response:
    return json_error(HTTPStatus.UNPROCESSABLE_ENTITY, exc.errors)


def _handle_http(exc: HTTPException) -> Response:
    # Werkzeug's names are the same phrases FastAPI used ("Not Found", "Method Not Allowed").
    status = exc.code or HTTPStatus.INTERNAL_SERVER_ERROR
    response = json_error(status, exc.name, exc.get_headers())
    if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        # The unread body is still on the socket: close rather than parse it as a request.
        response.headers["Connection"] = "close"
    return response


def _handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _handle_http(exc)
    log.exception("unhandled error")
    return json_error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")


def init_app(app: Flask) -> None:
    """Register the handlers that give every error its one shape, `{"detail": ...}`."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(RequestValidationError, _handle_validation)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
