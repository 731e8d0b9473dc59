"""Extracted video frames as a bounded cache: kept while loaded, the rest least recently used out.

A video's frames live in `<state_dir>/frames/<folder>/` (`video/framecache.py` names the
folders). While any loaded directory uses a folder it is never touched. When its directory is
unloaded (by a request, the deadline sweeper or the start-up sweep) the registry calls
`release`: the folder's size and the time are recorded in the `released_frames` table, and
the released folders beyond `IMAGE_SERVER_FRAMES_CACHE_MB` go, the least recently released
first (`0` removes them at once). A re-load of the same video meanwhile reuses the folder.

Why the unload time is "last used": a folder is served only while loaded, so the last use of
an unloaded folder is its unload. Recording it there keeps the image path free of writes.

One process at a time decides and deletes (an `flock` on `<state_dir>/.frames-cleanup.lock`).
A victim is renamed away inside a SQLite write transaction that first checks nothing loads it;
`Registry.load` checks the folder still exists inside its own write transaction, so a load
and an eviction of one folder never both win. The renamed `.trash-*` folder is removed after.
Nothing here imports Flask or the video code.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator

from imageserver.security.confinement import is_within
from imageserver.settings.config import Config
from imageserver.state import frame_rows
from imageserver.state import image_facts
from imageserver.state.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS released_frames (
    path TEXT PRIMARY KEY,
    released_at REAL NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
"""
FRAMES_FOLDER = "frames"
# Beside the frames folder, not in it: the folder holds frame folders only.
LOCK_NAME = ".frames-cleanup.lock"
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
# A complete folder has this file; one without it that no directory loads can never be reused.
MANIFEST = "manifest.json"
# In a worker's start (others may be extracting meanwhile), a temporary entry or an
# unrecorded folder untouched this long belongs to no running extraction: a running one
# writes a frame far more often than that. The server's own start, before any worker or
# extraction process exists, passes 0: everything temporary there is a crash's.
STALE_SECONDS = 600.0
MIB = 1024 * 1024

log = logging.getLogger(__name__)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the `released_frames` table (idempotent: every worker runs it)."""
    conn.executescript(SCHEMA)


def frames_root(state_dir: str) -> str:
    """Return the real path of the folder that holds every video's frame folders."""
    return os.path.realpath(os.path.join(state_dir, FRAMES_FOLDER))


def budget_bytes(megabytes: float) -> int:
    """Turn `IMAGE_SERVER_FRAMES_CACHE_MB` (a float, so tests can use tiny bounds) into bytes."""
    return max(0, int(megabytes * MIB))


def folder_bytes(path: str) -> int:
    """Return the bytes of the files directly in `path` (frame folders are flat); 0 if gone."""
    total = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(path) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


