"""Loading a video file: check it, then extract its frames in the background (#23, #29).

`POST /load-directory` with a video path comes here from `loading.load_folder`, after the
same root and existence checks as a folder (docs/API.md#video-in). A short-lived process
probes the file (this worker never imports PyAV): not a usable video, or frames over
`IMAGE_SERVER_MAX_PIXELS`, or more frames than `IMAGE_SERVER_VIDEO_MAX_FRAMES`, is a 422
before anything is stored. Then the frames folder is loaded as a directory with the frames
it already holds, and a video job (`imageserver/jobs/video.py`) fills it in its own process;
the route waits as the body's `wait` says (`video_status.py`). The frames live in
`<state_dir>/frames/<video>-<hash>/`, keyed by the video's identity and the settings, so a
re-load or a restart reuses them, and a complete folder (`manifest.json`) loads at once.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from pathlib import Path
from typing import Any

from imageserver.settings.config import Config
from imageserver.settings.media_types import is_video_name as is_video_name
from imageserver.state import frame_cache
from imageserver.state import frame_rows
from imageserver.state.indexer import ImageEntry
from imageserver.state.registry import Directory
from imageserver.video import framecache
from imageserver.video.extract import FORMAT_VERSION
from imageserver.video.extract import JPEG_QUALITY
from imageserver.video.extract import FrameSettings
from imageserver.video.probe import probe_video
from imageserver.video.videoio import VideoError
from imageserver.video.videoio import VideoInfo
from imageserver.web import video_status
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


def extraction_of(svc: Services, directory: Directory) -> dict[str, Any] | None:
    """The `extraction` object of a directory: None unless it holds a video's frames."""
    return video_status.extraction(
        svc, directory, is_frames_folder(svc.config, directory.real_path)
    )


def frame_settings(choice: FrameChoice | None) -> FrameSettings:
    """Turn the body's `frames` (validated) into the engine's settings; default 1 fps."""
    if choice is None:
        return FrameSettings()
    mode, value = choice.mode()
    return FrameSettings(mode, value)


def choice_of(svc: Services, directory: Directory) -> FrameChoice | None:
    """Return the settings a loaded video was extracted with, to load it again alike."""
    if not is_frames_folder(svc.config, directory.real_path):
        return None
    settings = framecache.read_settings(Path(directory.real_path))
    if settings is None:  # still extracting: the job knows
        job = video_status.latest_job(svc, directory)
        settings = {job.request["mode"]: job.request["value"]} if job else None
    return FrameChoice.model_validate(settings) if settings else None


def load_video(
    svc: Services,
    path: str,
    real_path: str,
    shown: str,
    choice: FrameChoice | None,
    timeout_minutes: int | None,
    follow: bool = False,
) -> Directory:
    """Load the frames of the video at `real_path` and start (or join) their extraction.

    With `follow` (`"watch": true`), the video is still being written: the extraction
    follows it as it grows and ends once it has not grown for
    `IMAGE_SERVER_VIDEO_FOLLOW_IDLE_S` seconds.

    :raise ApiError 422: not a usable video, or over a limit (nothing is stored).
    :raise ApiError 403: the file is not readable.
    """
    settings = frame_settings(choice)
    try:
        return _load_frames(svc, path, real_path, shown, settings, timeout_minutes, follow)
    except FileNotFoundError:
        # The frame cache evicted this unloaded folder between our look and the load (the
        # registry refuses a folder that went): look again, extracting anew if need be.
        return _load_frames(svc, path, real_path, shown, settings, timeout_minutes, follow)


