"""HTTP validators and ranges for the fast path, computed as Werkzeug's `send_file` does.

Small, cached helpers: the fast path builds the same headers and makes the same 304/206
decisions as Werkzeug, without building a Response object per request.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from urllib.parse import quote

from werkzeug.http import dump_options_header
from werkzeug.http import http_date
from werkzeug.http import parse_date
from werkzeug.http import parse_etags
from werkzeug.http import parse_range_header


def single_range(value: str, size: int, max_length: int) -> tuple[int, int] | None:
    """Return `(start, stop)` of a single satisfiable range of at most `max_length` bytes.

    None for several ranges, an unsatisfiable or malformed one, or one big enough to deserve
    streaming: the caller leaves those to Werkzeug.
    """
    parsed = parse_range_header(value)
    if parsed is None:
        return None
    bounds = parsed.range_for_length(size)
    if bounds is None or bounds[1] - bounds[0] > max_length:
        return None
    return bounds


def is_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, mtime_seconds: int
) -> bool:
    """Evaluate If-None-Match (which wins) or If-Modified-Since, as Werkzeug does."""
    if if_none_match:
        if if_none_match == etag:
            return False
        return not parse_etags(if_none_match).contains_weak(etag.strip('"'))
    if if_modified_since:
        since = _parse_http_date(if_modified_since)
        return since is None or mtime_seconds > since
    return True


@lru_cache(maxsize=256)
def _parse_http_date(value: str) -> int | None:
    parsed = parse_date(value)
    return int(parsed.timestamp()) if parsed is not None else None


@lru_cache(maxsize=8192)
def content_disposition(download_name: str) -> str:
    """Return `inline` with the file name, ASCII-safe, exactly as Werkzeug's `send_file`."""
    if download_name.isascii():
        return dump_options_header("inline", {"filename": download_name})
    simple = unicodedata.normalize("NFKD", download_name).encode("ascii", "ignore").decode()
    quoted = quote(download_name, safe="!#$&+-.^_`|~")
    return dump_options_header("inline", {"filename": simple, "filename*": f"UTF-8''{quoted}"})


@lru_cache(maxsize=4096)
def last_modified_header(mtime_seconds: int) -> str:
    """Return the HTTP date of a file's modification second."""
    return http_date(mtime_seconds)


@lru_cache(maxsize=4)
def expires_header(now_seconds: int, max_age: int) -> str:
    """Return the `Expires` date for responses sent during second `now_seconds`."""
    return http_date(now_seconds + max_age)
