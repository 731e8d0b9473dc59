"""What the agent sees of each tool: argument and result schemas (names pinned in docs/MCP.md).

Argument schemas refuse unknown keys, so a misspelt `limt` is an error rather than ignored.
They avoid top-level `oneOf`/`anyOf`, which some clients' function-calling formats refuse
(OpenAI's, hence n8n's agents): a choice such as "`names` or `from_name`" is checked by the
handler (and by the HTTP API behind it) with a clear message instead. Result schemas list
the keys a program may rely on and allow more, as the HTTP API's answers do.
"""

from __future__ import annotations

from typing import Any

from imageserver.variants.presets import PRESET_NAMES

MAX_PAGE_LIMIT = 10_000
MAX_SHEET_FRAMES = 36  # the server's limit per contact sheet (docs/API.md#contact-sheets)
MAX_PUBLISH_WAIT_SECONDS = 300
MAX_LOAD_WAIT_SECONDS = 600  # the HTTP API's own bound on `wait`
DEFAULT_LOAD_WAIT_SECONDS = 20
DELIVERIES = ("inline", "link")

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
URL: Schema = {"type": "string", "description": "An absolute http(s) URL."}
COUNT: Schema = {"type": "integer", "minimum": 0}
NULLABLE_COUNT: Schema = {"type": ["integer", "null"], "minimum": 0}

