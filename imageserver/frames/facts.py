"""Image facts (width, height, format) read from the file header only.

``Image.open`` parses the header and stops; pixels are decoded only on ``load()``, which we
never call, so this costs one small read per file even for huge images.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

from PIL import Image

# Pillow names some JPEG variants separately; clients only care that it is a JPEG.
FORMAT_ALIASES = {"MPO": "JPEG"}


class Facts(NamedTuple):
    """What ``?facts=true`` adds to a listing entry."""

    width: int
    height: int
    format: str


def image_facts(path: Path | str) -> Facts | None:
    """Width, height and format of an image file as stored (EXIF rotation NOT applied).

    Returns None for anything Pillow cannot identify: missing, unreadable, truncated header,
    not an image, or so large that Pillow refuses it as a decompression bomb.
    """
    try:
        with warnings.catch_warnings():
            # The size check warns for large images; facts are header-only so it is harmless.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format
                width, height = img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        # SyntaxError: some older Pillow plugins raise it for malformed headers.
        return None
    if not fmt:
        return None
    return Facts(width, height, FORMAT_ALIASES.get(fmt, fmt))


def facts_dict(path: Path | str) -> dict[str, int | str | None]:
    """The listing fields; all three None when the header cannot be read."""
    facts = image_facts(path)
    if facts is None:
        return {"width": None, "height": None, "format": None}
    return facts._asdict()
