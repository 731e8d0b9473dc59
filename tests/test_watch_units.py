"""Live-folder parts without a server: names, fallbacks, the schema upgrade, the election."""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from imageserver.hotpath.served_index import ServedIndex
from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError
from imageserver.state import index_log as index_changes
from imageserver.state.indexer import ImageEntry
from imageserver.state.registry import Registry
from imageserver.state.store import Store
from imageserver.watch import leader
from imageserver.watch import sync
from imageserver.watch.names import is_temporary_name
from imageserver.watch.watcher import Watcher
from tests.support.live import jpeg_bytes
from tests.support.live import write_file
from tests.support.waiting import wait_until


@pytest.mark.parametrize(
    ("name", "temporary"),
    [
        ("frame_000001.jpg", False),
        (".cover.png", False),  # a hidden image written in place is served (docs/API.md#images)
        ("frame.jpg.part", True),
        ("frame.jpg.tmp", True),  # ffmpeg -atomic_writing
        ("FRAME.JPG.TMP", True),
        ("frame.jpg.crdownload", True),
        (".frame.jpg.Ab12Cd", False),  # rsync: not an image extension, so never indexed anyway
        ("frame.tmp.jpg", True),
        (".~frame.jpg", True),
        (".#frame.jpg", True),
        ("frame.jpg~", True),
        ("template.jpg", False),
    ],
)
def test_temporary_names_of_common_writers(name: str, temporary: bool) -> None:
    assert is_temporary_name(name) is temporary


def registry_at(tmp_path: Path) -> Registry:
    registry = Registry(Store(str(tmp_path / "state" / "state.sqlite3")), time.time, 0)
    registry.initialise()
    return registry


def run_watcher(watcher: Watcher) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def names(registry: Registry, dir_id: str) -> list[str]:
    return registry.image_names(dir_id)


def test_without_inotify_the_watcher_polls_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def no_inotify():
        raise OSError(errno.EMFILE, "Too many open files")

    folder = tmp_path / "frames"
    folder.mkdir()
    registry = registry_at(tmp_path)
    dir_id = registry.load(str(folder), str(folder), False, None, watch=True).id
    caplog.set_level(logging.WARNING, logger="imageserver.watch")
    stop, thread = run_watcher(Watcher(registry.store, 0.1, inotify_factory=no_inotify))
    try:
        write_file(folder / "a.jpg", jpeg_bytes(1))
        wait_until(lambda: names(registry, dir_id) == ["a.jpg"], 3, message="a.jpg indexed")
        assert registry.get(dir_id).watch_mode == "poll"
    finally:
        stop.set()
        thread.join(5)
    assert "inotify unavailable" in caplog.text and "polling every 0.1s" in caplog.text


def test_at_the_watch_limit_that_directory_is_polled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inotify_simple import INotify

    def refuse(self, path, mask):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(INotify, "add_watch", refuse)
    folder = tmp_path / "frames"
    folder.mkdir()
    registry = registry_at(tmp_path)
    dir_id = registry.load(str(folder), str(folder), False, None, watch=True).id
    caplog.set_level(logging.WARNING, logger="imageserver.watch")
    stop, thread = run_watcher(Watcher(registry.store, 0.1))
    try:
        write_file(folder / "a.jpg", jpeg_bytes(1))
        wait_until(lambda: names(registry, dir_id) == ["a.jpg"], 3, message="a.jpg indexed")
        assert registry.get(dir_id).watch_mode == "poll"
    finally:
        stop.set()
        thread.join(5)
    assert "inotify watch limit reached" in caplog.text


def test_an_old_database_gains_the_watch_columns_and_keeps_its_directories(
    tmp_path: Path,
) -> None:
    database = tmp_path / "state.sqlite3"
    with sqlite3.connect(database) as conn:  # the schema before issue 16
        conn.executescript(
            "CREATE TABLE directories (id TEXT PRIMARY KEY, path TEXT NOT NULL,"
            " real_path TEXT NOT NULL, recursive INTEGER NOT NULL DEFAULT 0,"
            " image_count INTEGER NOT NULL, load_time REAL NOT NULL, timeout_minutes INTEGER,"
            " deadline REAL, load_seq INTEGER NOT NULL);"
            "INSERT INTO directories VALUES ('old-1', '/x', '/x', 0, 0, 1.0, NULL, NULL, 1);"
        )
    registry = Registry(Store(str(database)), time.time, 0)
    registry.initialise()
    registry.initialise()  # a second worker starting: nothing to add twice
    old = registry.get("old-1")
    assert old is not None and old.watch is False and old.watch_mode is None
    assert sync.watched_directories(registry.store) == {}


