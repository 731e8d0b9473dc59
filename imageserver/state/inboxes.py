"""Upload inboxes as state: their folders under the state directory and what they hold.

An inbox (docs/API.md#uploads) is a folder the server owns, `<state_dir>/inboxes/<name>/`,
loaded like any directory. Because the server made it, the server removes it: when its
directory is unloaded (by a request, the sweeper or the start-up sweep) the registry calls
`remove_owned` after the transaction commits, and at start-up `remove_orphans` clears folders
whose directory is no longer loaded (a crash between that commit and the removal).

The `uploads` table maps the sha256 of each stored file to its name, per inbox, so the same
bytes uploaded twice are stored once. Nothing here imports Flask.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time

from imageserver.security.confinement import is_within
from imageserver.state import image_facts
from imageserver.state.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    dir_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (dir_id, sha256)
) WITHOUT ROWID;
"""
INBOXES_FOLDER = "inboxes"
# Upload bodies are spooled here: inside the state directory (same file system, so the move
# into an inbox is a rename) but outside every inbox, so a half-written file is never indexed.
TEMP_FOLDER = ".tmp"
# At start-up an unloaded inbox folder is removed only when nothing touched it for this long:
# a worker respawned while others serve uploads must not take a folder being filled.
ORPHAN_GRACE_SECONDS = 60.0
# A temporary file this old belongs to no upload still running.
STALE_TEMP_SECONDS = 3600.0

log = logging.getLogger(__name__)


def inboxes_root(state_dir: str) -> str:
    """Return the real path of the folder that holds every inbox."""
    return os.path.realpath(os.path.join(state_dir, INBOXES_FOLDER))


def temp_folder(root: str) -> str:
    """Return the folder where upload bodies are spooled, creating it if needed."""
    path = os.path.join(root, TEMP_FOLDER)
    os.makedirs(path, exist_ok=True)
    return path


def is_owned(root: str | None, real_path: str) -> bool:
    """Tell whether a directory's real path is an inbox folder (one level under `root`)."""
    if not root or not is_within(real_path, root):
        return False
    return os.path.dirname(real_path.rstrip("/")) == root


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the `uploads` table (idempotent: every worker runs it at start-up)."""
    conn.executescript(SCHEMA)


def stored_name(conn: sqlite3.Connection, dir_id: str, sha256: str) -> str | None:
    """Return the name under which these bytes are stored in an inbox, or None."""
    row = conn.execute(
        "SELECT name FROM uploads WHERE dir_id = ? AND sha256 = ?", (dir_id, sha256)
    ).fetchone()
    return row[0] if row else None


def record(conn: sqlite3.Connection, dir_id: str, stored: list[tuple[str, str]]) -> None:
    """Record `(sha256, name)` pairs of an inbox (inside a write transaction)."""
    conn.executemany(
        "INSERT OR REPLACE INTO uploads (dir_id, sha256, name) VALUES (?, ?, ?)",
        ((dir_id, sha256, name) for sha256, name in stored),
    )


def used_bytes(conn: sqlite3.Connection, dir_id: str) -> int:
    """Return the bytes an inbox holds, from its index (its quota counts these)."""
    row = conn.execute("SELECT COALESCE(SUM(size), 0) FROM images WHERE dir_id = ?", (dir_id,))
    return int(row.fetchone()[0])


def total_bytes(conn: sqlite3.Connection) -> int:
    """Return the bytes every inbox together holds (IMAGE_SERVER_UPLOAD_TOTAL_MB counts these)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(size), 0) FROM images"
        " WHERE dir_id IN (SELECT DISTINCT dir_id FROM uploads)"
    )
    return int(row.fetchone()[0])


def forget(conn: sqlite3.Connection, dir_id: str) -> None:
    """Drop what an inbox held (inside the transaction that unloads it)."""
    conn.execute("DELETE FROM uploads WHERE dir_id = ?", (dir_id,))


def remove_owned(root: str | None, real_paths: list[str], store: Store | None = None) -> None:
    """Delete the folders among `real_paths` that are inboxes; others are never touched.

    With `store`, what was known of their images (hashes, facts) is dropped too.
    """
    owned = [real_path for real_path in real_paths if is_owned(root, real_path)]
    for real_path in owned:
        shutil.rmtree(real_path, ignore_errors=True)
    if owned and store is not None:
        with store.write() as conn:
            image_facts.forget_roots(conn, owned)


def remove_orphans(root: str | None, loaded: set[str], now: float | None = None) -> None:
    """Delete inbox folders whose directory is not loaded, and stale temporary files."""
    if not root or not os.path.isdir(root):
        return
    now = time.time() if now is None else now
    for entry in os.scandir(root):
        try:
            idle = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if entry.name == TEMP_FOLDER:
            _remove_stale_temps(entry.path, now)
        elif entry.path not in loaded and idle >= ORPHAN_GRACE_SECONDS:
            log.info("removing the inbox %s: its directory is no longer loaded", entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def _remove_stale_temps(folder: str, now: float) -> None:
    for entry in os.scandir(folder):
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime >= STALE_TEMP_SECONDS:
                os.unlink(entry.path)
        except OSError:
            continue  # another worker removed it first
