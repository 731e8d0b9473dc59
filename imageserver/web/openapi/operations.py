"""The operations of one server's OpenAPI document: what needs the token follows its `Config`."""

from __future__ import annotations

import copy
from typing import Any

from imageserver.settings.config import Config
from imageserver.settings.media_types import IMAGE_MEDIA_TYPES
from imageserver.web.openapi.schemas import ALLOW
from imageserver.web.openapi.schemas import BEARER
from imageserver.web.openapi.schemas import IMAGE_HEADER_PARAMETERS
from imageserver.web.openapi.schemas import INVALID
from imageserver.web.openapi.schemas import JSON
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import TOO_LARGE
from imageserver.web.openapi.schemas import UNAUTHORIZED
from imageserver.web.openapi.schemas import Schema
from imageserver.web.openapi.schemas import image_query_parameters
from imageserver.web.openapi.schemas import ref
from imageserver.web.openapi.schemas import response_spec


class Operations:
    """Builds the operations of one server: what needs the token follows its `Config`."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def operation(
        self,
        operation_id: str,
        summary: str,
        responses: dict[str, Any],
        *,
        control: bool = True,
        parameters: list[Schema] | tuple[Schema, ...] = (),
        body: str | None = None,
    ) -> dict[str, Any]:
        """Build one operation; a control operation needs the token when one is set (401)."""
        operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
        if parameters:
            operation["parameters"] = list(parameters)
        if body is not None:
            content = {JSON: {"schema": ref(body)}}
            operation["requestBody"] = {"required": True, "content": content}
            responses = {**responses, "413": TOO_LARGE, "422": INVALID}
        locked = control and bool(self.config.tokens)
        if locked:
            responses = {**responses, "401": UNAUTHORIZED}
        operation["responses"] = dict(sorted(responses.items()))
        # `security: []` states that the operation is open whatever the global default.
        operation["security"] = [{BEARER: []}] if locked else []
        return operation

    def options(
        self, operation_id: str, status: str = "200", others: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An OPTIONS answer: open, no body, the allowed methods in `Allow`."""
        allowed = response_spec("The methods this path allows.", headers=ALLOW)
        responses = {status: allowed, **(others or {})}
        summary = "Allowed methods (CORS preflight)"
        return self.operation(operation_id, summary, responses, control=False)

    def read_path(
        self, get: dict[str, Any], options: dict[str, Any] | None = None, **item: Any
    ) -> dict[str, Any]:
        """A path item with GET, its HEAD twin and OPTIONS (Flask's automatic one by default)."""
        head = copy.deepcopy(get)
        head["operationId"] = f"{get['operationId']}_head"
        head["summary"] = f"Headers of: {get['summary']}"
        for response in head["responses"].values():
            response.pop("content", None)  # a HEAD answer never has a body
        options = options or self.options(f"{get['operationId']}_options")
        return {**item, "get": get, "head": head, "options": options}

    def write_path(self, operation: dict[str, Any], method: str = "post") -> dict[str, Any]:
        """A path item with one writing method and Flask's automatic OPTIONS."""
        return {method: operation, "options": self.options(f"{operation['operationId']}_options")}

    def image_path(
        self,
        operation_id: str,
        summary: str,
        others: dict[str, Any] | None = None,
        own_parameters: list[Schema] | tuple[Schema, ...] = (),
    ) -> dict[str, Any]:
        """GET, HEAD and OPTIONS of an image route (docs/API.md#images; variants).

        `own_parameters` come before the variant parameters (a contact sheet's `names`...).
        """
        # The original's type, that of a variant (`format=`), or a data URI (`as=datauri`).
        media_types = [*sorted(set(IMAGE_MEDIA_TYPES.values())), "text/plain"]
        body = {media_type: {} for media_type in media_types}
        required = ("ETag", "Last-Modified", "Accept-Ranges", "Access-Control-Allow-Origin")
        headers: dict[str, Any] = {n: {"schema": STRING, "required": True} for n in required}
        headers["X-Variant-Cache"] = {"schema": {"enum": ["hit", "miss"]}}
        responses = {
            "200": {
                "description": "The image or its variant.",
                "headers": headers,
                "content": body,
            },
            "206": {"description": "One byte range of it.", "content": body},
            "304": {"description": "The client's copy is current."},
            "404": response_spec("Not a served image of that directory.", "Detail"),
            "413": response_spec("The source has too many pixels for a variant.", "Detail"),
            "416": response_spec("The range is outside the file, or malformed.", "Detail"),
            "422": response_spec(
                "Bad variant parameters, or an undecodable source.", "ValidationError"
            ),
            "503": response_spec("The variant cache is busy or unusable; try again.", "Detail"),
            **(others or {}),
        }
        if self.config.signing_key:
            responses["403"] = response_spec("Missing, wrong or expired signature.", "Detail")
        parameters = [
            *own_parameters,
            *image_query_parameters(self.config),
            *IMAGE_HEADER_PARAMETERS,
        ]
        get = self.operation(operation_id, summary, responses, control=False, parameters=parameters)
        # The preflight answers before any lookup. Only a path that no route matches (an
        # empty name, `/d/<id>/`) gets a routing 404.
        unrouted = response_spec("No route matches the name.", "Detail")
        options = self.options(f"{operation_id}_options", "204", {"404": unrouted})
        return self.read_path(get, options)
