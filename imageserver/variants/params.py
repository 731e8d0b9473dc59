"""The transform parameters of an image URL, validated by pydantic, and the spec they resolve to.

`?max=1024&format=webp`, `?preset=claude`, `?w=512&h=512&fit=cover`, `?as=datauri`... A request
is a variant request when any key of `TRANSFORM_KEYS` is present; `exp` and `sig` are not
transform parameters, and unknown keys (cache-busters) are ignored.

Unsigned servers accept sizes only from `UNSIGNED_SIZES`, qualities in steps of 5 and byte
caps from `UNSIGNED_MAX_BYTES`, so a stranger cannot mint endless distinct variants; with a
signing key every parameter is covered by the signature and only the wide limits apply.
Validation runs with `context={"bounded": bool}`; without a context the bounded rules apply.

Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import ValidationInfo
from pydantic import field_validator
from pydantic_core import PydanticCustomError

from imageserver.variants.presets import PRESET_NAMES
from imageserver.variants.presets import PRESETS

TRANSFORM_KEYS: tuple[str, ...] = (
    "preset",
    "max",
    "w",
    "h",
    "fit",
    "format",
    "quality",
    "max_bytes",
    "as",
)
OUTPUT_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "gif")
LOSSY_FORMATS = frozenset({"jpeg", "webp"})
DEFAULT_QUALITY = {"jpeg": 85, "webp": 80}

# Wide limits (signed URLs, or a caller with the token): a side of 8192 px is already a
# 67 MP output, and 50 MB is ten times what any model API accepts.
MAX_SIDE = 8192
MIN_MAX_BYTES = 10_000
MAX_MAX_BYTES = 50_000_000
# Narrow limits without a signature: common display and model sizes, and byte caps that
# match the presets' targets. Each list is what `?w=`, `?h=` and `?max=` may take.
UNSIGNED_SIZES: tuple[int, ...] = (
    *(16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512, 640, 768, 896),
    *(1024, 1092, 1280, 1456, 1536, 1568, 1600, 1920, 2048, 2560, 3072, 3840, 4096),
)
UNSIGNED_MAX_BYTES: tuple[int, ...] = (
    *(20_000, 50_000, 100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000),
    *(2_000_000, 3_750_000, 5_000_000, 7_000_000, 10_000_000, 15_000_000, 20_000_000),
)
UNSIGNED_QUALITY_STEP = 5

_ALIASES = {"jpg": "jpeg"}


def _bounded(info: ValidationInfo) -> bool:
    context = info.context
    return True if not isinstance(context, Mapping) else bool(context.get("bounded", True))


def _listing(values: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in values)


class TransformFields(BaseModel):
    """The transform parameters shared by image URLs and the data-URI batch."""

    model_config = ConfigDict(extra="ignore")

    preset: Literal[PRESET_NAMES] | None = None  # type: ignore[valid-type]
    max: int | None = Field(default=None, ge=1, le=MAX_SIDE)
    w: int | None = Field(default=None, ge=1, le=MAX_SIDE)
    h: int | None = Field(default=None, ge=1, le=MAX_SIDE)
    fit: Literal["contain", "cover"] | None = None
    format: Literal[OUTPUT_FORMATS] | None = None  # type: ignore[valid-type]
    quality: int | None = Field(default=None, ge=1, le=100)
    max_bytes: int | None = Field(default=None, ge=MIN_MAX_BYTES, le=MAX_MAX_BYTES)

    @field_validator("preset", "fit", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        # `format=JPG` from a hand-typed URL means what it says.
        if isinstance(value, str):
            value = value.strip().lower()
            return _ALIASES.get(value, value)
        return value

    @field_validator("max", "w", "h")
    @classmethod
    def _size_allowed(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and _bounded(info) and value not in UNSIGNED_SIZES:
            raise PydanticCustomError(
                "size_not_allowed",
                "Input should be one of {allowed} (unsigned URLs take listed sizes only)",
                {"allowed": _listing(UNSIGNED_SIZES)},
            )
        return value

    @field_validator("quality")
    @classmethod
    def _quality_allowed(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and _bounded(info) and value % UNSIGNED_QUALITY_STEP:
            raise PydanticCustomError(
                "quality_not_allowed",
                "Input should be a multiple of {step} (unsigned URLs take steps of {step})",
                {"step": UNSIGNED_QUALITY_STEP},
            )
        return value

    @field_validator("max_bytes")
    @classmethod
    def _max_bytes_allowed(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and _bounded(info) and value not in UNSIGNED_MAX_BYTES:
            raise PydanticCustomError(
                "max_bytes_not_allowed",
                "Input should be one of {allowed} (unsigned URLs take listed caps only)",
                {"allowed": _listing(UNSIGNED_MAX_BYTES)},
            )
        return value

    @field_validator("fit")
    @classmethod
    def _cover_needs_a_box(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Fields are validated in order, so `w` and `h` are already in `info.data`.
        if value == "cover" and (info.data.get("w") is None or info.data.get("h") is None):
            raise PydanticCustomError("cover_needs_box", "fit=cover needs both w and h")
        return value

    def spec(self, datauri: bool | None = None) -> VariantSpec:
        """Resolve the preset and the explicit parameters into one `VariantSpec`."""
        preset = PRESETS[self.preset] if self.preset else None
        return VariantSpec(
            max_side=self.max if self.max is not None else (preset and preset.max_side),
            width=self.w,
            height=self.h,
            fit=self.fit or "contain",
            max_short_side=preset.max_short_side if preset else None,
            max_pixels=preset.max_pixels if preset else None,
            format=self.format or (preset.format if preset else None),
            quality=self.quality or (preset.quality if preset else None),
            max_bytes=self.max_bytes or (preset.max_bytes if preset else None),
            datauri=datauri if datauri is not None else bool(preset and preset.datauri),
        )


class VariantQuery(TransformFields):
    """The query of a variant image URL: the transform fields plus `as`."""

    as_: Literal["datauri", "image"] | None = Field(default=None, alias="as")

    @field_validator("as_", mode="before")
    @classmethod
    def _lower_as(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def spec(self, datauri: bool | None = None) -> VariantSpec:
        """Resolve like `TransformFields.spec`; `as=` decides the answer's form when given."""
        if datauri is None and self.as_ is not None:
            datauri = self.as_ == "datauri"
        return super().spec(datauri)


