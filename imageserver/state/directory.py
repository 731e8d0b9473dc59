"""A loaded directory as stored, its stable id, and the SQL steps shared by the state's writers.

Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass

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


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    """Return a value of the `meta` table, or None."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    """Write a value of the `meta` table (inside a write transaction)."""
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def next_load_seq(conn: sqlite3.Connection) -> int:
    """Take the next index sequence number (inside a write transaction)."""
    load_seq = int(meta(conn, "load_seq") or 0) + 1
    set_meta(conn, "load_seq", str(load_seq))
    return load_seq


def current_id(conn: sqlite3.Connection) -> str | None:
    """Return the id of the current directory, or None."""
    return meta(conn, "current")


def delete_directory(conn: sqlite3.Connection, dir_id: str) -> bool:
    """Delete a directory and its index; return False when it was not loaded."""
    deleted = conn.execute("DELETE FROM directories WHERE id = ?", (dir_id,)).rowcount > 0
    conn.execute("DELETE FROM images WHERE dir_id = ?", (dir_id,))
    if current_id(conn) == dir_id:
        set_meta(conn, "current", None)
    return deleted
