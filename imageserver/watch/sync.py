"""The state-database side of live folders: what is watched, and writing a batch of changes.

A batch is one write transaction: its rows change, the directory's `image_count` and
`delta_seq` move, the changed names are logged (`state/index_log.py`), and the commit bumps
the shared change counter, so every worker's snapshot (`hotpath/served_index.py`) applies them on
its next request. Nothing here touches inotify or the file system: `diff_scan` compares a
scan someone else made with the index.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from imageserver.state import index_log
from imageserver.state.index_log import Change
from imageserver.state.indexer import ImageEntry
from imageserver.state.store import Store

FOLLOW_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class WatchedDirectory:
    """A directory loaded with `"watch": true`, as stored."""

    id: str
    real_path: str
    recursive: bool
    load_seq: int
    watch_mode: str | None


@dataclass
class Batch:
    """Changes to one directory's index, waiting to be written in one transaction.

    `names` maps a relative name to its new entry, or to None when it must leave the index
    (deleted, renamed away, or being rewritten); the last change of a name wins.
    `removed_prefixes` are sub-folders (`sub/`) that left the tree with everything in them.
    """

    names: dict[str, ImageEntry | None] = field(default_factory=dict)
    removed_prefixes: set[str] = field(default_factory=set)

    def put(self, name: str, entry: ImageEntry | None) -> None:
        """Record the latest state of one name."""
        self.names[name] = entry

    def remove_prefix(self, prefix: str) -> None:
        """Record that a whole sub-folder left the tree."""
        self.names = {n: e for n, e in self.names.items() if not n.startswith(prefix)}
        self.removed_prefixes.add(prefix)

    def __bool__(self) -> bool:
        return bool(self.names or self.removed_prefixes)


def watched_directories(store: Store) -> dict[str, WatchedDirectory]:
    """Return every directory whose index follows its folder, by id."""
    with store.read() as conn:
        rows = conn.execute(
            "SELECT id, real_path, recursive, load_seq, watch_mode FROM directories WHERE watch = 1"
        ).fetchall()
    return {row[0]: WatchedDirectory(row[0], row[1], bool(row[2]), row[3], row[4]) for row in rows}


def indexed_entries(store: Store, dir_id: str) -> dict[str, ImageEntry]:
    """Return a directory's index as stored, by name."""
    rows = store.connection().execute(
        "SELECT name, size, mtime_ns FROM images WHERE dir_id = ?", (dir_id,)
    )
    return {row[0]: ImageEntry(*row) for row in rows}


def prune(store: Store, dir_id: str, batch: Batch) -> Batch:
    """Drop the changes the index already reflects, so a no-op batch writes nothing.

    A file being written sends `IN_MODIFY` events that ask to remove a name not indexed yet;
    without this each would be a commit and make every worker re-read the directory.
    """
    if batch.removed_prefixes:
        return batch
    indexed = indexed_subset(store, dir_id, batch.names)
    pruned = Batch()
    for name, entry in batch.names.items():
        if indexed.get(name) != entry:
            pruned.put(name, entry)
    return pruned


def indexed_subset(store: Store, dir_id: str, names: Iterable[str]) -> dict[str, ImageEntry]:
    """Return the stored entries of some names (those indexed), by name."""
    conn = store.connection()
    found: dict[str, ImageEntry] = {}
    for name in names:
        row = conn.execute(
            "SELECT name, size, mtime_ns FROM images WHERE dir_id = ? AND name = ?",
            (dir_id, name),
        ).fetchone()
        if row is not None:
            found[name] = ImageEntry(*row)
    return found


