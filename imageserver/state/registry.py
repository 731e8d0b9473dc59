"""Loaded directories, their stable ids, the current directory and the image index.

Everything lives in the SQLite `Store`, so every worker sees the same state and a restart loses
nothing. Reads apply expired deadlines first (a directory past its deadline is never served,
even if no sweeper has run yet). Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from imageserver.state import index_log as index_changes
from imageserver.state import timers
from imageserver.state.index_log import Change
from imageserver.state.indexer import ImageEntry
from imageserver.state.indexer import scan_directory
from imageserver.state.store import Store

T = TypeVar("T")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


def directory_id(real_path: str) -> str:
    """Derive the stable id of a directory from its real path: readable slug + short hash.

    The same directory always gets the same id, across reloads and restarts.
    """
    base = real_path.rstrip("/").rsplit("/", 1)[-1]
    slug = _SLUG_UNSAFE.sub("-", base.lower()).strip("-")[:40].strip("-") or "root"
    digest = hashlib.sha256(real_path.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{slug}-{digest}"


@dataclass(frozen=True)
class Directory:
    """One loaded directory as stored."""

    id: str
    path: str
    real_path: str
    recursive: bool
    image_count: int
    load_time: float
    timeout_minutes: int | None
    deadline: float | None
    load_seq: int  # moves with each (re-)load: caches re-read the names
    watch: bool = False
    # How the live folder is followed, once the watcher has set it up: 'inotify' or 'poll'.
    watch_mode: str | None = None
    # Moves with each batch of a live folder's changes: caches apply the logged changes.
    delta_seq: int = 0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Directory:
        return cls(
            id=row["id"],
            path=row["path"],
            real_path=row["real_path"],
            recursive=bool(row["recursive"]),
            image_count=row["image_count"],
            load_time=row["load_time"],
            timeout_minutes=row["timeout_minutes"],
            deadline=row["deadline"],
            load_seq=row["load_seq"],
            watch=bool(row["watch"]),
            watch_mode=row["watch_mode"],
            delta_seq=row["delta_seq"],
        )


class Registry:
    """The shared state of the server: what is loaded, what is current, when it expires."""

    def __init__(self, store: Store, clock: timers.Clock, default_timeout_minutes: int) -> None:
        self.store = store
        self.clock = clock
        self._configured_default = default_timeout_minutes

    # -- start-up -------------------------------------------------------------------------

    def initialise(self) -> None:
        """Create the schema, adopt the configured default timeout and apply stale deadlines.

        The default timeout changed at run time (`POST /timeout`) survives a restart, unless
        the configured `IMAGE_SERVER_TIMEOUT` itself changed since: then the new setting wins.
        """
        self.store.initialise()
        configured = str(self._configured_default)
        with self.store.write() as conn:
            if _meta(conn, "default_timeout_configured") != configured:
                _set_meta(conn, "default_timeout_configured", configured)
                _set_meta(conn, "default_timeout", configured)
        self.sweep()

    # -- reads ----------------------------------------------------------------------------

    def current(self) -> Directory | None:
        """Return the current directory (the one `/images/` serves), or None."""
        return self._live(lambda conn: _current_id(conn))

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

    def counts(self) -> tuple[int, int]:
        """Return how many directories are loaded and how many images they index."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(image_count), 0) FROM directories"
            ).fetchone()
        return int(row[0]), int(row[1])

    def image_names(self, dir_id: str) -> list[str]:
        """Return the indexed names of a directory, sorted in code-point order."""
        rows = self.store.connection().execute(
            "SELECT name FROM images WHERE dir_id = ? ORDER BY name", (dir_id,)
        )
        return [row[0] for row in rows]

    def image_page(self, dir_id: str, offset: int, limit: int) -> list[ImageEntry]:
        """Return one page of a directory's index, sorted by name."""
        rows = self.store.connection().execute(
            "SELECT name, size, mtime_ns FROM images WHERE dir_id = ? "
            "ORDER BY name LIMIT ? OFFSET ?",
            (dir_id, limit, offset),
        )
        return [ImageEntry(*row) for row in rows]

    def find_image(self, dir_id: str, name: str) -> ImageEntry | None:
        """Return an indexed image by name, or None."""
        row = (
            self.store.connection()
            .execute(
                "SELECT name, size, mtime_ns FROM images WHERE dir_id = ? AND name = ?",
                (dir_id, name),
            )
            .fetchone()
        )
        return ImageEntry(*row) if row else None

    def served_state(
        self, known: Mapping[str, tuple[int, int]], build_names: Callable[[Iterator[str]], T]
    ) -> tuple[str | None, list[Directory], dict[str, T], dict[str, list[Change]]]:
        """Return the current id, every directory as stored, new names and name changes.

        `known` maps directory ids to the `(load_seq, delta_seq)` a cache holds names for.
        A directory loaded since has its names streamed into `build_names` (so a compact
        structure can be built without a list of 100,000 strings); a live folder that only
        changed by batches since has the logged changes instead (`index_changes.since`),
        unless the log no longer reaches back. One read transaction, so all four agree.
        Unlike the other reads it applies no deadline: its caller (the image fast path)
        checks deadlines on every request.
        """
        names: dict[str, T] = {}
        changes: dict[str, list[Change]] = {}
        with self.store.read() as conn:
            current = _current_id(conn)
            directories = [
                Directory.from_row(row) for row in conn.execute("SELECT * FROM directories")
            ]
            for d in directories:
                seen = known.get(d.id)
                if seen == (d.load_seq, d.delta_seq):
                    continue
                logged = _logged_changes(conn, d, seen)
                if logged is not None:
                    changes[d.id] = logged
                    continue
                query = "SELECT name FROM images WHERE dir_id = ?"
                names[d.id] = build_names(row[0] for row in conn.execute(query, (d.id,)))
        return current, directories, names, changes

    def default_timeout(self) -> int:
        """Return the server's default timeout in minutes (0 = off)."""
        with self.store.read() as conn:
            return int(_meta(conn, "default_timeout") or 0)

    # -- writes ---------------------------------------------------------------------------

    def load(
        self,
        path: str,
        real_path: str,
        recursive: bool,
        timeout_minutes: int | None,
        watch: bool = False,
    ) -> Directory:
        """Index a directory, make it current and arm its deadline (re-loading re-arms).

        `timeout_minutes` None means "use the server default". With `watch`, the server's
        watcher (`imageserver.watch`) keeps the index following the folder.

        :raise OSError: the directory cannot be listed.
        """
        entries = scan_directory(real_path, recursive)  # outside the lock: disk work is slow
        dir_id = directory_id(real_path)
        now = self.clock()
        with self.store.write() as conn:
            if timeout_minutes is None:
                timeout_minutes = int(_meta(conn, "default_timeout") or 0)
            load_seq = next_load_seq(conn)
            conn.execute("DELETE FROM images WHERE dir_id = ?", (dir_id,))
            conn.execute(
                "INSERT OR REPLACE INTO directories (id, path, real_path, recursive, image_count,"
                " load_time, timeout_minutes, deadline, load_seq, watch)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (dir_id, path, real_path, int(recursive), len(entries), now, load_seq, int(watch)),
            )
            conn.executemany(
                "INSERT INTO images (dir_id, name, size, mtime_ns) VALUES (?, ?, ?, ?)",
                ((dir_id, e.name, e.size, e.mtime_ns) for e in entries),
            )
            timers.arm(conn, dir_id, timeout_minutes, now)
            _set_meta(conn, "current", dir_id)
            row = conn.execute("SELECT * FROM directories WHERE id = ?", (dir_id,)).fetchone()
        return Directory.from_row(row)

    def unload(self, dir_id: str) -> bool:
        """Unload one directory; return False when it was not loaded."""
        with self.store.write() as conn:
            return _delete(conn, dir_id)

    def unload_current(self) -> bool:
        """Unload the current directory; return False when nothing is current."""
        self._sweep_if_due()
        with self.store.write() as conn:
            dir_id = _current_id(conn)
            return bool(dir_id) and _delete(conn, dir_id)

    def set_default_timeout(self, minutes: int) -> Directory | None:
        """Set the server default and re-arm the current directory's deadline to now + minutes.

        Returns the current directory after the change, or None when nothing is current.
        """
        self._sweep_if_due()
        now = self.clock()
        with self.store.write() as conn:
            _set_meta(conn, "default_timeout", str(minutes))
            dir_id = _current_id(conn)
            if not dir_id:
                return None
            timers.arm(conn, dir_id, minutes, now)
            row = conn.execute("SELECT * FROM directories WHERE id = ?", (dir_id,)).fetchone()
        return Directory.from_row(row)

    def slide_due(self, directory: Directory) -> bool:
        """Tell whether an access now would move an idle-mode deadline enough to write it."""
        if directory.deadline is None or directory.timeout_minutes is None:
            return False
        slid = self.clock() + directory.timeout_minutes * 60
        return slid - directory.deadline >= timers.IDLE_SLIDE_MIN_SECONDS

    def touch(self, directory: Directory) -> None:
        """Slide an idle-mode deadline after an image access."""
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
            for dir_id in timers.expired_ids(conn, now):
                _delete(conn, dir_id)
            return timers.next_deadline(conn)

    # -- helpers --------------------------------------------------------------------------

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


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _logged_changes(
    conn: sqlite3.Connection, directory: Directory, seen: tuple[int, int] | None
) -> list[Change] | None:
    if seen is None or seen[0] != directory.load_seq:
        return None  # a new load: the names are read in full
    return index_changes.since(conn, directory.id, directory.load_seq, seen[1])


def next_load_seq(conn: sqlite3.Connection) -> int:
    """Take the next index sequence number (inside a write transaction)."""
    load_seq = int(_meta(conn, "load_seq") or 0) + 1
    _set_meta(conn, "load_seq", str(load_seq))
    return load_seq


def _current_id(conn: sqlite3.Connection) -> str | None:
    return _meta(conn, "current")


def _delete(conn: sqlite3.Connection, dir_id: str) -> bool:
    deleted = conn.execute("DELETE FROM directories WHERE id = ?", (dir_id,)).rowcount > 0
    conn.execute("DELETE FROM images WHERE dir_id = ?", (dir_id,))
    if _current_id(conn) == dir_id:
        _set_meta(conn, "current", None)
    return deleted
