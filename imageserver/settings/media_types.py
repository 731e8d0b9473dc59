"""Which files count as servable images, and the Content-Type each one gets.

We own this table instead of trusting the host's `mimetypes`: Python 3.11 on slim systems has
no `.webp`, and some hosts map `.svg` to `image/svg+xml`, which a browser would run as a
document. SVG is deliberately absent: it can carry script, so it is never served as an image.
"""

from __future__ import annotations

import os

IMAGE_MEDIA_TYPES: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".apng": "image/apng",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".ico": "image/vnd.microsoft.icon",
    ".jxl": "image/jxl",
}


# Files `POST /load-directory` takes as videos: their frames load as a directory.
VIDEO_EXTENSIONS = frozenset({".mp4", ".webm", ".mkv", ".mov"})


def media_type_for(name: str) -> str | None:
    """Return the Content-Type for an image file name, or None when it is not a served image.

    The extension is matched case-insensitively (`FRAME.JPG` is a JPEG).
    """
    dot = name.rfind(".")
    if dot <= name.rfind("/"):
        return None
    return IMAGE_MEDIA_TYPES.get(name[dot:].lower())


def is_image_name(name: str) -> bool:
    """Tell whether a file name has an extension we serve."""
    return media_type_for(name) is not None


def is_video_name(path: str) -> bool:
    """Tell whether `path` names a video file by its extension (case-insensitive)."""
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS
