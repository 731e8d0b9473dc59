"""Stored perceptual hashes and image facts, one row per file, valid while its size and mtime hold.

`?unique=true` and `?facts=true` (docs/API.md#get-apidirectoriesidimages) read them; a file
whose size or mtime changed since its row was written counts as unknown, so it is hashed
again. Rows are keyed by the folder's real path, not the directory id, so a folder loaded
again (or a video's cache folder loaded under another timeout) keeps its work. Hashes are
hex text: 256 bits do not fit an SQLite integer. Nothing here imports Flask.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass

from imageserver.state.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS image_facts (
    root TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT,
    width INTEGER,
    height INTEGER,
    format TEXT,
    PRIMARY KEY (root, name)
)
"""
# SQLite's default limit of host parameters per statement is 32766; stay well under it.
_CHUNK = 900


@dataclass(frozen=True)
class FileFacts:
    """What is known of one file as it was (`size`, `mtime_ns`); None where unreadable."""

    name: str
    size: int
    mtime_ns: int
    hash: str | None
    width: int | None
    height: int | None
    format: str | None


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table when missing (every worker may call it at start-up)."""
    conn.execute(SCHEMA)


def stored(store: Store, root: str, names: Sequence[str]) -> dict[str, FileFacts]:
    """Return the stored rows of `names` under `root`, whatever their size and mtime."""
    conn = store.connection()
    found: dict[str, FileFacts] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT name, size, mtime_ns, hash, width, height, format FROM image_facts"
            f" WHERE root = ? AND name IN ({marks})",
            (root, *chunk),
        )
        found.update((row[0], FileFacts(*row)) for row in rows)
    return found


def stored_all(store: Store, root: str) -> dict[str, FileFacts]:
    """Return every stored row under `root` (one query, for whole-folder listings)."""
    rows = store.connection().execute(
        "SELECT name, size, mtime_ns, hash, width, height, format FROM image_facts WHERE root = ?",
        (root,),
    )
    return {row[0]: FileFacts(*row) for row in rows}


def save(store: Store, root: str, facts: Iterable[FileFacts]) -> None:
    """Write (or overwrite) the rows of `facts` under `root`, in one transaction."""
    rows = [(root, f.name, f.size, f.mtime_ns, f.hash, f.width, f.height, f.format) for f in facts]
    if not rows:
        return
    with store.write() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO image_facts"
            " (root, name, size, mtime_ns, hash, width, height, format)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


# The index of one directory joined with the stored rows of its folder, in name order: the
# size/mtime check is done by SQLite, so only a name, two ints and a hash cross into Python.
_INDEX_HASHES = """
SELECT i.name, i.size, i.mtime_ns, f.hash, f.size IS NOT NULL
FROM images AS i
LEFT JOIN image_facts AS f
    ON f.root = ? AND f.name = i.name AND f.size = i.size AND f.mtime_ns = i.mtime_ns
WHERE i.dir_id = ?
ORDER BY i.name
"""


def index_hashes(
    store: Store, dir_id: str, root: str
) -> list[tuple[str, int, int, str | None, int]]:
    """Return `(name, size, mtime_ns, hash, current)` for every indexed name of `dir_id`.

    `current` is 1 when a stored row under `root` still describes the file (its `hash` may
    be None: unreadable), 0 when the row is missing or stale (`hash` is then None). One
    query, plain tuples: the whole-folder `?unique=true` reads 100,000 rows this way.
    """
    cursor = store.connection().cursor()
    cursor.row_factory = None  # tuples, not sqlite3.Row: a third of the time at 100,000 rows
    return cursor.execute(_INDEX_HASHES, (root, dir_id)).fetchall()
