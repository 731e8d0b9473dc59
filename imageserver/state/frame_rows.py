"""A video's frames as they are written: their times, and adding them to a loaded index.

The extraction process (`imageserver.jobs.video`) writes each frame complete (temp file +
rename), then records it here: its time in `frame_times` (keyed by the frames folder, so a
re-load and a restart keep them) and its row in the directory's index, in one transaction
that moves the directory's `delta_seq` and logs the names (`index_log.py`), like a live
folder's batch. Every worker's snapshot (`hotpath/served_index.py`) applies the batch on its
next request, so a frame is served and listed as soon as it is recorded, and a name that is
listed always names a whole file. Nothing here imports Flask.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from collections.abc import Sequence

from imageserver.state import index_log
from imageserver.state.indexer import ImageEntry
from imageserver.state.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS frame_times (
    root TEXT NOT NULL,
    name TEXT NOT NULL,
    t REAL NOT NULL,
    PRIMARY KEY (root, name)
) WITHOUT ROWID
"""

Frame = tuple[ImageEntry, float]  # the file as written, and its time in the video


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table when missing (every worker and extraction process may call it)."""
    conn.execute(SCHEMA)


def times(store: Store, root: str) -> dict[str, float]:
    """Return name -> seconds of every frame recorded under the frames folder `root`."""
    rows = store.connection().execute(
        "SELECT name, t FROM frame_times WHERE root = ? ORDER BY name", (root,)
    )
    return {row[0]: row[1] for row in rows}


def import_times(store: Store, root: str, frames: dict[str, float]) -> None:
    """Record the times of a finished folder made before they were stored here."""
    with store.write() as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO frame_times (root, name, t) VALUES (?, ?, ?)",
            ((root, name, t) for name, t in frames.items()),
        )


def append(conn: sqlite3.Connection, dir_id: str, root: str, frames: Sequence[Frame]) -> bool:
    """Record written frames and add them to the index of `dir_id` (inside a write).

    Returns False when `dir_id` no longer serves `root` (unloaded): the times are kept for a
    later load, the index is left alone.
    """
    conn.executemany(
        "INSERT OR REPLACE INTO frame_times (root, name, t) VALUES (?, ?, ?)",
        ((root, entry.name, t) for entry, t in frames),
    )
    return add_to_index(conn, dir_id, root, [entry for entry, _ in frames])


def add_to_index(
    conn: sqlite3.Connection, dir_id: str, root: str, entries: Iterable[ImageEntry]
) -> bool:
    """Add (or update) index rows of `dir_id` as one logged batch; False if it is unloaded."""
    row = conn.execute(
        "SELECT load_seq, delta_seq FROM directories WHERE id = ? AND real_path = ?",
        (dir_id, root),
    ).fetchone()
    if row is None:
        return False
    load_seq, delta_seq = row[0], row[1] + 1
    grown, changes = 0, []
    for entry in entries:
        updated = conn.execute(
            "UPDATE images SET size = ?, mtime_ns = ? WHERE dir_id = ? AND name = ?",
            (entry.size, entry.mtime_ns, dir_id, entry.name),
        ).rowcount
        if not updated:
            conn.execute(
                "INSERT INTO images (dir_id, name, size, mtime_ns) VALUES (?, ?, ?, ?)",
                (dir_id, entry.name, entry.size, entry.mtime_ns),
            )
            grown += 1
        changes.append((entry.name, True))
    if not changes:
        return True
    conn.execute(
        "UPDATE directories SET image_count = image_count + ?, delta_seq = ? WHERE id = ?",
        (grown, delta_seq, dir_id),
    )
    index_log.record(conn, dir_id, load_seq, delta_seq, changes)
    return True


def missing_from_index(conn: sqlite3.Connection, dir_id: str, root: str) -> list[str]:
    """Names recorded under `root` that the index of `dir_id` lacks (a load's catch-up)."""
    rows = conn.execute(
        "SELECT name FROM frame_times WHERE root = ? AND name NOT IN"
        " (SELECT name FROM images WHERE dir_id = ?) ORDER BY name",
        (root, dir_id),
    )
    return [row[0] for row in rows]


def forget(conn: sqlite3.Connection, root: str) -> None:
    """Drop the times recorded under `root` (inside a write): its folder was deleted."""
    conn.execute("DELETE FROM frame_times WHERE root = ?", (root,))
