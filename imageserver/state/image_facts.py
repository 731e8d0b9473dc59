"""Stored perceptual hashes and image facts, one row per file, valid while its size and mtime hold.

`?unique=true` and `?facts=true` (docs/API.md#get-apidirectoriesidimages) read them; a file
whose size or mtime changed since its row was written counts as unknown, so it is hashed
again. Rows are keyed by the folder's real path, not the directory id, so a folder loaded
again (or a video's cache folder loaded under another timeout) keeps its work. Hashes are
hex text: 368 bits do not fit an SQLite integer. Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from array import array
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
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
# The digest of the index each load wrote (`index_digest`), so a listing need not read it.
DIGEST_SCHEMA = """
CREATE TABLE IF NOT EXISTS index_digests (
    dir_id TEXT PRIMARY KEY,
    load_seq INTEGER NOT NULL,
    digest TEXT NOT NULL
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
    conn.execute(DIGEST_SCHEMA)


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


def digest_of(rows: Sequence[tuple[str, int, int]]) -> str:
    """A digest of index rows `(name, size, mtime_ns)`, taken in Python's name order.

    Names never hold NUL, so joining on it is unambiguous.
    """
    ordered = sorted(rows, key=itemgetter(0))  # ~free when already sorted
    names = "\0".join([row[0] for row in ordered]).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(names)
    digest.update(array("q", [row[1] for row in ordered]).tobytes())
    digest.update(array("q", [row[2] for row in ordered]).tobytes())
    return f"{len(ordered)}-{digest.hexdigest()}"


def remember_load_digest(conn: sqlite3.Connection, dir_id: str, load_seq: int, digest: str) -> None:
    """Record the `digest_of` the index a load just wrote (inside the load's transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO index_digests (dir_id, load_seq, digest) VALUES (?, ?, ?)",
        (dir_id, load_seq, digest),
    )


def recorded_digest(conn: sqlite3.Connection, dir_id: str) -> str | None:
    """The digest the last load of `dir_id` recorded, while no live-folder batch changed the
    index since (then the index's rows are exactly those of the digest); else None."""
    row = conn.execute(
        "SELECT g.digest FROM index_digests AS g JOIN directories AS d"
        " ON d.id = g.dir_id AND d.load_seq = g.load_seq AND d.delta_seq = 0"
        " WHERE g.dir_id = ?",
        (dir_id,),
    ).fetchone()
    return None if row is None else row[0]


def index_digest(conn: sqlite3.Connection, dir_id: str) -> str:
    """The digest of a directory's index as it is now: equal digests mean the same files
    as the index knows them (names, sizes, mtimes), whatever the load, so a re-load of an
    unchanged folder keeps it.

    The load's recorded digest when no live-folder batch changed the index since; otherwise
    it is read from the index (about 60 ms at 100,000 names).
    """
    recorded = recorded_digest(conn, dir_id)
    if recorded is not None:
        return recorded
    cursor = conn.cursor()
    cursor.row_factory = None
    query = "SELECT name, size, mtime_ns FROM images WHERE dir_id = ?"
    return digest_of(cursor.execute(query, (dir_id,)).fetchall())


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


def forget_roots(conn: sqlite3.Connection, roots: Iterable[str]) -> None:
    """Drop what is known of folders the server deleted (an evicted video's frames, an
    unloaded inbox): nothing can use it again, and it would grow the database forever."""
    for root in roots:
        conn.execute("DELETE FROM image_facts WHERE root = ?", (root,))
        conn.execute("DELETE FROM unique_lists WHERE root = ?", (root,))


def forget_directory(conn: sqlite3.Connection, dir_id: str) -> None:
    """Drop an unloaded directory's load digest (inside the unload's transaction)."""
    conn.execute("DELETE FROM index_digests WHERE dir_id = ?", (dir_id,))
