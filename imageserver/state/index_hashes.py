"""A directory's index with the stored hash of each file, read for `?unique=true`.

The index of one directory is joined with the stored facts rows of its folder
(`image_facts`); the size/mtime check is done by SQLite. 100,000 rows cross into Python as
two strings split in C (names, hashes) rather than 100,000 tuples: about 1.8 times faster,
most of what is left being SQLite's own join. Sizes and mtimes are read only for the names
that need them (the kept frames, or the files to hash), in the same snapshot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

# The hash column: the hex hash, "" for an unreadable file, MISSING when no stored row
# still describes the file (never a hex digit, so never a hash).
_NAMES_AND_HASHES = """
SELECT group_concat(i.name, char(0)),
    group_concat(iif(f.size IS NULL, '-', coalesce(f.hash, '')))
FROM images AS i
LEFT JOIN image_facts AS f
    ON f.root = ? AND f.name = i.name AND f.size = i.size AND f.mtime_ns = i.mtime_ns
WHERE i.dir_id = ?
"""
MISSING = "-"
# SQLite's default limit of host parameters per statement is 32766; stay well under it.
_CHUNK = 900


@dataclass
class IndexHashes:
    """Every indexed name of a directory, in name order, with its stored hash.

    `hashes[i]` is the hex hash, "" for a file that cannot be read, or `MISSING`.
    """

    names: list[str]
    hashes: list[str]

    def missing(self) -> list[int]:
        """Positions whose hash is `MISSING` (a scan in C first: usually there is none)."""
        if MISSING not in self.hashes:
            return []
        return [i for i, h in enumerate(self.hashes) if h == MISSING]


def read(conn: sqlite3.Connection, dir_id: str, root: str) -> IndexHashes:
    """Every indexed name of `dir_id` with the hash stored under `root` (one query)."""
    names, hashes = conn.execute(_NAMES_AND_HASHES, (root, dir_id)).fetchone()
    if names is None:  # no rows: group_concat gives NULL
        return IndexHashes([], [])
    found = IndexHashes(names.split("\0"), hashes.split(","))
    # Both columns come from the same rows, in the index's key order in practice; SQLite
    # does not promise an order for group_concat, so check it (one pass in C) and sort.
    if found.names != sorted(found.names):
        order = sorted(range(len(found.names)), key=found.names.__getitem__)
        found.names = [found.names[i] for i in order]
        found.hashes = [found.hashes[i] for i in order]
    return found


def sizes(
    conn: sqlite3.Connection, dir_id: str, names: Sequence[str] | None = None
) -> dict[str, tuple[int, int]]:
    """`name -> (size, mtime_ns)` of indexed `names` of `dir_id` (None: all of them)."""
    if names is None:
        rows = conn.execute("SELECT name, size, mtime_ns FROM images WHERE dir_id = ?", (dir_id,))
        return {row[0]: (row[1], row[2]) for row in rows}
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT name, size, mtime_ns FROM images WHERE dir_id = ? AND name IN ({marks})",
            (dir_id, *chunk),
        )
        found.update((row[0], (row[1], row[2])) for row in rows)
    return found
