"""The frame cache in-process: a real SQLite store and real folders, an injected clock.

Frame folders here are plain folders of known sizes under `<state>/frames/` (the cache does
not care what the bytes are); the real-server tests with real videos are in
`tests/test_frame_cleanup.py`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imageserver.settings.parsers import ConfigError
from imageserver.settings.parsers import megabytes
from imageserver.state import image_facts
from imageserver.state.frame_cache import MIB
from imageserver.state.frame_cache import STALE_SECONDS
from imageserver.state.frame_cache import FrameCache
from imageserver.state.frame_cache import budget_bytes
from imageserver.state.frame_cache import frames_root
from imageserver.state.registry import Registry
from imageserver.state.store import Store

FRAME_BYTES = 10_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1.0  # every reading is a later moment: unloads are strictly ordered
        return self.now


def open_registry(state: Path, max_bytes: int) -> Registry:
    store = Store(str(state / "state.sqlite3"))
    clock = FakeClock()
    frames = FrameCache(store, frames_root(str(state)), max_bytes, clock)
    registry = Registry(store, clock, 0, frames=frames)
    registry.initialise()
    return registry


def frame_folder(state: Path, name: str, frames: int = 2, manifest: bool = True) -> Path:
    """A folder like an extraction leaves: `frames` JPEG-named files of FRAME_BYTES each."""
    folder = state / "frames" / name
    folder.mkdir(parents=True)
    for n in range(1, frames + 1):
        (folder / f"frame_{n:06d}.jpg").write_bytes(b"\xff" * FRAME_BYTES)
    if manifest:
        (folder / "manifest.json").write_text("{}")
    return folder


def load(registry: Registry, folder: Path) -> str:
    real = os.path.realpath(folder)
    return registry.load(real, real, False, None).id


def backdate(path: Path, seconds: float = STALE_SECONDS + 60) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def present(state: Path) -> list[str]:
    return sorted(p.name for p in (state / "frames").iterdir())


@pytest.mark.parametrize(
    "raw,value", [("0", 0.0), ("5120", 5120.0), (" 0.25 ", 0.25), ("1e-3", 0.001)]
)
def test_the_bound_accepts_fractions_of_a_megabyte(raw, value):
    assert megabytes("IMAGE_SERVER_FRAMES_CACHE_MB", raw) == value
    assert budget_bytes(value) == int(value * MIB)


@pytest.mark.parametrize("raw", ["-1", "abc", "inf", "nan", ""])
def test_a_bad_bound_is_one_clear_line(raw):
    with pytest.raises(ConfigError, match="IMAGE_SERVER_FRAMES_CACHE_MB must be"):
        megabytes("IMAGE_SERVER_FRAMES_CACHE_MB", raw)


def test_at_zero_frames_go_with_their_unload_and_loaded_ones_stay(tmp_path):
    registry = open_registry(tmp_path, 0)
    kept = frame_folder(tmp_path, "kept-1")
    gone = frame_folder(tmp_path, "gone-2")
    kept_id, gone_id = load(registry, kept), load(registry, gone)
    assert registry.unload(gone_id)
    assert present(tmp_path) == ["kept-1"]
    assert registry.get(kept_id) is not None and len(list(kept.iterdir())) == 3


def test_least_recently_released_go_first_beyond_the_bound(tmp_path):
    folder_size = 2 * FRAME_BYTES + len("{}")
    registry = open_registry(tmp_path, int(2.5 * folder_size))
    ids = [load(registry, frame_folder(tmp_path, f"v{n}")) for n in range(4)]
    for dir_id in ids[:3]:
        registry.unload(dir_id)
    assert present(tmp_path) == ["v1", "v2", "v3"]  # v0 released first: gone; v3 loaded
    load(registry, tmp_path / "frames" / "v1")  # used again...
    registry.unload(ids[1])  # ...and released last: v2 is now the oldest
    registry.unload(ids[3])
    assert present(tmp_path) == ["v1", "v3"]


def test_a_folder_loaded_again_is_never_evicted(tmp_path):
    registry = open_registry(tmp_path, 0)
    folder = frame_folder(tmp_path, "again")
    first = load(registry, folder)
    registry.frames.max_bytes = 10**9  # keep it on release...
    registry.unload(first)
    load(registry, folder)  # ...load it again, then shrink the bound to nothing
    registry.frames.max_bytes = 0
    assert registry.frames.trim() == []
    assert present(tmp_path) == ["again"]


def test_a_load_of_an_evicted_folder_fails_instead_of_serving_nothing(tmp_path):
    registry = open_registry(tmp_path, 0)
    folder = frame_folder(tmp_path, "raced")
    real = os.path.realpath(folder)
    registry.unload(load(registry, folder))
    with pytest.raises(FileNotFoundError):
        registry.load(real, real, False, None)
    assert registry.all() == []


def test_frames_of_a_directory_expired_by_its_deadline_go_at_zero(tmp_path):
    registry = open_registry(tmp_path, 0)
    folder = frame_folder(tmp_path, "timed")
    real = os.path.realpath(folder)
    registry.load(real, real, False, 1)
    registry.clock.now += 120
    assert registry.sweep() is None
    assert present(tmp_path) == []


def test_the_start_up_sweep_clears_a_crash_and_applies_the_bound(tmp_path):
    registry = open_registry(tmp_path, 10**9)
    loaded = frame_folder(tmp_path, "loaded")
    load(registry, loaded)
    (loaded / ".tmp-frame_000003.jpg").write_bytes(b"half")  # a writer killed mid-frame
    backdate(loaded / ".tmp-frame_000003.jpg")
    temp = frame_folder(tmp_path, ".tmp-cut-0123", manifest=False)  # a killed extraction
    unfinished = frame_folder(tmp_path, "unfinished", manifest=False)
    complete = frame_folder(tmp_path, "complete")  # unloaded, never recorded
    trash = frame_folder(tmp_path, ".trash-evicted-ab12")  # an eviction cut short
    fresh = frame_folder(tmp_path, ".tmp-running-4567", manifest=False)
    for path in (temp, unfinished, complete):
        backdate(path)
    registry.frames.max_bytes = 10**9
    removed = registry.frames.sweep_leftovers()
    assert sorted(os.path.basename(p) for p in removed) == sorted(
        [".tmp-cut-0123", "unfinished", ".trash-evicted-ab12"]
    )
    assert present(tmp_path) == [fresh.name, "complete", "loaded"]
    assert sorted(p.name for p in loaded.iterdir()) == [
        "frame_000001.jpg",
        "frame_000002.jpg",
        "manifest.json",
    ]
    assert not trash.exists()
    registry.frames.max_bytes = 0  # the adopted folder is an ordinary released one now
    assert registry.frames.trim() == [str(complete)]
    assert present(tmp_path) == [fresh.name, "loaded"]
    # The server's own start (no worker, no extraction yet) takes fresh leftovers too.
    assert registry.frames.sweep_leftovers(0.0) == [str(fresh)]
    assert present(tmp_path) == ["loaded"]


def test_a_new_server_sweeps_at_start_up(tmp_path):
    frame_folder(tmp_path, "left-behind")
    backdate(tmp_path / "frames" / "left-behind")
    open_registry(tmp_path, 0)
    assert present(tmp_path) == []


def test_an_evicted_folder_leaves_no_rows_behind(tmp_path):
    registry = open_registry(tmp_path, 0)
    folder = frame_folder(tmp_path, "hashed")
    real = os.path.realpath(folder)
    dir_id = load(registry, folder)
    facts = [image_facts.FileFacts("frame_000001.jpg", FRAME_BYTES, 1, "ab", 1, 1, "JPEG")]
    image_facts.save(registry.store, real, facts)
    image_facts.save_unique(registry.store, real, "digest", 4, [])
    registry.unload(dir_id)
    with registry.store.read() as conn:
        for table in ("image_facts", "unique_lists", "released_frames", "index_digests"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
