"""The video job: decode a video's frames into its folder, each listed as soon as it is whole.

Runs in its own process (`child.py`), never in a web worker: PyAV's memory goes when the job
ends, and a decoder that crashes takes only this process. `extract_into` writes each frame as
a temp file renamed into place and calls back in time order; a flusher thread records the
frames written since the last flush (`FLUSH_SECONDS`) with their times, in the directory's
index, as one batch (`state/frame_rows.py`), with the job's progress in the same transaction,
then hashes and measures them while they are in the page cache (the first `?unique=true`
listing then only reads the database). At the end `manifest.json` marks the folder complete,
so a re-load reuses it. docs/API.md#long-videos.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

from imageserver.frames import catalog
from imageserver.jobs.child import Context
from imageserver.jobs.child import Stopped
from imageserver.jobs.kinds import VIDEO
from imageserver.jobs.kinds import video_progress
from imageserver.state import frame_rows
from imageserver.state.indexer import ImageEntry
from imageserver.video import framecache
from imageserver.video.extract import FORMAT_VERSION
from imageserver.video.extract import FrameSettings
from imageserver.video.extract import VideoError
from imageserver.video.extract import extract_into

KIND = VIDEO.name
FLUSH_SECONDS = 0.2
# Tests only: fail the write of the N-th frame as a full disk would (read in this process).
DISK_FULL_AFTER_ENV = "IMAGE_SERVER_TEST_DISK_FULL_AFTER"


class TooManyFrames(Exception):
    """The video gives more frames than IMAGE_SERVER_VIDEO_MAX_FRAMES."""


def unwanted_because(context: Context) -> str | None:
    """Say why the job must stop (its directory was unloaded), or None while it is wanted."""
    request = context.job.request
    row = (
        context.store.connection()
        .execute(
            "SELECT 1 FROM directories WHERE id = ? AND real_path = ?",
            (request["dir_id"], request["folder"]),
        )
        .fetchone()
    )
    return None if row else "stopped: the directory was unloaded"


def run(context: Context) -> None:
    """Extract the job's video and end the job `done`, or `failed` with a clear detail."""
    request = context.job.request
    folder = Path(request["folder"])
    settings = FrameSettings(request["mode"], float(request["value"]))
    follow = request.get("follow_idle_seconds")
    following = {} if follow is None else {"follow_idle_seconds": float(follow)}
    changed = _changed_since_loaded(request)
    if changed is not None:
        context.fail(changed)
        return
    recorder = _Recorder(context)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with recorder:
            extract_into(request["video"], folder, settings, on_frame=recorder.add, **following)
    except VideoError as exc:
        context.fail(str(exc), recorder.progress())
        return
    except TooManyFrames as exc:
        context.fail(str(exc), recorder.progress())
        return
    except OSError as exc:
        context.fail(_os_detail(exc, folder), recorder.progress())
        return
    manifest = {
        "version": FORMAT_VERSION,
        "video": request["identity"],
        "settings": {settings.mode: settings.value},
        "frames": recorder.times,
        "duration": request.get("duration"),
    }
    framecache.write_json_atomic(folder / framecache.MANIFEST, manifest)
    context.done(recorder.progress(finished=True))


def _os_detail(exc: OSError, folder: Path) -> str:
    """One line for a file error: writing frames (a full disk) or reading the video."""
    reason = exc.strerror or str(exc)
    name = str(exc.filename or "")
    if name and not name.startswith(str(folder)):
        return f"cannot read the video: {reason}"
    return f"cannot write frames: {reason}"


def _changed_since_loaded(request: dict[str, Any]) -> str | None:
    """Say why the video can no longer give these frames (a resumed job), or None."""
    video = Path(request["video"])
    try:
        identity = framecache.video_identity(video)
    except OSError:
        return f"{video.name}: the video is gone since it was loaded"
    # A followed video grows: that is no change (its frames so far are still its frames).
    if identity != request["identity"] and request.get("follow_idle_seconds") is None:
        return f"{video.name}: the video changed since it was loaded; load it again"
    return None


class _Recorder:
    """Collects written frames; a thread records them every FLUSH_SECONDS."""

    def __init__(self, context: Context) -> None:
        self.context = context
        request = context.job.request
        self.dir_id, self.folder = request["dir_id"], request["folder"]
        self.duration: float | None = request.get("duration")
        self.max_frames: int = request["max_frames"]
        self.times: dict[str, float] = {}
        self.last_t = 0.0
        self._pending: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._flushed = threading.Event()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="frame-recorder", daemon=True)
        self._disk_full_after = int(os.environ.get(DISK_FULL_AFTER_ENV) or 0)

    def __enter__(self) -> _Recorder:
        self._thread.start()
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        self._stop.set()
        self._thread.join()
        if isinstance(exc, Stopped):
            return
        self.flush()  # what was written before a break stays served
        if self._failure is not None and exc is None:
            raise self._failure

    def add(self, name: str, t: float) -> None:
        """`extract_into`'s callback: one more complete frame."""
        if self._failure is not None:
            raise self._failure
        count = len(self.times) + 1
        if self._disk_full_after and count >= self._disk_full_after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if count > self.max_frames:
            raise TooManyFrames(
                f"more than {self.max_frames} frames (IMAGE_SERVER_VIDEO_MAX_FRAMES);"
                f" the first {self.max_frames} are kept"
            )
        with self._lock:
            self.times[name] = t
            self.last_t = max(self.last_t, t)
            self._pending.append((name, t))

    def progress(self, finished: bool = False) -> dict[str, Any]:
        """The job's progress now (at the end, the whole duration is done)."""
        done = self.duration if finished and self.duration is not None else self.last_t
        return video_progress(len(self.times), done, self.duration)

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
            except BaseException as exc:  # handed to the decoding thread at its next frame
                self._failure = exc
                return

    def flush(self) -> None:
        """Record the frames written since the last flush, then hash them."""
        with self._lock:
            pending, self._pending = self._pending, []
            state = self.progress()
        if not pending:
            return
        entries = [(_entry(self.folder, name), t) for name, t in pending]
        context = self.context
        with context.store.write() as conn:
            loaded = frame_rows.append(conn, self.dir_id, self.folder, entries)
            ours = context.jobs.record_progress(conn, context.job.id, state)
        if not ours:
            raise Stopped()
        if not loaded:
            context.fail("stopped: the directory was unloaded", state)
            raise Stopped()
        catalog.ensure(context.store, self.folder, [entry for entry, _ in entries])


def _entry(folder: str, name: str) -> ImageEntry:
    info = os.stat(os.path.join(folder, name))
    return ImageEntry(name, info.st_size, info.st_mtime_ns)
