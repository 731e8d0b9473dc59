"""The registry and its timers in-process, with an injected clock (no sleeping)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imageserver.state.registry import Registry
from imageserver.state.registry import directory_id
from imageserver.state.store import Store
from imageserver.state.timers import format_remaining
from tests.support.images import make_frames


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_registry(tmp_path: Path, clock: FakeClock, default_timeout: int = 0) -> Registry:
    registry = Registry(Store(str(tmp_path / "state" / "db.sqlite3")), clock, default_timeout)
    registry.initialise()
    return registry


@pytest.fixture
def two_dirs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    make_frames(a, 3)
    make_frames(b, 2)
    return a, b


def load(registry: Registry, folder: Path, minutes: int | None = None):
    return registry.load(str(folder), str(folder.resolve()), False, minutes)


def test_directory_id_is_stable_readable_and_url_safe():
    first = directory_id("/data/Frames Rec #1")
    assert first == directory_id("/data/Frames Rec #1")
    assert first.startswith("frames-rec-1-")
    assert first != directory_id("/other/Frames Rec #1")
    assert directory_id("/").startswith("root-")


def test_stale_deadline_never_unloads_a_newer_load(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    load(registry, a, 1)
    clock.advance(50)
    reloaded = load(registry, a, 10)  # re-load re-arms: the 1-minute deadline is gone
    assert reloaded.deadline == clock.now + 600
    clock.advance(30)  # past the old deadline
    registry.sweep()
    assert registry.current().deadline == reloaded.deadline
    clock.advance(600 - 30)  # the new deadline itself
    registry.sweep()
    assert registry.current() is None


def test_each_directory_has_its_own_deadline(tmp_path, clock, two_dirs):
    a, b = two_dirs
    registry = open_registry(tmp_path, clock)
    first = load(registry, a, 1)
    second = load(registry, b, 10)
    clock.advance(61)
    assert registry.get(first.id) is None
    assert registry.current().id == second.id


def test_expired_directory_is_not_served_before_any_sweep(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    directory = load(registry, a, 1)
    clock.advance(60)
    assert registry.current() is None
    assert registry.find_image(directory.id, "frame_000000.jpg") is None


def test_set_default_timeout_rearms_and_cancels_current(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    load(registry, a, None)
    assert registry.current().deadline is None
    rearmed = registry.set_default_timeout(5)
    assert rearmed.deadline == clock.now + 300
    assert rearmed.timeout_minutes == 5
    cancelled = registry.set_default_timeout(0)
    assert cancelled.deadline is None and cancelled.timeout_minutes is None


def test_idle_slide_moves_the_deadline(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    loaded = load(registry, a, 5)
    assert loaded.deadline == clock.now + 300
    clock.advance(240)
    registry.touch(registry.current())
    assert registry.current().deadline == clock.now + 300  # five minutes from the touch
    clock.advance(299)
    assert registry.current() is not None
    clock.advance(1)
    assert registry.current() is None


def test_state_survives_reopening(tmp_path, clock, two_dirs):
    a, b = two_dirs
    registry = open_registry(tmp_path, clock)
    load(registry, a, 5)
    current = load(registry, b)
    registry.set_default_timeout(7)
    reopened = open_registry(tmp_path, clock)
    assert reopened.current().id == current.id
    assert reopened.default_timeout() == 7
    assert [d.path for d in reopened.all()] == [str(a), str(b)]


def test_changed_configured_default_wins_after_restart(tmp_path, clock):
    registry = open_registry(tmp_path, clock, default_timeout=3)
    registry.set_default_timeout(9)
    assert open_registry(tmp_path, clock, default_timeout=3).default_timeout() == 9
    assert open_registry(tmp_path, clock, default_timeout=4).default_timeout() == 4


def test_deadline_passed_while_down_applies_at_start(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    directory = load(registry, a, 1)
    clock.advance(120)
    reopened = open_registry(tmp_path, clock)
    assert reopened.all() == []
    assert reopened.image_names(directory.id) == []


def test_unload_current_keeps_the_others(tmp_path, clock, two_dirs):
    a, b = two_dirs
    registry = open_registry(tmp_path, clock)
    first = load(registry, a)
    load(registry, b)
    assert registry.unload_current() is True
    assert registry.current() is None
    assert [d.id for d in registry.all()] == [first.id]
    assert registry.unload_current() is False


def test_reload_reindexes(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    assert load(registry, a).image_count == 3
    make_frames(a, 5)
    again = load(registry, a)
    assert again.image_count == 5
    assert registry.image_names(again.id)[-1] == "frame_000004.jpg"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0m 0s"), (59, "0m 59s"), (3599, "59m 59s"), (86400, "1440m 0s"), (-5, "0m 0s")],
)
def test_remaining_time_is_in_whole_minutes(seconds, text):
    assert format_remaining(1000.0 + seconds, 1000.0) == text


def index_rows(registry: Registry, dir_id: str) -> list[tuple]:
    with registry.store.read() as conn:
        query = "SELECT name, size, mtime_ns FROM images WHERE dir_id = ? ORDER BY name"
        return [tuple(row) for row in conn.execute(query, (dir_id,))]


def test_a_reload_of_unchanged_files_keeps_the_index_and_moves_the_load(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    first = load(registry, a, minutes=5)
    rows = index_rows(registry, first.id)
    clock.advance(60)
    again = load(registry, a, minutes=5)
    assert again.load_seq > first.load_seq and again.deadline == first.deadline + 60
    assert again.image_count == 3 and index_rows(registry, again.id) == rows
    # The same files with another mtime are another index: the rows are written again.
    touched = a / "frame_000001.jpg"
    info = touched.stat()
    os.utime(touched, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    third = load(registry, a)
    assert ("frame_000001.jpg", info.st_size, info.st_mtime_ns + 10**9) in index_rows(
        registry, third.id
    )


def test_a_reload_after_a_live_change_writes_the_index_again(tmp_path, clock, two_dirs):
    a, _ = two_dirs
    registry = open_registry(tmp_path, clock)
    first = load(registry, a)
    with registry.store.write() as conn:  # what a live folder's batch does to the index
        conn.execute(
            "DELETE FROM images WHERE dir_id = ? AND name = 'frame_000000.jpg'", (first.id,)
        )
        conn.execute("UPDATE directories SET delta_seq = 1 WHERE id = ?", (first.id,))
    again = load(registry, a)
    assert [row[0] for row in index_rows(registry, again.id)] == [
        "frame_000000.jpg",
        "frame_000001.jpg",
        "frame_000002.jpg",
    ]
