"""Stored perceptual hashes and image facts, one row per file, valid while its size and mtime hold.

`?unique=true` and `?facts=true` (docs/API.md#get-apidirectoriesidimages) read them; a file
whose size or mtime changed since its row was written counts as unknown, so it is hashed
again. Rows are keyed by the folder's real path, not the directory id, so a folder loaded
again (or a video's cache folder loaded under another timeout) keeps its work. Hashes are
hex text: 256 bits do not fit an SQLite integer. Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from array import array
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
# The collapsed `?unique=true` list of a folder, per index digest and distance, so a second
# worker and a re-load of an unchanged folder reuse it. Any write of the folder's facts rows
# drops it (`save`); a new digest replaces the folder's older ones (`save_unique`).
UNIQUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS unique_lists (
    root TEXT NOT NULL,
    digest TEXT NOT NULL,
    distance INTEGER NOT NULL,
    kept TEXT NOT NULL,
    PRIMARY KEY (root, digest, distance)
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
    conn.execute(UNIQUE_SCHEMA)


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
        conn.execute("DELETE FROM unique_lists WHERE root = ?", (root,))


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
    conn: sqlite3.Connection, dir_id: str, root: str
) -> list[tuple[str, int, int, str | None, int]]:
    """Return `(name, size, mtime_ns, hash, current)` for every indexed name of `dir_id`.

    `current` is 1 when a stored row under `root` still describes the file (its `hash` may
    be None: unreadable), 0 when the row is missing or stale (`hash` is then None). One
    query, plain tuples: the whole-folder `?unique=true` reads 100,000 rows this way.
    """
    cursor = conn.cursor()
    cursor.row_factory = None  # tuples, not sqlite3.Row: a third of the time at 100,000 rows
    return cursor.execute(_INDEX_HASHES, (root, dir_id)).fetchall()


def index_digest(conn: sqlite3.Connection, dir_id: str) -> str:
    """A digest of a directory's index (names, sizes, mtimes in name order).

    Equal digests mean the same files as the index knows them, whatever the load: a
    re-load of an unchanged folder keeps it. Names never hold NUL, so joining on it is
    unambiguous.
    """
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(
        "SELECT name, size, mtime_ns FROM images WHERE dir_id = ? ORDER BY name", (dir_id,)
    ).fetchall()
    digest = hashlib.sha256("\0".join([row[0] for row in rows]).encode("utf-8", "surrogatepass"))
    digest.update(array("q", [row[1] for row in rows]).tobytes())
    digest.update(array("q", [row[2] for row in rows]).tobytes())
    return f"{len(rows)}-{digest.hexdigest()}"


def stored_unique(conn: sqlite3.Connection, root: str, digest: str, distance: int) -> Any:
    """Return the stored collapsed list (decoded JSON), or None when there is none."""
    row = conn.execute(
        "SELECT kept FROM unique_lists WHERE root = ? AND digest = ? AND distance = ?",
        (root, digest, distance),
    ).fetchone()
    return None if row is None else json.loads(row[0])


def save_unique(store: Store, root: str, digest: str, distance: int, kept: Any) -> None:
    """Store a collapsed list (any JSON value), dropping the folder's lists of older digests."""
    text = json.dumps(kept, separators=(",", ":"))
    with store.write() as conn:
        conn.execute("DELETE FROM unique_lists WHERE root = ? AND digest != ?", (root, digest))
        conn.execute(
            "INSERT OR REPLACE INTO unique_lists (root, digest, distance, kept)"
            " VALUES (?, ?, ?, ?)",
            (root, digest, distance, text),
        )