DIRECTORY_ID: Schema = {"type": "string", "minLength": 1, "description": "A directory id."}
IMAGE_NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "description": "Image name relative to the directory, e.g. frame_000001.jpg or sub/a.png.",
}
PRESET: Schema = {
    "type": "string",
    "enum": list(PRESET_NAMES),
    "description": "Vendor preset: the image resized and re-encoded to fit that model API.",
}
DELIVERY: Schema = {
    "type": "string",
    "enum": list(DELIVERIES),
    "default": "inline",
    "description": "inline: the image itself plus its URL (at most 1568 px and 750,000 bytes); "
    "link: only the URL, for clients that cannot take image content or to pass it on.",
}
FRAMES: Schema = {
    "type": "object",
    "description": 'For a video file: which frames, exactly one of {"fps": F} (default 1), '
    '{"scene": T} (a frame when the picture changed by more than T, 0..1) or {"every": N}.',
    "properties": {
        "fps": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        "scene": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "every": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}


def arguments(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """An argument object: these properties, these required, nothing else."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def result(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """A result object: these keys (the required ones always present), more allowed."""
    return {"type": "object", "properties": properties, "required": list(required)}


LOAD_ARGUMENTS = arguments(
    {
        "path": {
            "type": "string",
            "minLength": 1,
            "description": "Folder or video file (.mp4 .webm .mkv .mov) on the server.",
        },
        "recursive": {
            "type": "boolean",
            "description": "Include images in sub-folders (named sub/x.jpg).",
        },
        "timeout_minutes": {
            "type": ["integer", "null"],
            "description": "Unload after this many minutes; 0 = never.",
        },
        "watch": {
            "type": "boolean",
            "description": "Follow the folder: new files appear within 1 s.",
        },
        "frames": FRAMES,
        "wait_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_LOAD_WAIT_SECONDS,
            "default": DEFAULT_LOAD_WAIT_SECONDS,
            "description": "For a video: wait at most this long for the extraction (default 20); "
            "it goes on in the background, list_directories shows how far it is.",
        },
    },
    ("path",),
)

LIST_IMAGES_ARGUMENTS = arguments(
    {
        "directory_id": DIRECTORY_ID,
        "offset": {"type": "integer", "minimum": 0, "description": "Skip N."},
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE_LIMIT,
            "description": "Page size (default 1000).",
        },
        "unique": {
            "type": "boolean",
            "description": "Only frames that differ from the previous kept one.",
        },
        "distance": {
            "type": "integer",
            "minimum": 0,
            "maximum": 368,
            "description": "With unique: the most bits (of 368) a near-duplicate may differ by "
            "(default 8; larger drops more).",
        },
        "facts": {"type": "boolean", "description": "Add width, height and format."},
        "name": {**IMAGE_NAME, "description": "Just this image (one entry)."},
    },
    ("directory_id",),
)

ONE_IMAGE_ARGUMENTS = arguments(
    {"directory_id": DIRECTORY_ID, "name": IMAGE_NAME, "preset": PRESET},
    ("directory_id", "name"),
)
GET_IMAGE_ARGUMENTS = arguments(
    {"directory_id": DIRECTORY_ID, "name": IMAGE_NAME, "preset": PRESET, "delivery": DELIVERY},
    ("directory_id", "name"),
)
GET_SHEET_ARGUMENTS = arguments(
    {
        "directory_id": DIRECTORY_ID,
        "names": {
            "type": "array",
            "items": IMAGE_NAME,
            "minItems": 1,
            "maxItems": MAX_SHEET_FRAMES,
            "description": "The frames to show, in this order (or give from_name).",
        },
        "from_name": {**IMAGE_NAME, "description": "The first frame; count frames from it on."},
        "count": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SHEET_FRAMES,
            "description": "With from_name: how many frames (default 16).",
        },
        "cols": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SHEET_FRAMES,
            "description": "Columns of the grid (default near-square).",
        },
        "preset": PRESET,
        "delivery": DELIVERY,
    },
    ("directory_id",),
)
DIRECTORY_ARGUMENTS = arguments({"directory_id": DIRECTORY_ID}, ("directory_id",))
PUBLISH_ARGUMENTS = arguments(
    {
        "directory_id": DIRECTORY_ID,
        "target": {
            "type": "string",
            "pattern": "^s3://",
            "description": "s3://BUCKET/PREFIX, allowed by the server.",
        },
        "preset": PRESET,
        "wait_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_PUBLISH_WAIT_SECONDS,
            "description": "Wait up to this long for the job to finish.",
        },
    },
    ("directory_id", "target"),
)

_EXTRACTION = result(
    {
        "state": {"enum": ["running", "done", "failed"]},
        "frames": COUNT,
        "seconds_done": {"type": "number"},
        "duration": {"type": ["number", "null"]},
    },
    ("state",),
)
_DIRECTORY = result(
    {"id": STRING, "image_count": COUNT, "url_prefix": URL, "extraction": _EXTRACTION},
    ("id", "image_count", "url_prefix"),
)
_FACTS = result(
    {
        "width": NULLABLE_COUNT,
        "height": NULLABLE_COUNT,
        "format": {"type": ["string", "null"]},
        "size": COUNT,
    }  # fmt: skip
)
# What get_image and get_sheet tell a program: URLs and facts, never the image bytes.
_DELIVERED = {
    "url": {**URL, "description": "The URL of the image described (the inline one if inline)."},
    "preset_url": {**URL, "description": "The URL at the preset, without the inline limits."},
    "delivery": {"enum": list(DELIVERIES)},
    "preset": {"type": ["string", "null"]},
    "media_type": {"type": ["string", "null"]},
    "width": NULLABLE_COUNT,
    "height": NULLABLE_COUNT,
    "size": {**NULLABLE_COUNT, "description": "Bytes of the inline image (null for link)."},
    "reduced": {
        "type": "boolean",
        "description": "The inline image was made smaller than the preset gives, to fit.",
    },
}

LIST_DIRECTORIES_RESULT = result(
    {
        "directories": {"type": "array", "items": _DIRECTORY},
        "current": {"type": ["string", "null"]},
    },
    ("directories",),
)
LOAD_RESULT = _DIRECTORY
LIST_IMAGES_RESULT = result(
    {
        "id": STRING,
        "total": COUNT,
        "offset": COUNT,
        "limit": COUNT,
        "images": {
            "type": "array",
            "items": result({"name": STRING, "url": URL}, ("name", "url")),
        },
        "next": {"type": ["string", "null"]},
    },
    ("id", "total", "images"),
)
GET_IMAGE_RESULT = result(
    {"directory_id": STRING, "name": STRING, **_DELIVERED, "original": _FACTS},
    ("directory_id", "name", "url", "preset_url", "delivery", "reduced"),
)
GET_SHEET_RESULT = result(
    {
        "directory_id": STRING,
        "names": {"type": "array", "items": STRING},
        **_DELIVERED,
    },
    ("directory_id", "names", "url", "preset_url", "delivery", "reduced"),
)
IMAGE_URL_RESULT = result({"url": URL}, ("url",))
UNLOAD_RESULT = result({"status": STRING, "message": STRING}, ("status",))
PUBLISH_RESULT = result({"job": STRING, "state": STRING}, ("job", "state"))
