"""Extract still frames from a video file into a content-keyed cache folder (PyAV).

Modes (exactly one):

* ``fps=F`` (default 1): for each k = 0, 1, 2, ... the first frame at or after k/F seconds.
* ``scene=T``: the first frame, then a frame whenever the share of the on-screen content that
  changed since the LAST CHOSEN frame is above T (0..1) and the picture has settled; the
  measure is defined in ``scene.py`` (0.3 catches scrolls, new pages and windows, never the
  pointer or a clock).
* ``every=N``: decoded frames 0, N, 2N, ...

At ``fps=F`` only the chosen frames need full work, so the codec is told, packet by packet,
to drop the frames that can be neither chosen nor needed by another frame (B-frames that
share their 1/F interval with an earlier frame; `decoding.py`, `sampling.py`). The frames
and times chosen are exactly those of decoding every frame: the first frame at or after each
target, never a nearby one. Scene and every-N modes decode every frame. Chosen frames are
converted to RGB and JPEG-encoded on two threads while decoding goes on (`writer.py`), and
turned upright by the video's rotation (display matrix; a phone's portrait clip comes out
portrait). A video that is still being written can be followed as it grows (`growing.py`).

The cache folder is ``<root>/<stem-slug>-<16 hex>``, keyed by the video's real path, size,
mtime_ns and the settings. Frames are ``frame_000001.jpg`` ... (sorted by time) and
``manifest.json`` maps each name to ``t`` (seconds from the start of the video stream).
Extraction writes into a hidden temp sibling and renames it into place only when complete.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imageserver.video import framecache
from imageserver.video.decoding import Decoded
from imageserver.video.growing import GrowingFile
from imageserver.video.sampling import Chooser
from imageserver.video.videoio import NotAVideoError as NotAVideoError
from imageserver.video.videoio import NoVideoStreamError as NoVideoStreamError
from imageserver.video.videoio import TruncatedVideoError as TruncatedVideoError
from imageserver.video.videoio import VideoError as VideoError
from imageserver.video.videoio import check_complete
from imageserver.video.videoio import open_video
from imageserver.video.videoio import stream_duration
from imageserver.video.videoio import upright_turn
from imageserver.video.writer import FrameWriter

FORMAT_VERSION = 2  # part of the cache key: bump when output for the same settings changes
# (2: frames turned upright by the video's rotation)
JPEG_QUALITY = 90
DEFAULT_FPS = 1.0
DEFAULT_SCENE = 0.3  # share of the content (scene.py): pointer/clock < 0.02, new text >= 0.5
ProgressFn = Callable[[int, "int | None"], None]
FrameFn = Callable[[str, float], None]
FirstFramesFn = Callable[[Path, list[tuple[str, float]]], None]


@dataclass(frozen=True)
class FrameSettings:
    """Which frames to take: ``mode`` is "fps", "scene" or "every"."""

    mode: str = "fps"
    value: float = DEFAULT_FPS

    @classmethod
    def from_options(
        cls, fps: float | None = None, scene: float | None = None, every: int | None = None
    ) -> FrameSettings:
        """Validate the API/CLI options (at most one may be given)."""
        given = [
            (m, v) for m, v in (("fps", fps), ("scene", scene), ("every", every)) if v is not None
        ]
        if len(given) > 1:
            raise ValueError("choose one of fps, scene, every")
        mode, value = given[0] if given else ("fps", DEFAULT_FPS)
        if mode == "fps" and not 0 < float(value) <= 120:
            raise ValueError("fps must be in (0, 120]")
        if mode == "scene" and not 0 < float(value) < 1:
            raise ValueError("scene must be in (0, 1)")
        if mode == "every" and (int(value) != value or int(value) < 1):
            raise ValueError("every must be a positive integer")
        return cls(mode, float(value))

    def tag(self) -> str:
        """A short, URL-safe name of the settings for ids: ``fps1``, ``fps0p5``, ``every7``."""
        text = f"{self.value:g}".replace(".", "p").replace("-", "m")
        return f"{self.mode}{text}"


@dataclass
class Extraction:
    """The result: the final folder, name -> t, and whether it came from the cache."""

    directory: Path
    frames: dict[str, float]
    cached: bool


def estimate_total(
    settings: FrameSettings, duration: float | None, rate: float | None
) -> int | None:
    """Frames we expect to write (None when unknown); used for progress and name width."""
    if duration is None:
        return None
    if settings.mode == "fps":
        return int(duration * settings.value) + 1
    if settings.mode == "every" and rate:
        return int(duration * rate / settings.value) + 1
    return None


def extract_into(
    video: Path | str,
    folder: Path | str,
    settings: FrameSettings | None = None,
    on_frame: FrameFn | None = None,
    progress: ProgressFn | None = None,
    *,
    follow_idle_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, float]:
    """Decode ``video`` and write the chosen frames into ``folder``, one complete file at a time.

    Each frame is encoded to a hidden temp file in ``folder`` and renamed to its final name
    (``frame_000001.jpg``...), so a name that exists is always a whole JPEG, turned upright
    by the video's rotation. ``on_frame(name, t)`` is called after that rename, in time
    order. Returns name -> t of every frame written.

    ``follow_idle_seconds``: the video is still being written; at the end of the data wait
    for it to grow (polling with ``sleep``, timed by ``clock``) and go on, ending when it has
    not grown for that many seconds. The header's duration is then not checked.

    :raise VideoError: not a video, no video stream, or cut short / corrupt part-way (the
        frames written before the break stay in ``folder``).
    :raise OSError: the folder cannot be written (disk full, permissions).
    """
    video, folder = Path(video), Path(folder)
    settings = settings or FrameSettings()
    source = None
    if follow_idle_seconds is not None:
        source = GrowingFile(video, follow_idle_seconds, clock, sleep)
    try:
        return _extract(video, folder, settings, on_frame, progress, source)
    finally:
        if source is not None:
            source.close()


def _extract(
    video: Path,
    folder: Path,
    settings: FrameSettings,
    on_frame: FrameFn | None,
    progress: ProgressFn | None,
    source: GrowingFile | None,
) -> dict[str, float]:
    import av

    container, stream = open_video(video, source)
    frames: dict[str, float] = {}

    def written(name: str, t: float) -> None:
        frames[name] = t
        _report(progress, len(frames), total, duration, t)
        if on_frame is not None:
            on_frame(name, t)

    with container, FrameWriter(written, JPEG_QUALITY) as writer:
        if source is not None:
            source.on_wait = writer.report_done  # frames done appear while the file grows
        # A growing file's header knows nothing of the end yet.
        duration = stream_duration(container, stream) if source is None else None
        rate = float(stream.average_rate) if stream.average_rate else None
        total = estimate_total(settings, duration, rate)
        width = max(6, len(str(total or 0)))
        chooser = Chooser(settings.mode, settings.value)
        decoded = Decoded(container, stream, chooser, seekable=source is None)
        chosen, last_t = 0, -1.0
        try:
            for index, t, frame in decoded:
                last_t = max(last_t, t)
                if not chooser.choose(index, t, frame):
                    continue
                chosen += 1
                name = f"frame_{chosen:0{width}d}.jpg"
                # RGB conversion and JPEG encoding only for chosen frames, on the writer's
                # threads: the costly part, overlapping with decoding here.
                writer.submit(frame, upright_turn(frame), folder, name, t)
            writer.drain()
        except (av.error.InvalidDataError, av.error.EOFError) as exc:
            writer.drain()
            raise TruncatedVideoError(f"{video.name}: corrupt data at {last_t:.2f}s") from exc
        if decoded.index < 0:
            raise TruncatedVideoError(f"{video.name}: no decodable frame")
        if source is None:
            check_complete(video, max(last_t, decoded.last_packet_t), duration, rate)
    return frames


def _report(
    progress: ProgressFn | None, done: int, total: int | None, duration: float | None, t: float
) -> None:
    """Call ``progress``; without a known total (scene mode), extrapolate from time covered."""
    if progress is None:
        return
    if total is None and duration:
        total = max(done, round(done * duration / max(t, 1e-3)))
    progress(done, total)


def extract_frames(
    video: Path | str,
    cache_root: Path | str,
    settings: FrameSettings | None = None,
    progress: ProgressFn | None = None,
    on_first_frames: FirstFramesFn | None = None,
    first_count: int = 8,
) -> Extraction:
    """Extract frames (or reuse the cache) and return the final folder and name -> t.

    ``progress(done, estimated_total)`` is called after each written frame (the total is
    extrapolated in scene mode, None if the duration is unknown). ``on_first_frames(folder,
    entries)`` is called once, when ``first_count`` frames (or all, if fewer) are written; the
    folder is the temp folder, valid only until this function returns.
    """
    video, cache_root = Path(video), Path(cache_root)
    settings = settings or FrameSettings()
    if not video.is_file():
        raise NotAVideoError(f"{video}: not a file")
    final = framecache.cache_dir_for(
        video, cache_root, [settings.mode, settings.value, JPEG_QUALITY, FORMAT_VERSION]
    )
    if (final / framecache.MANIFEST).is_file():
        return Extraction(final, framecache.read_manifest(final), cached=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_root, prefix=f".tmp-{final.name}-"))
    try:
        hook = _FirstFrames(tmp, on_first_frames, first_count)
        frames = extract_into(video, tmp, settings, on_frame=hook, progress=progress)
        hook.flush()
        framecache.write_json_atomic(
            tmp / framecache.MANIFEST,
            {
                "version": FORMAT_VERSION,
                "video": framecache.video_identity(video),
                "settings": {settings.mode: settings.value},
                "frames": frames,
            },
        )
        return Extraction(framecache.publish(tmp, final), frames, cached=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _FirstFrames:
    """Calls ``hook(folder, entries)`` once, when ``count`` frames (or all, if fewer) exist."""

    def __init__(self, folder: Path, hook: FirstFramesFn | None, count: int) -> None:
        self.folder, self.hook, self.count = folder, hook, count
        self.entries: list[tuple[str, float]] = []
        self.called = False

    def __call__(self, name: str, t: float) -> None:
        self.entries.append((name, t))
        if len(self.entries) == self.count:
            self.flush()

    def flush(self) -> None:
        if self.hook is not None and not self.called:
            self.called = True
            self.hook(self.folder, list(self.entries))