def apply_batch(store: Store, dir_id: str, batch: Batch) -> int | None:
    """Write one batch in one transaction and log it; return the directory's `load_seq`.

    None when the directory is no longer watched. :raise sqlite3.Error: the database is
    unusable (the caller's next rescan catches up).
    """
    with store.write() as conn:
        row = conn.execute(
            "SELECT load_seq, delta_seq FROM directories WHERE id = ? AND watch = 1", (dir_id,)
        ).fetchone()
        if row is None:
            return None  # unloaded (or re-loaded without watch) while the batch gathered
        load_seq, delta_seq = row[0], row[1] + 1
        changes, grown = _write_rows(conn, dir_id, batch)
        # By arithmetic: a COUNT(*) would read every row of a 100,000-image index per batch.
        conn.execute(
            "UPDATE directories SET image_count = image_count + ?, delta_seq = ? WHERE id = ?",
            (grown, delta_seq, dir_id),
        )
        index_log.record(conn, dir_id, load_seq, delta_seq, changes)
    return load_seq


def _write_rows(conn: sqlite3.Connection, dir_id: str, batch: Batch) -> tuple[list[Change], int]:
    """Change the rows; return the changes to log and by how much the index grew."""
    changes: list[Change] = []
    grown = 0
    for prefix in batch.removed_prefixes:
        # `>= prefix AND < prefix + U+10FFFF` is a range scan of the primary key (LIKE isn't,
        # and would treat `_` and `%` in folder names as wildcards).
        bounds = (dir_id, prefix, prefix + "\U0010ffff")
        where = "WHERE dir_id = ? AND name >= ? AND name < ?"
        changes += [(r[0], False) for r in conn.execute(f"SELECT name FROM images {where}", bounds)]
        grown -= conn.execute(f"DELETE FROM images {where}", bounds).rowcount
    for name, entry in batch.names.items():
        if entry is None:
            grown -= conn.execute(
                "DELETE FROM images WHERE dir_id = ? AND name = ?", (dir_id, name)
            ).rowcount
        elif not conn.execute(
            "UPDATE images SET size = ?, mtime_ns = ? WHERE dir_id = ? AND name = ?",
            (entry.size, entry.mtime_ns, dir_id, name),
        ).rowcount:
            conn.execute(
                "INSERT INTO images (dir_id, name, size, mtime_ns) VALUES (?, ?, ?, ?)",
                (dir_id, name, entry.size, entry.mtime_ns),
            )
            grown += 1
        changes.append((name, entry is not None))
    return changes, grown


def forget_unloaded(store: Store) -> None:
    """Drop the change logs of directories that are no longer loaded."""
    with store.write() as conn:
        index_log.forget_unloaded(conn)


def wait_until_followed(store: Store, dir_id: str, load_seq: int, timeout: float) -> bool:
    """Wait until the watcher follows this load of a directory (it sets `watch_mode`).

    The load route waits, so that once it answers every frame closed afterwards is caught by
    an event. Returns False after `timeout` seconds (no watcher took the load meanwhile).
    """
    deadline = time.monotonic() + timeout
    conn = store.connection()
    while True:
        row = conn.execute(
            "SELECT watch_mode FROM directories WHERE id = ? AND load_seq = ?", (dir_id, load_seq)
        ).fetchone()
        if row is None or row[0] is not None:
            return row is not None
        if time.monotonic() >= deadline:
            return False
        time.sleep(FOLLOW_POLL_SECONDS)


def set_watch_mode(store: Store, dir_id: str, mode: str) -> None:
    """Record how a directory is followed ('inotify' or 'poll'), for the status routes."""
    with store.write() as conn:
        conn.execute(
            "UPDATE directories SET watch_mode = ? WHERE id = ? AND watch = 1", (mode, dir_id)
        )


def diff_scan(
    scanned: Iterable[ImageEntry],
    indexed: Mapping[str, ImageEntry],
    complete: Iterable[str],
) -> Batch:
    """Compare a fresh scan with the stored index.

    Names gone from the folder leave the index; `complete` names (settled files) that are new
    or changed enter it; changed names that are not complete yet leave it until they are.
    """
    batch = Batch()
    settled = set(complete)
    seen: set[str] = set()
    for entry in scanned:
        seen.add(entry.name)
        if indexed.get(entry.name) == entry:
            continue
        if entry.name in settled:
            batch.put(entry.name, entry)
        elif entry.name in indexed:
            batch.put(entry.name, None)
    for name in indexed.keys() - seen:
        batch.put(name, None)
    return batch
