"""The building blocks of the OpenAPI document: component schemas, parameters, responses.

Taken from the pydantic models that validate requests (`web/schemas.py`,
`variants/params.py`), so each constraint is written once. `components.py` names the
bodies, `document.py` assembles the paths from these, `operations.py` the image routes'
media types (`settings/media_types.py`).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices
from pydantic import BaseModel

from imageserver.settings.config import Config
from imageserver.variants import params as variant_params
from imageserver.web.schemas import MAX_TIMEOUT_MINUTES

BEARER = "bearerAuth"
JSON = "application/json"
Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
COUNT: Schema = {"type": "integer", "minimum": 0}
URL: Schema = {"type": "string", "format": "uri"}
PREFIX_URL: Schema = {**URL, "pattern": "/$"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}
NULLABLE_TIMESTAMP: Schema = {
    "type": ["string", "null"],
    "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
}
NULLABLE_REMAINING: Schema = {"type": ["string", "null"], "pattern": r"^\d+m \d+s$"}
# pydantic validates the load body in lax mode, and docs/API.md#post-load-directory
# promises `"7"` for 7.
NUMERIC_STRING: Schema = {"type": "string", "pattern": "^[+-]?[0-9]+$"}
# What an unsigned URL (or the data-URI batch) may ask for: custom validators in
# `variants/params.py` that pydantic's own JSON schema cannot show.
UNSIGNED_VARIANT_LIMITS: dict[str, Schema] = {
    "max": {"enum": list(variant_params.UNSIGNED_SIZES)},
    "w": {"enum": list(variant_params.UNSIGNED_SIZES)},
    "h": {"enum": list(variant_params.UNSIGNED_SIZES)},
    "quality": {"multipleOf": variant_params.UNSIGNED_QUALITY_STEP},
    "max_bytes": {"enum": list(variant_params.UNSIGNED_MAX_BYTES)},
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], description: str = "") -> Schema:
    """An object whose listed keys are all present; extra keys may follow.

    See docs/API.md#conventions.
    """
    schema: Schema = {"type": "object", "properties": properties, "required": list(properties)}
    return {**schema, "description": description} if description else schema


def response_spec(description: str, schema: str | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        response["content"] = {JSON: {"schema": ref(schema)}}
    return response


def _parameter(where: str, name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    parameter = {"name": name, "in": where, "description": description, "schema": schema}
    return parameter | ({"required": True} if where == "path" else {}) | extra


DIRECTORY_ID = _parameter(
    "path",
    "id",
    {**STRING, "examples": ["frames-0123456789"]},
    "Stable id of a loaded directory (readable slug + short hash of its real path).",
)
IMAGE_NAME = _parameter(
    "path",
    "name",
    {**STRING, "examples": ["frame_000000.jpg"]},
    "Image name relative to the directory; nested names (`sub/a.jpg`) use a literal `/`. "
    "An encoded separator (`%2F`) never acts as one.",
)
MINUTES = _parameter(
    "path",
    "minutes",
    {"type": "integer", "minimum": 0, "maximum": MAX_TIMEOUT_MINUTES},
    "New default timeout in minutes (0 disables it); `007` is 7, a negative value is a 400.",
)
# Conditional and partial requests that the image routes honour (docs/API.md#images).
IMAGE_HEADER_PARAMETERS: tuple[Schema, ...] = (
    _parameter("header", "Range", {**STRING, "examples": ["bytes=0-99"]}, "One byte range."),
    _parameter("header", "If-None-Match", STRING, "ETag(s) of the client's copy."),
    _parameter(
        "header",
        "If-Modified-Since",
        {**STRING, "examples": ["Sun, 01 Jan 2034 00:00:00 GMT"]},
        "HTTP date of the client's copy.",
    ),
)


def image_query_parameters(config: Config) -> list[Schema]:
    """Return every query parameter of the image routes (both routes and their HEAD twins).

    The one place to declare them: the variant parameters (`max`, `w`, `format`...) come
    from `VariantQuery`, with the narrow limits when URLs are unsigned; `exp` and `sig`
    exist, and are required, only on a server that signs URLs.
    """
    signed = bool(config.signing_key)
    parameters = query_parameters(variant_params.VariantQuery, bounded=not signed)
    if signed:
        parameters += [
            _parameter("query", "exp", COUNT, "Expiry, epoch seconds.", required=True),
            _parameter(
                "query",
                "sig",
                STRING,
                "HMAC-SHA256 of the path, `exp` and every other parameter.",
                required=True,
            ),
        ]
    return parameters


def _non_null(prop: Schema) -> Schema:
    """The schema of an optional (`X | None`) model field without its `null` branch."""
    options = [option for option in prop.get("anyOf", [prop]) if option.get("type") != "null"]
    keep = {k: v for k, v in prop.items() if k not in ("anyOf", "title", "default")}
    if prop.get("default") is not None:
        keep["default"] = prop["default"]
    return {**options[0], **keep} if len(options) == 1 else {"anyOf": options, **keep}


def query_parameters(model: type[BaseModel], bounded: bool = False) -> list[Schema]:
    """Turn a query model's fields into OpenAPI query parameters, constraints included."""
    properties = model.model_json_schema()["properties"]
    limits = UNSIGNED_VARIANT_LIMITS if bounded else {}
    return [
        _parameter("query", name, {**_non_null(prop), **limits.get(name, {})}, prop["title"])
        for name, prop in properties.items()
    ]


def model_schema(
    model: type[BaseModel], *, lax_integers: bool = False, bounded: bool = False
) -> Schema:
    """Return a body model's JSON schema, as lenient as the server's validation of it.

    :param lax_integers: integer fields also take a decimal string (pydantic's lax mode).
    :param bounded: apply the unsigned variant limits (custom validators pydantic can't show).
    """
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, prop in schema["properties"].items():
        integers = [o for o in prop.get("anyOf", [prop]) if o.get("type") == "integer"]
        for option in integers:
            option.update(UNSIGNED_VARIANT_LIMITS.get(name, {}) if bounded else {})
        if integers and lax_integers:
            if "anyOf" not in prop:
                keys = [key for key in ("type", "minimum", "maximum") if key in prop]
                prop["anyOf"] = [{key: prop.pop(key) for key in keys}]
            prop["anyOf"].append(NUMERIC_STRING)
    _add_alias_choices(model, schema)
    return schema


def _add_alias_choices(model: type[BaseModel], schema: Schema) -> None:
    """Document every name of an `AliasChoices` field; require any one of them.

    pydantic's schema shows only the first name (`path`, not the old `directory`).
    """
    properties, required = schema["properties"], schema.get("required", [])
    alternatives = []
    for name, field in model.model_fields.items():
        if not isinstance(field.validation_alias, AliasChoices):
            continue
        choices = [c for c in field.validation_alias.choices if isinstance(c, str)]
        for other in choices[1:]:
            properties[other] = {**properties[name], "title": f"Alias of `{name}`"}
        if name in required:
            required.remove(name)
            alternatives.append({"anyOf": [{"required": [choice]} for choice in choices]})
    if alternatives:
        schema["allOf"] = alternatives
    if not required:
        schema.pop("required", None)


NOT_FOUND = response_spec("Unknown directory id, or no such route.", "Detail")
INVALID = response_spec("Validation failed.", "ValidationError")
TOO_LARGE = response_spec("The request body is over 1 MiB.", "Detail")
UNAUTHORIZED = response_spec(
    "The bearer token is missing or wrong.",
    "Detail",
    headers={"WWW-Authenticate": {"schema": {"const": "Bearer"}, "required": True}},
)
ALLOW = {"Allow": {"schema": STRING, "required": True}}
