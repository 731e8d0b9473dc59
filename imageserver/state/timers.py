"""Per-directory deadlines: arm, re-arm, cancel, slide, and the sweep of expired ones.

A deadline is a stored epoch time on its directory's row, not a thread: re-arming overwrites it
and cancelling clears it, so there is never a stale timer that could unload a newer load. The
sweep deletes only rows whose *stored* deadline has passed, inside the same transaction that
reads it. Every worker also runs a `Sweeper` thread that wakes at the next deadline; it is a
daemon blocked on an Event, so SIGTERM never waits for it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SWEEP_IDLE_SECONDS = 60.0
# In idle mode the deadline slides on every image access; writing it at most once a second
# keeps the hot path from turning every read into a write.
IDLE_SLIDE_MIN_SECONDS = 1.0

log = logging.getLogger(__name__)


def deadline_after(now: float, minutes: int | None) -> float | None:
    """Return the deadline `minutes` after `now`, or None when the timeout is off (<= 0)."""
    if minutes is None or minutes <= 0:
        return None
    return now + minutes * 60


def effective_minutes(minutes: int | None) -> int | None:
    """Normalise a timeout: 0 or negative means none."""
    return minutes if minutes is not None and minutes > 0 else None


def format_local(epoch: float | None) -> str | None:
    """Format an epoch time as local `YYYY-MM-DD HH:MM:SS`, or None."""
    return None if epoch is None else time.strftime(TIME_FORMAT, time.localtime(epoch))


def format_remaining(deadline: float | None, now: float) -> str | None:
    """Format the time left as `"{M}m {S}s"` in whole minutes (never hours), or None."""
    if deadline is None:
        return None
    seconds = max(0, int(deadline - now))
    return f"{seconds // 60}m {seconds % 60}s"


def arm(conn: sqlite3.Connection, dir_id: str, minutes: int | None, now: float) -> float | None:
    """Set (or, with no timeout, cancel) a directory's deadline; return the new deadline."""
    deadline = deadline_after(now, minutes)
    conn.execute(
        "UPDATE directories SET timeout_minutes = ?, deadline = ? WHERE id = ?",
        (effective_minutes(minutes), deadline, dir_id),
    )
    return deadline


def expired_ids(conn: sqlite3.Connection, now: float) -> list[str]:
    """Return the ids of directories whose stored deadline has passed."""
    rows = conn.execute(
        "SELECT id FROM directories WHERE deadline IS NOT NULL AND deadline <= ?", (now,)
    )
    return [row[0] for row in rows]


def next_deadline(conn: sqlite3.Connection) -> float | None:
    """Return the earliest pending deadline, or None."""
    row = conn.execute("SELECT MIN(deadline) FROM directories WHERE deadline IS NOT NULL")
    value = row.fetchone()[0]
    return None if value is None else float(value)


def slide(conn: sqlite3.Connection, dir_id: str, now: float) -> None:
    """Push a directory's deadline to now + its timeout (idle mode), if it moved enough."""
    conn.execute(
        "UPDATE directories SET deadline = ? + timeout_minutes * 60 "
        "WHERE id = ? AND deadline IS NOT NULL AND timeout_minutes IS NOT NULL "
        "AND deadline > ? AND ? + timeout_minutes * 60 - deadline >= ?",
        (now, dir_id, now, now, IDLE_SLIDE_MIN_SECONDS),
    )


class Sweeper:
    """A daemon thread that applies expired deadlines without waiting for a request.

    :param sweep: unloads every expired directory and returns the next deadline (or None).
    """

    def __init__(self, sweep: Callable[[], float | None], clock: Clock) -> None:
        self._sweep = sweep
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deadline-sweeper", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        """Set when the sweeper is asked to stop: the signal for the app's other background work."""
        return self._stop

    def poke(self) -> None:
        """Recompute the next wake-up (a deadline was just armed)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the thread to exit and wait briefly for it."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                upcoming = self._sweep()
            except Exception:  # keep sweeping later even if one pass hits a locked database
                log.exception("deadline sweep failed")
                upcoming = None
            wait = SWEEP_IDLE_SECONDS
            if upcoming is not None:
                wait = min(wait, max(0.05, upcoming - self._clock()))
            self._wake.wait(wait)
            self._wake.clear()
