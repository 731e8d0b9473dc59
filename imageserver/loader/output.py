"""The loader's JSON document (docs/CLI.md) and its atomic write.

Files: `<output>/<dirbasename>_<YYYYMMDD_HHMMSS>.json` (or `<output>/<name>.json`), plus
`<output>/<dirbasename>_latest.json`, a copy of the newest. Each is written to a temporary
file in the same directory, flushed to disk, then renamed over the target with `os.replace`,
so a reader sees the old file or the new one, never half of one.

`--name` is a file name, not a path: a name with a separator, a NUL, or that is `.` or `..`
is refused as a usage error (exit 2) rather than sanitised, so a typo never silently writes
somewhere unexpected.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from imageserver.loader.errors import OutputError

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
FILE_STAMP_FORMAT = "%Y%m%d_%H%M%S"
TIMER_KEYS = ("timeout_minutes", "auto_unload_at", "time_remaining")
_FORBIDDEN_IN_NAME = ("/", "\\", "\x00")


def check_name(name: str) -> str:
    """Validate a `--name` value and return it.

    :raise ValueError: empty, `.` or `..`, or holding a path separator or NUL, so that the
        file could land outside the output directory.
    """
    if not name or name in (".", "..") or any(bad in name for bad in _FORBIDDEN_IN_NAME):
        raise ValueError(f"must be a plain file name without '/', '\\' or '..', got {name!r}")
    return name


def build_document(
    directory: str,
    image_urls: Sequence[str],
    timer: Mapping[str, Any],
    extras: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Build the output document with its documented key order (docs/CLI.md#output-json).

    :param timer: the directory's `timeout_minutes`, `auto_unload_at`, `time_remaining`;
        each is included only when set (not None).
    :param extras: keys appended after the pinned ones (`id`, `url_prefix`, `failed`...).
    """
    document: dict[str, Any] = {
        "success": True,
        "directory": directory,
        "timestamp": now.strftime(TIMESTAMP_FORMAT),
        "message": f"Generated URLs for {len(image_urls)} images",
        "count": len(image_urls),
        "image_urls": list(image_urls),
    }
    document.update({key: timer[key] for key in TIMER_KEYS if timer.get(key) is not None})
    document.update({key: value for key, value in extras.items() if key not in document})
    return document


def time_remaining(auto_unload_at: str, now: float) -> str:
    """Format the time left until a local `auto_unload_at` as `"{M}m {S}s"`.

    See docs/API.md#conventions.
    """
    deadline = time.mktime(time.strptime(auto_unload_at, TIMESTAMP_FORMAT))
    seconds = max(0, int(deadline - now))
    return f"{seconds // 60}m {seconds % 60}s"


def dir_basename(directory: str) -> str:
    """Return the last component of a directory path (`root` for `/`)."""
    return Path(directory).name or "root"


def output_paths(
    output_dir: Path, directory: str, name: str | None, now: datetime
) -> tuple[Path, Path]:
    """Return the run's file and the `_latest` file for `directory` under `output_dir`."""
    base = dir_basename(directory)
    stem = check_name(name) if name is not None else f"{base}_{now.strftime(FILE_STAMP_FORMAT)}"
    return output_dir / f"{stem}.json", output_dir / f"{base}_latest.json"


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Write `document` as 2-space-indented JSON to `path`, atomically.

    :raise OSError: the directory cannot be created or written; no partial file is left.
    """
    data = json.dumps(document, indent=2).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL with mode 0o666 lets the umask decide the final permissions, like open() would.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_outputs(
    output_dir: Path, directory: str, name: str | None, document: Mapping[str, Any], now: datetime
) -> Path:
    """Write the run's file and refresh `<dirbasename>_latest.json`; return the run's file.

    Blocking file work: the loader calls it through its thread pool.

    :raise OutputError: a file cannot be written. :raise ValueError: `name` is not a file name.
    """
    run_file, latest_file = output_paths(output_dir, directory, name, now)
    for path in (run_file, latest_file):
        try:
            write_json_atomic(path, document)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return run_file