def _load_frames(
    svc: Services,
    path: str,
    real_path: str,
    shown: str,
    settings: FrameSettings,
    timeout_minutes: int | None,
    follow: bool,
) -> Directory:
    key = [settings.mode, settings.value, JPEG_QUALITY, FORMAT_VERSION]
    folder = framecache.cache_dir_for(Path(real_path), frames_root(svc.config), key)
    complete = (folder / framecache.MANIFEST).is_file()
    running = video_status.running_job(svc, os.path.realpath(folder))
    info = None
    if not complete and running is None:
        info = _usable(svc.config, real_path, shown, settings)
    folder.mkdir(parents=True, exist_ok=True)
    folder_real = os.path.realpath(folder)
    dir_id = framecache.directory_id_for(Path(real_path), settings.tag(), Path(folder_real))
    entries = _recorded(svc, folder_real, complete)
    directory = svc.registry.load(
        path, folder_real, False, timeout_minutes, dir_id=dir_id, entries=entries
    )
    _catch_up(svc, dir_id, folder_real)
    if info is not None:
        _remove_partial_files(Path(folder_real))
        request = {
            "video": real_path,
            "identity": framecache.video_identity(Path(real_path)),
            "folder": folder_real,
            "dir_id": dir_id,
            "mode": settings.mode,
            "value": settings.value,
            "duration": info.duration,
            "max_frames": svc.config.video_max_frames,
            "follow_idle_seconds": svc.config.video_follow_idle_seconds if follow else None,
        }
        video_status.start_job(svc, folder_real, request, info.duration)
    return svc.registry.get(dir_id) or directory


def _usable(config: Config, real_path: str, shown: str, settings: FrameSettings) -> VideoInfo:
    """Probe the video and check the limits. :raise ApiError 422 / 403: it cannot be loaded."""
    if not os.access(real_path, os.R_OK):
        raise ApiError(HTTPStatus.FORBIDDEN, f"Directory not readable: {shown}")
    try:
        info = probe_video(real_path, config.max_pixels)
    except VideoError as exc:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, f"Not a usable video: {exc}") from None
    name = Path(shown).name
    if info.pixels > config.max_pixels:
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"Video frames too large: {name} is {info.width}x{info.height}"
            f" ({info.pixels} pixels), more than IMAGE_SERVER_MAX_PIXELS ({config.max_pixels})",
        )
    expected = expected_frames(info, settings)
    if expected is not None and expected > config.video_max_frames:
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"Too many frames: {name} would give about {expected} frames, more than"
            f" IMAGE_SERVER_VIDEO_MAX_FRAMES ({config.video_max_frames})",
        )
    return info


def expected_frames(info: VideoInfo, settings: FrameSettings) -> int | None:
    """How many frames the settings would write at most (None when the video won't say).

    `fps`: one per 1/F second of the duration. `every`: the decoded frames over N. `scene`:
    any decoded frame may be a new screen, so the decoded frame count bounds it.
    """
    decoded = info.frame_count
    if decoded is None and info.duration is not None and info.rate:
        decoded = int(info.duration * info.rate) + 1
    if settings.mode == "fps":
        if info.duration is None:
            return None
        by_time = int(info.duration * settings.value) + 1
        return min(by_time, decoded) if decoded else by_time
    if decoded is None:
        return None
    if settings.mode == "every":
        return -(-decoded // int(settings.value))
    return decoded


def _recorded(svc: Services, folder: str, complete: bool) -> list[ImageEntry]:
    """The frames already recorded complete under `folder` (a re-load, a resumed job)."""
    store = svc.registry.store
    times = frame_rows.times(store, folder)
    if not times and complete:  # a folder finished before frame times were stored
        try:
            times = framecache.read_manifest(Path(folder))
        except (OSError, ValueError, KeyError):
            times = {}
        frame_rows.import_times(store, folder, times)
    return [entry for entry in (_entry(folder, name) for name in times) if entry is not None]


def _catch_up(svc: Services, dir_id: str, folder: str) -> None:
    """Index the frames recorded between the load's read and its write (a running job).

    Frames recorded after the load's write went into the new index themselves; adding a
    name twice only rewrites its row.
    """
    store = svc.registry.store
    with store.read() as conn:
        names = frame_rows.missing_from_index(conn, dir_id, folder)
    entries = [entry for entry in (_entry(folder, name) for name in names) if entry]
    if entries:
        with store.write() as conn:
            frame_rows.add_to_index(conn, dir_id, folder, entries)


def _remove_partial_files(folder: Path) -> None:
    """Remove the temp files a killed extraction left (never listed, never served)."""
    for partial in folder.glob(".tmp-*"):
        partial.unlink(missing_ok=True)


def _entry(folder: str, name: str) -> ImageEntry | None:
    try:
        info = os.stat(os.path.join(folder, name))
    except OSError:
        return None
    return ImageEntry(name, info.st_size, info.st_mtime_ns)
