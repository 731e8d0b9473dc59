"""Request models: pydantic validates input and produces the contract's 422 error list."""

from __future__ import annotations

from typing import Annotated
from typing import Any

from pydantic import AliasChoices
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import TypeAdapter
from pydantic import ValidationError

from imageserver.web.errors import RequestValidationError
from imageserver.web.errors import validation_errors
from imageserver.web.jsonio import MISSING

MAX_PAGE_LIMIT = 10000
# Ten years: beyond it a deadline is no deadline, and the value must still fit SQLite and
# strftime. Bigger values are refused (422) instead of overflowing later.
MAX_TIMEOUT_MINUTES = 10 * 366 * 24 * 60
DEFAULT_PAGE_LIMIT = 1000


class LoadRequest(BaseModel):
    """Body of `POST /load-directory`; `directory` is the old name of `path`."""

    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1, validation_alias=AliasChoices("path", "directory"))
    timeout_minutes: int | None = Field(default=None, le=MAX_TIMEOUT_MINUTES)
    recursive: bool = False
    watch: bool = Field(
        default=False,
        description="Follow the folder: complete new files are served within a second, "
        "deleted ones answer 404, renames move (docs/API.md#live-folders).",
    )


SQLITE_MAX_INTEGER = 2**63 - 1


class PageQuery(BaseModel):
    """Query of the paged image listing."""

    model_config = ConfigDict(extra="ignore")

    # SQLite integers are 64-bit: a larger offset would overflow in the query (a 500).
    offset: int = Field(default=0, ge=0, le=SQLITE_MAX_INTEGER)
    limit: int = Field(default=DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)


_MINUTES = TypeAdapter(Annotated[int, Field(le=MAX_TIMEOUT_MINUTES)])


def parse_body(model: type[BaseModel], body: Any) -> Any:
    """Validate a parsed JSON body against `model`.

    :raise RequestValidationError: missing body, wrong shape or bad field (422).
    """
    if body is MISSING:
        raise RequestValidationError(
            [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc, ["body"])) from None


def parse_query(model: type[BaseModel], args: dict[str, str]) -> Any:
    """Validate query-string arguments against `model` (422 with `loc ["query", ...]`)."""
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc, ["query"])) from None


def parse_minutes(raw: str) -> int:
    """Validate the `{minutes}` path segment of `POST /timeout/{minutes}` (`007` is 7)."""
    try:
        return _MINUTES.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc, ["path", "minutes"])) from None
