"""Loaded directories, the current directory and their deadlines: the shared state's writes.

Everything lives in the SQLite `Store`, so every worker sees the same state and a restart loses
nothing. Reads apply expired deadlines first (a directory past its deadline is never served,
even if no sweeper has run yet). Index reads: `state/index_reads.py`. No Flask here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from imageserver.settings.config import Config
from imageserver.state import frame_cache
from imageserver.state import frame_rows
from imageserver.state import image_facts
from imageserver.state import inboxes
from imageserver.state import timers
from imageserver.state.directory import Directory
from imageserver.state.directory import current_id
from imageserver.state.directory import delete_directory
from imageserver.state.directory import directory_id
from imageserver.state.directory import meta
from imageserver.state.directory import next_load_seq
from imageserver.state.directory import set_meta
from imageserver.state.frame_cache import FrameCache
from imageserver.state.index_reads import IndexReads
from imageserver.state.indexer import ImageEntry
from imageserver.state.indexer import scan_directory
from imageserver.state.store import Store

__all__ = ["Directory", "Registry", "directory_id"]


class Registry(IndexReads):
    """The shared state of the server: what is loaded, what is current, when it expires."""

    def __init__(
        self,
        store: Store,
        clock: timers.Clock,
        default_timeout_minutes: int,
        idle_mode: bool = False,
        inboxes_root: str | None = None,
        frames: FrameCache | None = None,
    ) -> None:
        self.store = store
        # The folder of the upload inboxes: an unloaded inbox's folder is deleted with it.
        self.inboxes_root = inboxes_root
        # Video frame folders: an unloaded video's frames are released to this bounded cache.
        self.frames = frames
        self.clock = clock
        self._configured_default = default_timeout_minutes
        # IMAGE_SERVER_TIMEOUT_MODE=idle: an image access slides the directory's deadline.
        self.idle_mode = idle_mode
        # Called after a write armed a deadline, so a sweeper waiting longer wakes sooner.
        self.on_deadline_armed: Callable[[], None] = lambda: None

    @classmethod
    def open(cls, config: Config, clock: timers.Clock) -> Registry:
        """Return the registry of `config`'s state database (not yet initialised)."""
        store = Store(config.database_path)
        return cls(
            store,
            clock,
            config.default_timeout_minutes,
            idle_mode=config.timeout_mode == "idle",
            inboxes_root=inboxes.inboxes_root(config.state_dir),
            frames=FrameCache.for_config(store, config, clock),
        )

    # -- start-up -------------------------------------------------------------------------

    def initialise(self, first: bool = False) -> None:
        """Create the schema, adopt the configured default timeout and apply stale deadlines.

        The default timeout changed at run time (`POST /timeout`) survives a restart, unless
        the configured `IMAGE_SERVER_TIMEOUT` itself changed since: then the new setting wins.
        `first`: the server's own start, before any worker: a crash's leftovers all go.
        """
        self.store.initialise()
        inboxes.create_schema(self.store.connection())
        image_facts.create_schema(self.store.connection())
        frame_rows.create_schema(self.store.connection())
        frame_cache.create_schema(self.store.connection())
        configured = str(self._configured_default)
        with self.store.write() as conn:
            if meta(conn, "default_timeout_configured") != configured:
                set_meta(conn, "default_timeout_configured", configured)
                set_meta(conn, "default_timeout", configured)
        self.sweep()
        loaded = {directory.real_path for directory in self.all()}
        inboxes.remove_orphans(self.inboxes_root, loaded)
        if self.frames is not None:
            self.frames.sweep_leftovers(0.0 if first else frame_cache.STALE_SECONDS)

    # -- reads ----------------------------------------------------------------------------

    def current(self) -> Directory | None:
        """Return the current directory (the one `/images/` serves), or None."""
        return self._live(lambda conn: current_id(conn))

    def get(self, dir_id: str) -> Directory | None:
        """Return a loaded directory by id, or None."""
        return self._live(lambda conn: dir_id)

    def current_id(self) -> str | None:
        """Return the id of the current directory, or None."""
        current = self.current()
        return current.id if current else None

    def all(self) -> list[Directory]:
        """Return every loaded directory, oldest load first."""
        self._sweep_if_due()
        with self.store.read() as conn:
            rows = conn.execute("SELECT * FROM directories ORDER BY load_seq").fetchall()
        return [Directory.from_row(row) for row in rows]

    def default_timeout(self) -> int:
        """Return the server's default timeout in minutes (0 = off)."""
        with self.store.read() as conn:
            return int(meta(conn, "default_timeout") or 0)

    # -- writes ---------------------------------------------------------------------------

    def load(
        self,
        path: str,
        real_path: str,
        recursive: bool,
        timeout_minutes: int | None,
        watch: bool = False,
        make_current: bool = True,
        dir_id: str | None = None,
        entries: list[ImageEntry] | None = None,
    ) -> Directory:
        """Index a directory, make it current and arm its deadline (re-loading re-arms).

        `timeout_minutes` None means "use the server default". With `watch`, the server's
        watcher (`imageserver.watch`) keeps the index following the folder. Without
        `make_current` (an upload inbox) the current directory stays what it was. `dir_id`
        replaces the id derived from `real_path` (a video's frames are named after the video);
        `entries` replaces the scan (a video's frames: only those recorded complete).

        :raise OSError: the directory cannot be listed.
        """
        if entries is None:  # outside the lock: disk work is slow
            entries = scan_directory(real_path, recursive)
        digest = image_facts.digest_of(entries)  # entries are (name, size, mtime_ns), sorted
        dir_id = dir_id or directory_id(real_path)
        now = self.clock()
        with self.store.write() as conn:
            # Under this lock the frame cache renames evicted folders away: never load one.
            if not os.path.isdir(real_path):
                raise FileNotFoundError(real_path)
            if timeout_minutes is None:
                timeout_minutes = int(meta(conn, "default_timeout") or 0)
            # A re-load of files the index already holds, exactly, keeps its rows: deleting
            # and writing 100,000 equal rows again is most of a re-load's time.
            unchanged = image_facts.recorded_digest(conn, dir_id) == digest
            load_seq = next_load_seq(conn)
            if not unchanged:
                conn.execute("DELETE FROM images WHERE dir_id = ?", (dir_id,))
            conn.execute(
                "INSERT OR REPLACE INTO directories (id, path, real_path, recursive, image_count,"
                " load_time, timeout_minutes, deadline, load_seq, watch)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (dir_id, path, real_path, int(recursive), len(entries), now, load_seq, int(watch)),
            )
            if not unchanged:
                conn.executemany(
                    "INSERT INTO images (dir_id, name, size, mtime_ns) VALUES (?, ?, ?, ?)",
                    map((dir_id,).__add__, entries),  # (dir_id, name, size, mtime_ns), in C
                )
            image_facts.remember_load_digest(conn, dir_id, load_seq, digest)
            timers.arm(conn, dir_id, timeout_minutes, now)
            if make_current:
                set_meta(conn, "current", dir_id)
            row = conn.execute("SELECT * FROM directories WHERE id = ?", (dir_id,)).fetchone()
        self.on_deadline_armed()
        return Directory.from_row(row)

    def unload(self, dir_id: str) -> bool:
        """Unload one directory; return False when it was not loaded."""
        with self.store.write() as conn:
            removed = self._delete(conn, [dir_id])
        self._released(removed)
        return bool(removed)

    def unload_current(self) -> bool:
        """Unload the current directory; return False when nothing is current."""
        self._sweep_if_due()
        with self.store.write() as conn:
            dir_id = current_id(conn)
            removed = self._delete(conn, [dir_id]) if dir_id else []
        self._released(removed)
        return bool(removed)

    def set_default_timeout(self, minutes: int) -> Directory | None:
        """Set the server default and re-arm the current directory's deadline to now + minutes.

        Returns the current directory after the change, or None when nothing is current.
        """
        self._sweep_if_due()
        now = self.clock()
        with self.store.write() as conn:
            set_meta(conn, "default_timeout", str(minutes))
            dir_id = current_id(conn)
            if not dir_id:
                return None
            timers.arm(conn, dir_id, minutes, now)
            row = conn.execute("SELECT * FROM directories WHERE id = ?", (dir_id,)).fetchone()
        self.on_deadline_armed()
        return Directory.from_row(row)

    def slide_due(self, directory: Directory) -> bool:
        """Tell whether an access now would move an idle-mode deadline enough to write it."""
        if directory.deadline is None or directory.timeout_minutes is None:
            return False
        slid = self.clock() + directory.timeout_minutes * 60
        return slid - directory.deadline >= timers.IDLE_SLIDE_MIN_SECONDS

    def slide_wanted(self, directory: Directory) -> bool:
        """The one rule of idle mode: tell whether an image access must slide the deadline."""
        return self.idle_mode and self.slide_due(directory)

    def note_access(self, directory: Directory) -> None:
        """Record an image access: in idle mode the deadline slides (a SQLite write)."""
        if self.slide_wanted(directory):
            self.touch(directory)

    def touch(self, directory: Directory) -> None:
        """Slide a deadline to now + its timeout, when that moves it enough to write."""
        if not self.slide_due(directory):
            return
        with self.store.write() as conn:
            timers.slide(conn, directory.id, self.clock())

    def sweep(self) -> float | None:
        """Unload every directory past its deadline; return the next pending deadline."""
        now = self.clock()
        with self.store.read() as conn:
            expired = timers.expired_ids(conn, now)
            upcoming = timers.next_deadline(conn)
        if not expired:
            return upcoming  # nothing to do: no write, so caches keyed on generation stay warm
        with self.store.write() as conn:
            # Re-read inside the write lock: a re-load may have re-armed one of them meanwhile.
            removed = self._delete(conn, timers.expired_ids(conn, now))
            upcoming = timers.next_deadline(conn)
        self._released(removed)
        return upcoming

    # -- helpers --------------------------------------------------------------------------

    def _released(self, real_paths: list[str]) -> None:
        """After an unload committed: delete inbox folders, release video frames to the cache."""
        inboxes.remove_owned(self.inboxes_root, real_paths, self.store)
        if self.frames is not None:
            self.frames.release(real_paths)

    @staticmethod
    def _delete(conn: sqlite3.Connection, dir_ids: list[str]) -> list[str]:
        """Delete directories (inside a write transaction); return the real paths deleted.

        The caller removes the inbox folders among them once the transaction has committed,
        so a rolled-back unload never loses files.
        """
        removed: list[str] = []
        for dir_id in dir_ids:
            row = conn.execute("SELECT real_path FROM directories WHERE id = ?", (dir_id,))
            found = row.fetchone()
            if delete_directory(conn, dir_id) and found is not None:
                inboxes.forget(conn, dir_id)
                image_facts.forget_directory(conn, dir_id)
                removed.append(found[0])
        return removed

    def _live(self, pick_id) -> Directory | None:
        with self.store.read() as conn:
            dir_id = pick_id(conn)
            row = (
                conn.execute("SELECT * FROM directories WHERE id = ?", (dir_id,)).fetchone()
                if dir_id
                else None
            )
        if row is None:
            return None
        directory = Directory.from_row(row)
        if directory.deadline is not None and directory.deadline <= self.clock():
            self.sweep()
            return None
        return directory

    def _sweep_if_due(self) -> None:
        with self.store.read() as conn:
            upcoming = timers.next_deadline(conn)
        if upcoming is not None and upcoming <= self.clock():
            self.sweep()
