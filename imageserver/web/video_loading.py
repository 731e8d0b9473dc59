"""Loading a video file: extract its frames once into the state directory, load that folder.

`POST /load-directory` with a video path comes here from `loading.load_folder`, after the
same root and existence checks as a folder (docs/API.md#video-in). The answer waits for the
extraction: it then carries the full `image_count`, and every URL it leads to answers 200.
The frames live in `<state_dir>/frames/<video>-<hash>/`, keyed by the video's identity and
the settings, so a re-load or a restart reuses them.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from pathlib import Path

from imageserver.frames import catalog
from imageserver.settings.config import Config
from imageserver.settings.media_types import is_video_name as is_video_name
from imageserver.state import frame_cache
from imageserver.state.registry import Directory
from imageserver.video import framecache
from imageserver.video.extract import FrameSettings
from imageserver.video.extract import VideoError
from imageserver.video.extract import extract_frames
from imageserver.web.context import Services
from imageserver.web.errors import ApiError
from imageserver.web.schemas import FrameChoice


def frames_root(config: Config) -> Path:
    """Return the folder holding every video's extracted frames (a bounded cache once unloaded)."""
    return Path(frame_cache.frames_root(config.state_dir))


def is_frames_folder(config: Config, real_path: str) -> bool:
    """Tell whether a loaded directory's real path is a video's frame folder."""
    root = os.path.realpath(frames_root(config))
    return os.path.dirname(real_path) == root


def frame_settings(choice: FrameChoice | None) -> FrameSettings:
    """Turn the body's `frames` (validated) into the engine's settings; default 1 fps."""
    if choice is None:
        return FrameSettings()
    mode, value = choice.mode()
    return FrameSettings(mode, value)


def choice_of(config: Config, directory: Directory) -> FrameChoice | None:
    """Return the settings a loaded video was extracted with, to load it again alike."""
    if not is_frames_folder(config, directory.real_path):
        return None
    settings = framecache.read_settings(Path(directory.real_path))
    return FrameChoice.model_validate(settings) if settings else None


def load_video(
    svc: Services,
    path: str,
    real_path: str,
    shown: str,
    choice: FrameChoice | None,
    timeout_minutes: int | None,
) -> Directory:
    """Extract (or reuse) the frames of the video at `real_path` and load them.

    :raise ApiError 422: not a video, no video stream, truncated or corrupt (nothing is
        left in the cache). :raise ApiError 403: the file is not readable.
    """
    settings = frame_settings(choice)
    root = frames_root(svc.config)
    if root.is_dir():  # temp folders of a killed extraction
        framecache.clean_stale_temps(root)
    for attempt in range(2):
        try:
            extraction = extract_frames(real_path, root, settings)
        except VideoError as exc:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"Not a usable video: {exc}") from None
        except PermissionError:
            raise ApiError(HTTPStatus.FORBIDDEN, f"Directory not readable: {shown}") from None
        folder = os.path.realpath(extraction.directory)
        dir_id = framecache.directory_id_for(Path(real_path), settings.tag(), Path(folder))
        try:
            directory = svc.registry.load(path, folder, False, timeout_minutes, dir_id=dir_id)
            break
        except FileNotFoundError:  # the frame cache evicted the reused folder meanwhile
            if attempt:
                raise
    # Hash and measure every frame now, while the files are in the page cache: the first
    # `?unique=true` listing then only reads the database.
    entries = svc.registry.image_page(directory.id, 0, directory.image_count)
    catalog.ensure(svc.registry.store, folder, entries, whole_folder=True)
    return directory
