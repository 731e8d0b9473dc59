"""A server clock that stands still until the test moves it (no real time slips in).

`ServerProcess(clock_file=...)` runs the server through `clock_server.py`, whose clock reads
this file: `at <epoch seconds>` is a frozen time. A test that checks "not unloaded 1 s before
the deadline, unloaded 1 s after" then holds on any machine, however busy.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

FROZEN_PREFIX = "at "


class FrozenClock:
    """The time of the servers that read `path`: `start` plus what the test moved it by.

    :param start: epoch seconds at the start (default: now, whole seconds, so every deadline
        the server prints to the second is exact).
    """

    def __init__(self, path: Path, start: float | None = None) -> None:
        self.path = path
        self.start = float(int(time.time())) if start is None else start
        self.now = self.start
        self.move(0)

    def move(self, seconds: float) -> None:
        """Set the servers' time to `start + seconds` (atomically: no reader sees half)."""
        self.now = self.start + seconds
        partial = self.path.with_name(self.path.name + ".new")
        partial.write_text(f"{FROZEN_PREFIX}{self.now!r}")
        os.replace(partial, self.path)


def read_clock_file(path: str, real_now: float) -> float:
    """The time a clock file says: `at <epoch>` frozen, or a number of seconds past real time.

    A missing or unreadable file means real time.
    """
    try:
        text = Path(path).read_text().strip()
        if text.startswith(FROZEN_PREFIX):
            return float(text.removeprefix(FROZEN_PREFIX))
        return real_now + float(text or 0)
    except (OSError, ValueError):
        return real_now
