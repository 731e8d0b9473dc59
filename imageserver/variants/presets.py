"""The one table of presets: what each model API wants, and why each number is what it is.

A preset fills in transform parameters; explicit query parameters override it
(`?preset=claude&format=png`). The numbers come from each vendor's published limits; when a
vendor changes them, this table is the only place to edit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Defaults for one target; `None` means "no limit of that kind"."""

    max_side: int | None = None
    max_short_side: int | None = None
    max_pixels: int | None = None
    format: str = "jpeg"
    quality: int = 85
    max_bytes: int | None = None
    datauri: bool = False
    reason: str = ""


# base64 turns 3 bytes into 4: a 3.75 MB image is 5 MB once inlined as a data URI.
_FITS_5MB_AS_BASE64 = 3_750_000

PRESETS: dict[str, Preset] = {
    "claude": Preset(
        max_side=1568,
        max_pixels=1092 * 1092,
        max_bytes=_FITS_5MB_AS_BASE64,
        reason=(
            "Anthropic downscales any image whose long side passes 1568 px or whose area "
            "passes about 1.15 MP (~1,600 tokens; 1092x1092 is its own 1:1 size), so more "
            "pixels only cost upload time; it rejects images over 5 MB, and 3.75 MB still "
            "fits once base64 adds a third."
        ),
    ),
    "openai-low": Preset(
        max_side=512,
        reason=(
            "With detail: low, OpenAI's vision models look at a 512x512 version for a flat "
            "85 tokens; every pixel beyond 512 is bandwidth for nothing."
        ),
    ),
    "openai-high": Preset(
        max_side=2048,
        max_short_side=768,
        reason=(
            "With detail: high, OpenAI first fits the image inside 2048x2048, then scales "
            "its short side to 768 px before cutting 512 px tiles; sending that size skips "
            "the upload of pixels it would throw away."
        ),
    ),
    "voyage": Preset(
        max_pixels=16_000_000,
        quality=90,
        max_bytes=20_000_000,
        reason=(
            "Voyage's multimodal embeddings take up to 16 million pixels and 20 MB per "
            "image; quality 90 because an embedding should see the frame as it is."
        ),
    ),
    "gemini": Preset(
        max_side=3072,
        quality=90,
        max_bytes=7_000_000,
        reason=(
            "Gemini cuts large images into 768 px tiles of 258 tokens each, so 3072 px (at "
            "most 4x4 tiles) bounds the cost; 7 MB is Vertex AI's limit for an inline image. "
            "Gemini is the one API that also reads HEIC, but JPEG is what every other step "
            "of a pipeline (previews, logs, other models) can read too."
        ),
    ),
    "cohere": Preset(
        max_pixels=2_458_624,
        max_bytes=_FITS_5MB_AS_BASE64,
        datauri=True,
        reason=(
            "Cohere's Embed v4 accepts images only as base64 data URIs (so this preset "
            "answers with one), downsamples anything over 2,458,624 pixels (1568x1568), "
            "and refuses images over 5 MB: 3.75 MB of JPEG is 5 MB once base64-encoded."
        ),
    ),
    "thumb": Preset(
        max_side=256,
        quality=75,
        reason=(
            "A preview for n8n, notebooks and dashboards: 256 px reads well at thumbnail "
            "size and weighs about 10-20 KB."
        ),
    ),
}

PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
