"""The SQLite database that holds every piece of shared state.

One file (WAL mode) is shared by every worker process and thread: a write committed by one
worker is visible to the next read of any other. Each thread of each process gets its own
connection (SQLite connections must not cross a fork). Writes use `BEGIN IMMEDIATE` so two
writers queue on the lock instead of failing half-way.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from imageserver.state.generation import ChangeSignal

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS directories (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    real_path TEXT NOT NULL,
    recursive INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL,
    load_time REAL NOT NULL,
    timeout_minutes INTEGER,
    deadline REAL,
    load_seq INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS directories_by_deadline
    ON directories (deadline) WHERE deadline IS NOT NULL;

CREATE TABLE IF NOT EXISTS images (
    dir_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (dir_id, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS index_changes (
    dir_id TEXT NOT NULL,
    load_seq INTEGER NOT NULL,
    delta_seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    present INTEGER NOT NULL,
    PRIMARY KEY (dir_id, load_seq, delta_seq, name)
) WITHOUT ROWID;
"""

# Columns added after the first release, as (table, column, declaration). A database made by
# an older version gets them at start-up (`ALTER TABLE ... ADD COLUMN`), so an upgrade keeps
# every loaded directory; a new database gets them the same way.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # Live folders (#16): whether the index follows the folder, and how ('inotify'/'poll').
    ("directories", "watch", "INTEGER NOT NULL DEFAULT 0"),
    ("directories", "watch_mode", "TEXT"),
    # Moves with each batch of a live folder's changes (`index_log.py`).
    ("directories", "delta_seq", "INTEGER NOT NULL DEFAULT 0"),
)

BUSY_TIMEOUT_MS = 15000


class StateStoreError(RuntimeError):
    """The state database cannot be created, opened or written."""


class Store:
    """Per-thread SQLite connections to one database file, plus transaction helpers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self.changes = ChangeSignal(f"{path}.changes")

    def initialise(self) -> None:
        """Create the directory, the database and its schema; check that it is writable.

        :raise StateStoreError: the directory or the file cannot be created or written.
        """
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            # executescript commits on its own, so it runs outside `write()`; IF NOT EXISTS
            # makes it safe for several workers starting at once.
            self.connection().executescript(SCHEMA)
            with self.write() as conn:
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0')")
                _add_missing_columns(conn)
            self.changes.read()  # the counter file must be usable too
        except (OSError, sqlite3.Error) as exc:
            raise StateStoreError(f"cannot use state database {self.path}: {exc}") from None

    def readiness_problem(self) -> str | None:
        """Return why the state cannot be used right now, or None when it can.

        Ready means the database answers a query and its directory takes a new file (a
        load, a sweep or the WAL would otherwise fail).
        """
        try:
            with self.read() as conn:
                conn.execute("SELECT COUNT(*) FROM directories").fetchone()
        except sqlite3.Error as exc:
            return f"state database does not answer: {exc}"
        directory = os.path.dirname(self.path) or "."
        try:
            fd, probe = tempfile.mkstemp(prefix=".ready-", dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"state directory is not writable: {exc.strerror or exc}"
        return None

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection, opening a new one after a fork."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode never corrupts the database; a power loss may only drop the
            # last commits, which is the trade every WAL user of SQLite makes.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Run several reads against one consistent snapshot."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction: all of it commits, or none of it does."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        generation = conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation' "
            "RETURNING CAST(value AS INTEGER)"
        ).fetchone()
        conn.execute("COMMIT")
        # After the commit, so a reader that sees the new number also sees the new state.
        self.changes.publish(generation[0] if generation else 0)

    @contextmanager
    def quiet_write(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction that changes nothing the image path serves.

        Job rows and their progress: bumping the change counter would make every worker
        rebuild its served snapshot for nothing.
        """
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    # Inside the write transaction: two workers starting at once cannot both add a column.
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
