"""The deadline sweeper wakes when a nearer deadline is armed, not at its next idle check.

Time is a movable clock: the deadline passes by moving it, and the sweeper thread is the real
one. Its idle wait is set to an hour here, so a sweep that happens at all within the test's
wait proves the sweeper was woken.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from imageserver.state import timers
from imageserver.state.registry import Registry
from imageserver.state.store import Store
from imageserver.state.timers import Sweeper
from tests.support.images import make_frames

# Far above a loaded machine's thread wake-up, far below the idle wait the test sets.
WOKEN_WITHIN_SECONDS = 10.0
IDLE_SECONDS = 3600.0


class MovableClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_deadline_armed_mid_wait_wakes_the_sweeper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With nothing pending the sweeper would sleep an hour: only the poke can wake it.
    monkeypatch.setattr(timers, "SWEEP_IDLE_SECONDS", IDLE_SECONDS)
    clock = MovableClock()
    registry = Registry(Store(str(tmp_path / "state.sqlite3")), clock, 0)
    registry.initialise()
    sweeps: list[float | None] = []
    swept_once, swept_again = threading.Event(), threading.Event()

    def sweep() -> float | None:
        upcoming = registry.sweep()
        sweeps.append(upcoming)
        (swept_again if len(sweeps) >= 2 else swept_once).set()
        return upcoming

    sweeper = Sweeper(sweep, clock)
    registry.on_deadline_armed = sweeper.poke
    sweeper.start()
    try:
        folder = tmp_path / "frames"
        make_frames(folder, 2)
        clock.now += 1
        assert swept_once.wait(WOKEN_WITHIN_SECONDS), "the sweeper never started"
        assert sweeps == [None]  # nothing pending: now it sleeps IDLE_SECONDS
        loaded = registry.load(str(folder), str(folder), False, 1)
        assert swept_again.wait(WOKEN_WITHIN_SECONDS), "the sweeper slept through the new deadline"
        assert sweeps[1] == loaded.deadline
    finally:
        sweeper.stop()
