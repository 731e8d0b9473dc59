"""The deadline sweeper wakes when a nearer deadline is armed, not at its next idle check.

Time is a movable clock: the deadline passes by moving it, and the sweeper thread is the real
one. Its idle wait (`SWEEP_IDLE_SECONDS`, 60 s) is far longer than any wait here, so an unload
that happens at all proves the sweeper was woken.
"""

from __future__ import annotations

import threading
from pathlib import Path

from imageserver.state.registry import Registry
from imageserver.state.store import Store
from imageserver.state.timers import SWEEP_IDLE_SECONDS
from imageserver.state.timers import Sweeper
from tests.support.images import make_frames

# Far below the sweeper's idle wait, far above a loaded machine's thread wake-up.
WOKEN_WITHIN_SECONDS = 10.0


class MovableClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_wait_being_cut_short_is_not_a_matter_of_luck() -> None:
    assert SWEEP_IDLE_SECONDS > 5 * WOKEN_WITHIN_SECONDS


def test_a_deadline_armed_mid_wait_wakes_the_sweeper(tmp_path: Path) -> None:
    clock = MovableClock()
    registry = Registry(Store(str(tmp_path / "state.sqlite3")), clock, 0)
    registry.initialise()
    sweeps: list[float | None] = []
    swept_again = threading.Event()

    def sweep() -> float | None:
        upcoming = registry.sweep()
        sweeps.append(upcoming)
        if len(sweeps) >= 2:
            swept_again.set()
        return upcoming

    sweeper = Sweeper(sweep, clock)
    registry.on_deadline_armed = sweeper.poke
    sweeper.start()
    try:
        folder = tmp_path / "frames"
        make_frames(folder, 2)
        clock.now += 1
        loaded = registry.load(str(folder), str(folder), False, 1)  # nothing pending before
        assert swept_again.wait(WOKEN_WITHIN_SECONDS), "the sweeper slept through the new deadline"
        assert sweeps[-1] == loaded.deadline
    finally:
        sweeper.stop()
