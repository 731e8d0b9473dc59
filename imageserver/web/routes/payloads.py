"""The JSON shapes of the API, built in one place with docs/API.md's key order."""

from __future__ import annotations

from typing import Any

from imageserver.settings.config import Config
from imageserver.state import timers
from imageserver.state.registry import Directory
from imageserver.state.registry import Registry
from imageserver.web.urls import url_prefix

NOTHING_LOADED: dict[str, Any] = {
    "current_directory": None,
    "image_count": 0,
    "image_list": [],
    "load_time": None,
    "timeout_minutes": None,
    "auto_unload_at": None,
    "time_remaining": None,
}


def shown_path(config: Config, directory: Directory) -> str:
    """Return how a directory is named in responses: its path, or its id when paths are hidden."""
    return directory.id if config.hide_paths else directory.path


def status(config: Config, registry: Registry, directory: Directory | None, now: float) -> dict:
    """The `GET /` body (docs/API.md#get-)."""
    if directory is None:
        return dict(NOTHING_LOADED)
    names = registry.image_names(directory.id)
    return {
        "current_directory": shown_path(config, directory),
        "image_count": len(names),
        "image_list": names,
        "load_time": timers.format_local(directory.load_time),
        "timeout_minutes": directory.timeout_minutes,
        "auto_unload_at": timers.format_local(directory.deadline),
        "time_remaining": timers.format_remaining(directory.deadline, now),
        **watch_keys(directory),
    }


def watch_keys(directory: Directory) -> dict[str, Any]:
    """The live-folder keys, after every pinned key of a directory's body.

    See docs/API.md#live-folders.

    `watch_mode` is `"inotify"` or `"poll"` once the watcher follows the folder, else null.
    """
    return {"watch": directory.watch, "watch_mode": directory.watch_mode}


def timeout_message(directory: Directory) -> str:
    """The `timeout` text of a load response."""
    if directory.deadline is None:
        return "No auto-unload timeout set"
    return (
        "Directory will be automatically unloaded at "
        f"{timers.format_local(directory.deadline)} ({directory.timeout_minutes} minutes)"
    )


def loaded(
    config: Config, directory: Directory, now: float, extraction: dict | None = None
) -> dict:
    """The `POST /load-directory` body (docs/API.md#post-load-directory).

    A video's directory ends with its `extraction` object (docs/API.md#long-videos).
    """
    path = shown_path(config, directory)
    return {
        "status": "success",
        "directory": path,
        "image_count": directory.image_count,
        "message": f"Loaded {directory.image_count} images from {path}",
        "timeout": timeout_message(directory),
        "id": directory.id,
        "url_prefix": url_prefix(config, directory.id),
        "timeout_minutes": directory.timeout_minutes,
        "auto_unload_at": timers.format_local(directory.deadline),
        "time_remaining": timers.format_remaining(directory.deadline, now),
        "recursive": directory.recursive,
        **watch_keys(directory),
        **extraction_key(extraction),
    }


def extraction_key(extraction: dict | None) -> dict[str, Any]:
    """`{"extraction": ...}` for a video's directory, nothing for a folder."""
    return {} if extraction is None else {"extraction": extraction}


def directory_summary(
    config: Config, directory: Directory, now: float, extraction: dict | None = None
) -> dict:
    """One `<dir>` of `GET /api/directories` (docs/API.md#several-directories)."""
    return {
        "id": directory.id,
        "directory": shown_path(config, directory),
        "image_count": directory.image_count,
        "load_time": timers.format_local(directory.load_time),
        "timeout_minutes": directory.timeout_minutes,
        "auto_unload_at": timers.format_local(directory.deadline),
        "url_prefix": url_prefix(config, directory.id),
        "time_remaining": timers.format_remaining(directory.deadline, now),
        "recursive": directory.recursive,
        **watch_keys(directory),
        **extraction_key(extraction),
    }


def timeout_set(minutes: int, current: Directory | None) -> dict:
    """The `POST /timeout/{m}` body (docs/API.md#post-timeoutminutes)."""
    if current is None:
        # Whatever `m`, 0 included: the first version answers exactly this
        # (docs/API.md#post-timeoutminutes).
        message = f"Timeout set to {minutes} minutes. Will apply to next loaded directory."
    elif minutes <= 0:
        message = (
            "Timeout disabled. Directory will remain loaded until manually unloaded "
            "or server is restarted."
        )
    else:
        message = (
            f"Timeout set to {minutes} minutes. "
            f"Directory will be unloaded at {timers.format_local(current.deadline)}"
        )
    return {
        "status": "success",
        "timeout_minutes": minutes,
        "timeout_enabled": minutes > 0,
        "message": message,
    }
