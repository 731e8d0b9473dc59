"""Path confinement: small named predicates that decide which files may be read.

A requested name is split from the *raw* request target, so an encoded separator (`%2F`,
`%5C`) can never act as one; then Werkzeug's `safe_join` (lexical) and a `realpath` check
(symlinks) keep the file under the loaded directory's real path (SECURITY.md).

Nothing here imports Flask.
"""

from __future__ import annotations

import os
import stat
from urllib.parse import unquote_to_bytes
from urllib.parse import urlsplit

from werkzeug.security import safe_join

from imageserver.settings.media_types import is_image_name


def is_safe_segment(segment: str) -> bool:
    """Tell whether one decoded path segment may name part of a file below a root: not
    empty, `.` or `..`, and without `/`, `\\` or NUL."""
    # Spelled out rather than any(...) over a tuple: a load calls this once per file.
    return (
        segment not in ("", ".", "..")
        and "/" not in segment
        and "\\" not in segment
        and "\x00" not in segment
    )


def is_safe_relative_name(name: str) -> bool:
    """Tell whether a decoded relative name (`sub/frame.jpg`) stays below its root lexically."""
    return bool(name) and all(is_safe_segment(part) for part in name.split("/"))


def raw_request_path(environ: dict) -> str:
    """Return the request path exactly as the client sent it, still percent-encoded.

    gunicorn and Werkzeug's server put the request target in RAW_URI / REQUEST_URI, and the
    ASGI layer sets RAW_URI from granian's `raw_path` (`asgi.py`). Without
    them we fall back to PATH_INFO (already decoded: encoded separators can't be told apart).
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if "://" in raw.split("?", 1)[0]:  # absolute-form request target
        raw = urlsplit(raw).path
    return raw.split("?", 1)[0].split("#", 1)[0]


def decode_segments(raw_path: str) -> list[str] | None:
    """Split a raw path on literal `/` and percent-decode each segment on its own.

    Returns None when a segment is not valid UTF-8 after decoding.
    """
    segments = []
    for raw_segment in raw_path.split("/"):
        try:
            data = unquote_to_bytes(raw_segment.encode("latin-1"))
            segments.append(data.decode("utf-8"))
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None
    return segments


def name_from_raw_path(raw_path: str, prefix_segments: int) -> str | None:
    """Extract the image name that follows `prefix_segments` route segments.

    `/d/abc/sub/x.png` with 2 prefix segments (`d`, `abc`) gives `sub/x.png`. Returns None when
    any name segment is unsafe: empty, `.`, `..`, or holding an encoded `/`, `\\` or NUL.
    """
    segments = decode_segments(raw_path)
    if segments is None or len(segments) < prefix_segments + 2:
        return None
    parts = segments[1 + prefix_segments :]  # segments[0] is the empty text before the first '/'
    if not all(is_safe_segment(part) for part in parts):
        return None
    return "/".join(parts)


def is_within(path: str, root: str) -> bool:
    """Tell whether real path `path` is `root` itself or lies below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_image_file(root_real: str, name: str) -> tuple[str, os.stat_result] | None:
    """Return the real path and stat of image `name` under `root_real`, or None.

    None covers every refusal alike (missing, outside the root through `..` or a symlink, not
    a regular file, not an image name), so a caller answers them all with the same 404.
    """
    if not is_safe_relative_name(name) or not is_image_name(name):
        return None
    joined = safe_join(root_real, name)
    if joined is None:
        return None
    real = real_path_or_none(joined)  # a name the file system cannot encode is just missing
    if real is None or not is_within(real, root_real):
        return None
    try:
        info = os.stat(real)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return real, info


def resolve_load_path(requested: str, base_dir: str | None) -> str:
    """Turn a requested directory into an absolute, normalised path.

    `~` is expanded; a relative path resolves against `base_dir` (FRAME_BASE_DIR) when set,
    else the server's working directory. Symlinks are kept (see `real_path_or_none`).
    """
    expanded = os.path.expanduser(requested)
    if not os.path.isabs(expanded):
        expanded = os.path.join(base_dir or os.getcwd(), expanded)
    return os.path.normpath(os.path.abspath(expanded))


def real_path_or_none(path: str) -> str | None:
    """Return the real path (symlinks resolved), or None when the path cannot exist (NUL)."""
    try:
        return os.path.realpath(path)
    except (ValueError, OSError):
        return None


def is_allowed_root(real_path: str, allowed_roots: tuple[str, ...]) -> bool:
    """Tell whether a real path lies inside one of the allowed roots (no roots: anywhere)."""
    return not allowed_roots or any(is_within(real_path, root) for root in allowed_roots)