MAX_BATCH_NAMES = 100
MAX_NAME_LENGTH = 4096


class DataUriBatch(TransformFields):
    """Body of `POST /api/directories/<id>/datauris`: names (at most 100) and the transform."""

    names: list[Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]] = Field(
        min_length=1, max_length=MAX_BATCH_NAMES
    )


@dataclass(frozen=True)
class VariantSpec:
    """What to produce, with every preset resolved. `format=None` means "from the source"."""

    max_side: int | None = None
    width: int | None = None
    height: int | None = None
    fit: str = "contain"
    max_short_side: int | None = None
    max_pixels: int | None = None
    format: str | None = None
    quality: int | None = None
    max_bytes: int | None = None
    datauri: bool = False

    def for_format(self, output_format: str) -> VariantSpec:
        """Fix the output format and the quality it implies (none for lossless formats)."""
        lossy = output_format in LOSSY_FORMATS
        quality = (self.quality or DEFAULT_QUALITY[output_format]) if lossy else None
        return replace(self, format=output_format, quality=quality)

    def cache_token(self) -> str:
        """Return a canonical text of everything that changes the image bytes.

        `datauri` is left out: a data URI is the same cached image, only encoded.
        """
        fields = (
            ("max", self.max_side),
            ("w", self.width),
            ("h", self.height),
            ("fit", self.fit),
            ("short", self.max_short_side),
            ("px", self.max_pixels),
            ("format", self.format),
            ("q", self.quality),
            ("bytes", self.max_bytes),
        )
        return "&".join(f"{key}={'' if value is None else value}" for key, value in fields)


def has_transform(args: Mapping[str, Any]) -> bool:
    """Tell whether a query asks for a variant (any transform key, even with an empty value)."""
    return any(key in args for key in TRANSFORM_KEYS)


def transform_items(args: Mapping[str, str]) -> dict[str, str]:
    """Return the transform parameters of a query in canonical order (first value of each)."""
    return {key: args[key] for key in TRANSFORM_KEYS if key in args}


def checked_params(params: Mapping[str, str], bounded: bool = True) -> dict[str, str]:
    """Validate a variant's query parameters and return them in canonical order.

    :raise ValueError: one line naming the first invalid parameter.
    """
    try:
        VariantQuery.model_validate(dict(params), context={"bounded": bounded})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = error["loc"][0] if error["loc"] else "parameters"
        raise ValueError(f"{key}={error.get('input')!r}: {error['msg']}") from None
    return transform_items(params)


def parse_variant_option(text: str) -> dict[str, str]:
    """Parse a CLI `--variant` value (`max=1024,format=webp`) into query parameters.

    :raise ValueError: an item is not `key=value`, a key is unknown or given twice.
    """
    params: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"expected key=value, got {item!r}")
        if key not in TRANSFORM_KEYS:
            raise ValueError(f"unknown parameter {key!r} (known: {', '.join(TRANSFORM_KEYS)})")
        if key in params:
            raise ValueError(f"{key!r} is given twice")
        params[key] = value
    if not params:
        raise ValueError("no parameter given")
    return params