def test_one_worker_at_a_time_holds_the_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = str(tmp_path / "watch.lock")
    started: list[str] = []
    refused: list[str] = []  # the lock attempts that found it taken
    try_lock = leader._try_lock

    def observed_try_lock(path: str) -> int | None:
        fd = try_lock(path)
        if fd is None:
            refused.append(path)
        return fd

    monkeypatch.setattr(leader, "_try_lock", observed_try_lock)

    class Idle:
        def __init__(self, label: str) -> None:
            self.label = label

        def run(self, stop: threading.Event) -> None:
            started.append(self.label)
            stop.wait()

    first = leader.WatchLeader(lock, lambda: Idle("first"))
    second = leader.WatchLeader(lock, lambda: Idle("second"))
    first.start()
    wait_until(first.leading.is_set, 2, message="the first to lead")
    second.start()
    wait_until(lambda: refused, message="the second to find the lock taken")
    assert started == ["first"] and not second.leading.is_set()
    first.stop()  # like its process dying: the lock is released
    wait_until(second.leading.is_set, leader.RETRY_SECONDS + 2, message="the second to lead")
    assert started == ["first", "second"]
    second.stop()


def test_watch_settings_parse_and_refuse_bad_values() -> None:
    config = Config.from_env(
        {"IMAGE_SERVER_WATCH_POLL_S": "0.5", "IMAGE_SERVER_WATCH_MODE": "POLL"}, env_file=None
    )
    assert config.watch_poll_seconds == 0.5 and config.watch_mode == "poll"
    for env in ({"IMAGE_SERVER_WATCH_POLL_S": "0"}, {"IMAGE_SERVER_WATCH_MODE": "fanotify"}):
        with pytest.raises(ConfigError, match="IMAGE_SERVER_WATCH_"):
            Config.from_env(env, env_file=None)


def live_registry(tmp_path: Path, count: int) -> tuple[Registry, str]:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(count):
        (folder / f"f{i:04d}.jpg").touch()
    registry = registry_at(tmp_path)
    return registry, registry.load(str(folder), str(folder), False, None, watch=True).id


def batch_of(**names: bool) -> sync.Batch:
    batch = sync.Batch()
    for name, present in names.items():
        batch.put(f"{name}.jpg", ImageEntry(f"{name}.jpg", 1, 1) if present else None)
    return batch


def test_a_snapshot_applies_a_batch_instead_of_rereading_the_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, dir_id = live_registry(tmp_path, 50)
    index = ServedIndex(registry)
    assert len(index.snapshot().by_id[dir_id].names) == 50
    answers = []
    served_state = registry.served_state

    def spy(known, build):
        answers.append(served_state(known, build))
        return answers[-1]

    monkeypatch.setattr(registry, "served_state", spy)
    sync.apply_batch(registry.store, dir_id, batch_of(new=True, f0000=False))
    names = index.snapshot().by_id[dir_id].names
    _, _, fresh, changes = answers[-1]
    assert fresh == {} and sorted(changes[dir_id]) == [("f0000.jpg", False), ("new.jpg", True)]
    assert "new.jpg" in names and "f0000.jpg" not in names and len(names) == 50


def test_a_snapshot_behind_the_kept_log_reads_the_names_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_changes, "KEEP_BATCHES", 3)
    registry, dir_id = live_registry(tmp_path, 5)
    index = ServedIndex(registry)
    index.snapshot()
    for i in range(6):
        sync.apply_batch(registry.store, dir_id, batch_of(**{f"n{i}": True}))
    names = index.snapshot().by_id[dir_id].names
    assert len(names) == 11 and all(f"n{i}.jpg" in names for i in range(6))
