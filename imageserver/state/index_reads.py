"""Reads of the image index: names, pages, one image, and the snapshot the hot path serves.

A mixin of `Registry` (`state/registry.py`), which owns the directory and deadline writes.
Nothing here imports Flask.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import TypeVar

from imageserver.state import index_log
from imageserver.state.directory import Directory
from imageserver.state.directory import current_id
from imageserver.state.index_log import Change
from imageserver.state.indexer import ImageEntry
from imageserver.state.store import Store

T = TypeVar("T")


class IndexReads:
    """The index reads of the registry: every method reads the shared SQLite store."""

    store: Store

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
        changed by batches since has the logged changes instead (`index_log.since`),
        unless the log no longer reaches back. One read transaction, so all four agree.
        Unlike the other reads it applies no deadline: its caller (the image fast path)
        checks deadlines on every request.
        """
        names: dict[str, T] = {}
        changes: dict[str, list[Change]] = {}
        with self.store.read() as conn:
            current = current_id(conn)
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


def _logged_changes(
    conn: sqlite3.Connection, directory: Directory, seen: tuple[int, int] | None
) -> list[Change] | None:
    if seen is None or seen[0] != directory.load_seq:
        return None  # a new load: the names are read in full
    return index_log.since(conn, directory.id, directory.load_seq, seen[1])
