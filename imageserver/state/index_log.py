"""The log of a live folder's index changes, so caches apply a batch instead of re-reading.

A live folder (`imageserver.watch`) changes a few names at a time in a directory that may
index 100,000. Each batch moves the directory's `delta_seq` and records its names here
(`present` 1 = added or changed, 0 = removed), keyed by the directory's `load_seq`, so a
re-load starts a new log. A process whose snapshot knows `delta_seq` D reads the changes
after D and applies them to its names; if the log no longer reaches back to D (it keeps the
last `KEEP_BATCHES` batches), the process re-reads the names in full, as after a load.
Pure SQL on a connection the caller holds in a transaction; nothing here imports Flask.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

KEEP_BATCHES = 1000

Change = tuple[str, bool]  # (name, present)


def record(
    conn: sqlite3.Connection,
    dir_id: str,
    load_seq: int,
    delta_seq: int,
    changes: Iterable[Change],
) -> None:
    """Log one batch and forget what no cache can need any more (inside a write)."""
    conn.executemany(
        "INSERT OR REPLACE INTO index_changes (dir_id, load_seq, delta_seq, name, present)"
        " VALUES (?, ?, ?, ?, ?)",
        ((dir_id, load_seq, delta_seq, name, int(present)) for name, present in changes),
    )
    conn.execute(
        "DELETE FROM index_changes WHERE dir_id = ? AND (load_seq != ? OR delta_seq <= ?)",
        (dir_id, load_seq, delta_seq - KEEP_BATCHES),
    )


def since(
    conn: sqlite3.Connection, dir_id: str, load_seq: int, delta_seq: int
) -> list[Change] | None:
    """Return the changes after `delta_seq` in order, or None when the log is too short."""
    rows = conn.execute(
        "SELECT delta_seq, name, present FROM index_changes"
        " WHERE dir_id = ? AND load_seq = ? AND delta_seq > ? ORDER BY delta_seq",
        (dir_id, load_seq, delta_seq),
    ).fetchall()
    if not rows or rows[0][0] != delta_seq + 1:
        return None
    return [(row[1], bool(row[2])) for row in rows]


def forget_unloaded(conn: sqlite3.Connection) -> None:
    """Drop the logs of directories that are no longer loaded (inside a write)."""
    conn.execute("DELETE FROM index_changes WHERE dir_id NOT IN (SELECT id FROM directories)")
