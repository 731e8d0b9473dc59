"""Pixel dimensions of the loaded images, read from the local files with Pillow (`--dimensions`).

Pillow's `Image.open` parses only the header, so this costs one small read per file. It is
blocking work: the loader runs it in its thread pool, in parallel with the HEAD checks.
"""

from __future__ import annotations

import os

from PIL import Image
from PIL import UnidentifiedImageError


def image_size(path: str) -> tuple[int, int] | None:
    """Return `(width, height)` of the image at `path`, or None when it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def local_path(directory: str, name: str) -> str:
    """Return the local file of a listed name (`sub/frame.jpg` uses `/` on every platform)."""
    return os.path.join(directory, *name.split("/"))
