"""Reading a video that is still being written (OBS records MKV or fragmented MP4 as it goes).

`GrowingFile` is the file object the demuxer reads instead of the path: at the end of the
data it does not answer "end of file" but waits for the file to grow, polling its size every
POLL_SECONDS (a sleep, not a busy loop), and only ends when the size has not changed for
``idle_seconds``. The demuxer never sees a false end, so it simply keeps reading clusters or
fragments as they are appended, as from a pipe (no seeking). Clock and sleep are injectable
for tests.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path

POLL_SECONDS = 0.5


def wall_clock() -> float:
    """Seconds since the epoch, like file mtimes (tests replace it)."""
    return time.time()


class GrowingFile(io.RawIOBase):
    """A read-only binary file whose end is "no growth for ``idle_seconds``"."""

    def __init__(
        self,
        path: Path | str,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[], None] | None = None,
        wall: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_RDONLY)
        self.idle_seconds, self.clock, self.sleep = idle_seconds, clock, sleep
        self.wall = wall or wall_clock  # compared with the file's mtime
        self.on_wait = on_wait  # called before each wait: hand over what is done so far
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        """False: demuxers then read it as a pipe, straight on. Told it can seek, the MP4
        demuxer asks for the size and stops there, or scans ahead for fragments at open."""
        return False

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Read what is there; at the end, wait for more, or return 0 once idle."""
        size = self._read_at(buffer)
        if size == 0 and self._wait_for_growth():
            size = self._read_at(buffer)
        return size

    def _read_at(self, buffer: memoryview) -> int:
        data = os.pread(self.fd, len(buffer), self.pos)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def _wait_for_growth(self) -> bool:
        """True when the file grew past the read position; False once it has not changed for
        ``idle_seconds`` (counting the time since its last write, so a finished recording
        ends at once)."""
        stat = os.fstat(self.fd)
        last_size, age = stat.st_size, max(0.0, self.wall() - stat.st_mtime)
        idle_since = self.clock() - min(age, self.idle_seconds)
        while True:
            size = os.fstat(self.fd).st_size
            if size > self.pos:
                return True
            if size != last_size:  # rewritten smaller, or growing still below pos
                last_size, idle_since = size, self.clock()
            if self.clock() - idle_since >= self.idle_seconds:
                return False
            if self.on_wait is not None:
                self.on_wait()
            self.sleep(POLL_SECONDS)

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()
