"""Request models: pydantic validates input and produces the 422 error list of docs/API.md."""

from __future__ import annotations

from typing import Annotated
from typing import Any

from pydantic import AliasChoices
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import PlainValidator
from pydantic import TypeAdapter
from pydantic import ValidationError
from pydantic import WithJsonSchema
from pydantic import model_validator

from imageserver.frames.phash import DEFAULT_DISTANCE
from imageserver.frames.phash import HASH_BITS
from imageserver.web.errors import RequestValidationError
from imageserver.web.errors import validation_errors
from imageserver.web.jsonio import MISSING

MAX_PAGE_LIMIT = 10000
# Ten years: beyond it a deadline is no deadline, and the value must still fit SQLite and
# strftime. Bigger values are refused (422) instead of overflowing later.
MAX_TIMEOUT_MINUTES = 10 * 366 * 24 * 60
DEFAULT_PAGE_LIMIT = 1000
# The perceptual hash's length bounds the distance; its default is measured (frames/phash.py).
MAX_DISTANCE = HASH_BITS


MAX_FPS = 120.0
MAX_WAIT_SECONDS = 600


class FrameChoice(BaseModel):
    """Which frames of a video to load: exactly one of `fps`, `scene`, `every` (docs/API.md)."""

    model_config = ConfigDict(extra="forbid")

    fps: float | None = Field(
        default=None, gt=0, le=MAX_FPS, description="Frames per second (default 1)."
    )
    scene: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="A frame for each new screen: T (0..1) is the share of the on-screen "
        "content that must have changed since the last chosen frame, once the picture has "
        "settled (0.3: a scroll, a new page or window; about 0.05: a small dialog; the pointer "
        "and a clock stay under 0.02). See docs/API.md.",
    )
    every: int | None = Field(default=None, ge=1, description="Every N-th decoded frame.")

    @model_validator(mode="after")
    def _exactly_one(self) -> FrameChoice:
        given = [v for v in (self.fps, self.scene, self.every) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of fps, scene, every")
        return self

    def mode(self) -> tuple[str, float]:
        """Return `(mode, value)` of the one given key."""
        for mode in ("fps", "scene", "every"):
            value = getattr(self, mode)
            if value is not None:
                return mode, float(value)
        raise AssertionError("validated: one key is given")


def _wait_value(value: Any) -> bool | float | None:
    """`wait`: a boolean, or seconds from 0 to 600 (one error at `["body", "wait"]`)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and 0 <= value <= MAX_WAIT_SECONDS:
        return float(value)
    raise ValueError(f"must be true, false or a number of seconds from 0 to {MAX_WAIT_SECONDS}")


WaitValue = Annotated[
    Any,
    PlainValidator(_wait_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                {"type": "null"},
            ]
        }
    ),
]


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
    frames: FrameChoice | None = Field(
        default=None,
        description="For a video file (.mp4 .webm .mkv .mov): which frames to load "
        '(docs/API.md#video-in); default `{"fps": 1}`.',
    )
    wait: WaitValue = Field(
        default=None,
        description="For a video: false answers once the video is known usable, true when "
        "its extraction has ended, a number waits at most that many seconds (up to 600); "
        "absent: at most 20 (docs/API.md#long-videos).",
    )


SQLITE_MAX_INTEGER = 2**63 - 1


class PageQuery(BaseModel):
    """Query of the paged image listing."""

    model_config = ConfigDict(extra="ignore")

    # SQLite integers are 64-bit: a larger offset would overflow in the query (a 500).
    offset: int = Field(default=0, ge=0, le=SQLITE_MAX_INTEGER)
    limit: int = Field(default=DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)
    unique: bool = Field(
        default=False,
        description="Only frames that differ from the previous kept frame "
        "(docs/API.md#near-duplicates-and-facts).",
    )
    distance: int = Field(
        default=DEFAULT_DISTANCE,
        ge=0,
        le=MAX_DISTANCE,
        description="With unique: the most bits (of 256) a near-duplicate may differ by.",
    )
    facts: bool = Field(default=False, description="Add width, height and format.")
    name: str | None = Field(
        default=None,
        min_length=1,
        description="Just this image (one entry, or 404 when the listing lacks it); "
        "offset and limit are then ignored.",
    )


MAX_SHEET_FRAMES = 36  # imageserver/frames/sheet.py MAX_FRAMES; a 6x6 grid stays legible
DEFAULT_SHEET_COUNT = 16


class SheetQuery(BaseModel):
    """Query of `GET /d/<id>/sheet`: `names=a,b,...` or `from=<name>&count=N`, and the grid.

    The variant parameters (`preset`, `max`, `format`...) are read by the variants' own model.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    names: str | None = Field(default=None, description="Comma-separated frame names.")
    from_: str | None = Field(
        default=None, alias="from", min_length=1, description="The first frame's name."
    )
    count: int = Field(default=DEFAULT_SHEET_COUNT, ge=1, le=MAX_SHEET_FRAMES)
    cols: int | None = Field(default=None, ge=1, le=MAX_SHEET_FRAMES)
    datauri: bool = Field(default=False, description="Answer a data URI (as `as=datauri`).")

    @model_validator(mode="after")
    def _one_selection(self) -> SheetQuery:
        if (self.names is None) == (self.from_ is None):
            raise ValueError("give either names or from")
        listed = self.name_list()
        if self.names is not None and not listed:
            raise ValueError("names is empty")
        if len(listed) > MAX_SHEET_FRAMES:
            raise ValueError(f"at most {MAX_SHEET_FRAMES} frames per sheet")
        return self

    def name_list(self) -> list[str]:
        """Return the listed names, in the order given (empty items skipped)."""
        return [name for name in (self.names or "").split(",") if name]


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
