"""Names of uploads: the inbox's name and each file's, made safe before any disk is touched.

A client's file name is a hint, not a path: only its last component is kept, characters
outside a small safe set become `_`, and its extension must name the format the bytes really
are (`frame.png` holding a JPEG is refused; `frame` or `frame.txt` gets `.jpg` appended).
Without a name, the file is named by its content (sha256 prefix + extension).
"""

from __future__ import annotations

import re
from http import HTTPStatus

from imageserver.settings.media_types import is_image_name
from imageserver.uploads.errors import UploadError
from imageserver.uploads.errors import broken

DEFAULT_INBOX = "uploads"
INBOX_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Letters, digits and a few marks that need no quoting in a URL path or a shell.
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
MAX_NAME_LENGTH = 128
# Enough of the sha256 that two different images never meet in one inbox.
CONTENT_NAME_HEX = 16
# Pillow's format -> the extensions that name it; the first is the canonical one.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png", ".apng"),
    "GIF": (".gif",),
    "WEBP": (".webp",),
}


def inbox_name(raw: str | None) -> str:
    """Return the inbox named by `?inbox=` (default `uploads`).

    :raise UploadError 422: not 1 to 64 of `A-Z a-z 0-9 _ -`.
    """
    if raw is None:
        return DEFAULT_INBOX
    if not INBOX_NAME.fullmatch(raw):
        raise UploadError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"Invalid inbox name: {raw!r} (1 to 64 of A-Z, a-z, 0-9, '_' and '-')",
        )
    return raw


def sanitised(raw: str | None) -> str | None:
    """Return a safe file name from a client's name (basename only), or None when none is left.

    Separators of either kind end a directory part; control characters and other unsafe
    characters become `_`; leading dots are dropped (no hidden files); the stem is cut so the
    whole name fits `MAX_NAME_LENGTH`.
    """
    if not raw:
        return None
    base = re.split(r"[/\\]", raw)[-1]
    base = _UNSAFE.sub("_", base).lstrip(".")
    if not base.strip("._-"):
        return None
    stem, dot, ext = base.rpartition(".")
    if not dot or len(ext) > 10:
        stem, ext = base, ""
    ext = f".{ext}" if ext else ""
    return stem[: MAX_NAME_LENGTH - len(ext)] + ext


def with_format_extension(name: str | None, image_format: str, sha256: str) -> str:
    """Return the stored name: `name` with the extension of `image_format`.

    No name: content-addressed. No extension, or one that names no image: the canonical
    extension is appended.

    :raise UploadError 422: the extension names another image format (`a.png` is a JPEG).
    """
    extensions = EXTENSIONS[image_format]
    if name is None:
        return sha256[:CONTENT_NAME_HEX] + extensions[0]
    lowered = name.lower()
    if any(lowered.endswith(ext) for ext in extensions):
        return name
    if is_image_name(name):
        raise broken(f"The name {name!r} does not match its content: the file is {image_format}")
    return name[: MAX_NAME_LENGTH - len(extensions[0])] + extensions[0]
