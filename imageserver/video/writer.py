"""Writing chosen frames: RGB conversion and JPEG encoding on threads, each file complete
before it is visible."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from imageserver.video.videoio import to_rgb_image

MAX_PENDING = 4
FrameFn = Callable[[str, float], None]


class FrameWriter:
    """RGB conversion (swscale) and JPEG encoding on 2 threads, overlapping with decoding on
    the caller's thread (PyAV and Pillow release the GIL for both). At most MAX_PENDING frames
    wait, which bounds memory (a decoded 1080p frame is 3 MB, its RGB copy 6 MB). Frames are
    handed to ``written`` in submission order, each after its rename."""

    def __init__(self, written: FrameFn, quality: int) -> None:
        self.pool = ThreadPoolExecutor(2)
        self.quality = quality
        self.pending: deque[tuple[Future[None], str, float]] = deque()
        self.written = written

    def submit(self, frame: Any, turn: int, folder: Path, name: str, t: float) -> None:
        """Queue a decoded PyAV frame, to be turned ``turn`` degrees and saved as ``name``."""
        job = self.pool.submit(_save_atomic, frame, turn, folder, name, self.quality)
        self.pending.append((job, name, t))
        while len(self.pending) > MAX_PENDING:
            self._finish_oldest()

    def report_done(self) -> None:
        """Hand over the frames already saved, without waiting (e.g. while a file grows)."""
        while self.pending and self.pending[0][0].done():
            self._finish_oldest()

    def drain(self) -> None:
        while self.pending:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        future, name, t = self.pending.popleft()
        future.result()  # re-raises a failed save
        self.written(name, round(t, 6))

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _save_atomic(frame: Any, turn: int, folder: Path, name: str, quality: int) -> None:
    """Encode to a hidden temp file, then rename: a visible frame is always complete."""
    tmp = folder / f".tmp-{name}"
    try:
        to_rgb_image(frame, turn).save(tmp, "JPEG", quality=quality)
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
