"""Writing chosen frames: JPEG encoding on threads, each file complete before it is visible."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MAX_PENDING = 4
FrameFn = Callable[[str, float], None]


class FrameWriter:
    """JPEG encoding on 2 threads (Pillow releases the GIL while encoding), overlapping with
    decoding; at most MAX_PENDING images wait, which bounds memory (6 MB each at 1080p).
    Frames are handed to ``written`` in submission order, each after its rename."""

    def __init__(self, written: FrameFn, quality: int) -> None:
        self.pool = ThreadPoolExecutor(2)
        self.quality = quality
        self.pending: deque[tuple[Future[None], str, float]] = deque()
        self.written = written

    def submit(self, image: Any, folder: Path, name: str, t: float) -> None:
        self.pending.append(
            (self.pool.submit(_save_atomic, image, folder, name, self.quality), name, t)
        )
        while len(self.pending) > MAX_PENDING:
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


def _save_atomic(image: Any, folder: Path, name: str, quality: int) -> None:
    """Encode to a hidden temp file, then rename: a visible frame is always complete."""
    tmp = folder / f".tmp-{name}"
    try:
        image.save(tmp, "JPEG", quality=quality)
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