class FrameCache:
    """The frame folders under `root`: what is released, and what goes beyond the budget."""

    def __init__(self, store: Store, root: str, max_bytes: int, clock: Callable[[], float]):
        self.store = store
        self.root = root
        self.max_bytes = max_bytes
        self.clock = clock

    @classmethod
    def for_config(cls, store: Store, config: Config, clock: Callable[[], float]) -> FrameCache:
        """The frame cache of `config`'s state directory, bounded by its setting."""
        bound = budget_bytes(config.frames_cache_mb)
        return cls(store, frames_root(config.state_dir), bound, clock)

    def owns(self, real_path: str) -> bool:
        """Tell whether a directory's real path is a frame folder (one level under the root)."""
        return os.path.dirname(real_path.rstrip(os.sep)) == self.root

    def release(self, real_paths: Iterable[str]) -> list[str]:
        """Record that these folders' directories were unloaded, then apply the bound.

        Called after the unload committed; paths that are not frame folders are ignored.
        Returns the folders deleted.
        """
        owned = [path for path in real_paths if self.owns(path)]
        if not owned:
            return []
        sizes = [(path, folder_bytes(path)) for path in owned]  # disk work outside the lock
        now = self.clock()
        try:
            with self.store.write() as conn:
                _record(conn, ((path, now, size) for path, size in sizes))
            return self.trim()
        except (OSError, sqlite3.Error):  # the unload stands; the next release or start retries
            log.exception("could not release the frames of %s", ", ".join(owned))
            return []

    def trim(self) -> list[str]:
        """Delete released folders beyond the budget, least recently released first."""
        with self._exclusive():
            return self._trim_locked()

    def sweep_leftovers(self, stale_seconds: float = STALE_SECONDS) -> list[str]:
        """At start-up: remove what a crash left, adopt unrecorded folders, apply the bound.

        Removed: `.trash-*` folders (an eviction cut short), stale `.tmp-*` entries (a killed
        extraction's temporary folder or frame), and stale folders no directory loads that
        are not complete (no manifest: nothing can reuse them, and they would stand in the
        way of a new extraction). A complete folder nobody recorded (a crash between the
        unload and `release`, or an older version) is recorded with its modification time
        as its last use. "Stale" is untouched for `stale_seconds`. Returns the paths removed.
        """
        if not os.path.isdir(self.root):
            return []
        with self._exclusive():
            loaded = self._loaded()
            with self.store.read() as conn:
                recorded = {row[0] for row in conn.execute("SELECT path FROM released_frames")}
            removed, adopted = self._clear_leftovers(loaded, recorded, stale_seconds)
            with self.store.write() as conn:
                _record(conn, adopted)
                image_facts.forget_roots(conn, removed)
                for path in removed:
                    frame_rows.forget(conn, path)
            return removed + self._trim_locked()

    # -- helpers --------------------------------------------------------------------------

    def _clear_leftovers(
        self, loaded: list[str], recorded: set[str], stale_seconds: float
    ) -> tuple[list[str], list[tuple[str, float, int]]]:
        now = time.time()
        removed: list[str] = []
        adopted: list[tuple[str, float, int]] = []
        for entry in os.scandir(self.root):
            is_dir = entry.is_dir(follow_symlinks=False)
            temporary = entry.name.startswith(TEMP_PREFIX)
            if not (is_dir or temporary):
                continue  # not ours to judge
            age = now - _mtime(entry.path)
            if entry.name.startswith(TRASH_PREFIX) or (temporary and age >= stale_seconds):
                removed.append(_remove(entry.path, is_dir))
                continue
            if temporary:
                continue  # a running extraction's temporary folder
            _remove_stale_temps(entry.path, now - stale_seconds)
            if _in_use(entry.path, loaded) or age < stale_seconds:
                continue
            if not os.path.isfile(os.path.join(entry.path, MANIFEST)):
                log.info("removing %s: an unfinished frame folder nothing loads", entry.path)
                removed.append(_remove(entry.path, True))
            elif entry.path not in recorded:
                adopted.append((entry.path, now - age, folder_bytes(entry.path)))
        return removed, adopted

    def _trim_locked(self) -> list[str]:
        """Pick the victims and rename them away inside one write transaction, then delete."""
        trash: list[tuple[str, str]] = []
        with self.store.write() as conn:
            loaded = [row[0] for row in conn.execute("SELECT real_path FROM directories")]
            rows = conn.execute(
                "SELECT path, bytes FROM released_frames ORDER BY released_at DESC, path"
            ).fetchall()
            kept = 0
            for path, size in rows:
                if _in_use(path, loaded) or not os.path.isdir(path):
                    # Loaded again (recorded anew at its next unload), or already gone.
                    conn.execute("DELETE FROM released_frames WHERE path = ?", (path,))
                elif kept + size <= self.max_bytes:
                    kept += size
                else:
                    trash.append((path, self._detach(path)))
                    conn.execute("DELETE FROM released_frames WHERE path = ?", (path,))
                    image_facts.forget_roots(conn, [path])
                    frame_rows.forget(conn, path)
        for path, moved in trash:
            log.info("removing the frames of %s: beyond IMAGE_SERVER_FRAMES_CACHE_MB", path)
            shutil.rmtree(moved, ignore_errors=True)
        return [path for path, _ in trash]

    def _detach(self, path: str) -> str:
        """Rename a victim to a `.trash-*` sibling, so no load can pick it up any more."""
        moved = os.path.join(
            self.root, f"{TRASH_PREFIX}{os.path.basename(path)}-{secrets.token_hex(4)}"
        )
        os.rename(path, moved)
        return moved

    def _loaded(self) -> list[str]:
        with self.store.read() as conn:
            return [row[0] for row in conn.execute("SELECT real_path FROM directories")]

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One process at a time decides and deletes (the lock file itself stays)."""
        lock = os.path.join(os.path.dirname(self.root), LOCK_NAME)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _record(conn: sqlite3.Connection, rows: Iterable[tuple[str, float, int]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO released_frames (path, released_at, bytes) VALUES (?, ?, ?)",
        rows,
    )


def _in_use(path: str, loaded: list[str]) -> bool:
    """A folder is in use when a loaded directory is it, lies inside it or contains it."""
    return any(is_within(path, real) or is_within(real, path) for real in loaded)


def _mtime(path: str) -> float:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return time.time()


def _remove(path: str, is_dir: bool) -> str:
    if is_dir:
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return path


def _remove_stale_temps(folder: str, cutoff: float) -> None:
    """Delete a crashed writer's `.tmp-*` files in a frame folder: never a frame."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX) and _mtime(entry.path) <= cutoff:
                _remove(entry.path, entry.is_dir(follow_symlinks=False))
