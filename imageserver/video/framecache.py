"""Cache folders for extracted frames: content-keyed names, atomic manifest, atomic publish.

A folder is ``<root>/<stem-slug>-<16 hex>``; the hash covers the video's real path, size and
mtime_ns plus whatever the caller puts in ``settings`` (mode, value, quality, format version),
so a replaced or touched video, or other settings, never reuse stale frames. Folders appear
only complete: they are built as hidden ``.tmp-*`` siblings and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def video_identity(video: Path) -> dict[str, Any]:
    """Real path, size and mtime_ns: a changed or replaced file gets a new cache folder."""
    real = Path(os.path.realpath(video))
    st = real.stat()
    return {"path": str(real), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_dir_for(video: Path, cache_root: Path, settings: list[Any]) -> Path:
    """``<root>/<slug>-<hash>``: the slug only helps humans, the hash is the identity."""
    key = json.dumps([video_identity(video), *settings], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9]+", "-", video.stem.lower()).strip("-")[:40] or "video"
    return cache_root / f"{slug}-{digest}"


def directory_id_for(video: Path, tag: str, folder: Path) -> str:
    """The loaded directory's id: ``<video stem>-<settings tag>-<10 hex>``.

    Readable (``talk-fps1-0a1b2c3d4e``) and stable: the hash covers the cache folder's real
    path, which already encodes the video's identity and the settings, so loading the same
    video with the same settings again (or after a restart) gives the same id, and a changed
    video gets a new one instead of switching what the old URLs show.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", video.stem.lower()).strip("-")[:32].strip("-") or "video"
    digest = hashlib.sha256(os.path.realpath(folder).encode("utf-8", "surrogateescape"))
    return f"{slug}-{tag}-{digest.hexdigest()[:10]}"


def read_settings(directory: Path) -> dict[str, float] | None:
    """The settings a cache folder was made with (``{"fps": 1.0}``), or None if not one."""
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    settings = data.get("settings") if isinstance(data, dict) else None
    return settings if isinstance(settings, dict) else None


def read_manifest(directory: Path) -> dict[str, float]:
    """name -> t from a finished cache folder."""
    data = json.loads((directory / MANIFEST).read_text())
    return {name: float(t) for name, t in data["frames"].items()}


def read_duration(directory: Path) -> float | None:
    """The video's duration a finished cache folder recorded, or None (older folders)."""
    data = json.loads((directory / MANIFEST).read_text())
    duration = data.get("duration") if isinstance(data, dict) else None
    return float(duration) if isinstance(duration, (int, float)) else None


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file in the same folder + fsync + rename, so readers never see half a manifest."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=0, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clean_stale_temps(cache_root: Path, older_than: float = 3600.0) -> int:
    """Remove temp folders left by a killed process; returns how many were removed."""
    removed = 0
    for p in cache_root.glob(".tmp-*"):
        if p.is_dir() and time.time() - p.stat().st_mtime > older_than:
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


def publish(tmp: Path, final: Path) -> Path:
    """Rename the finished temp folder into place; if another process won the race, use its."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / MANIFEST).is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return final
