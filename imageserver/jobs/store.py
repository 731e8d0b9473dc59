"""Jobs as rows of the state database: any kind, any worker, surviving restarts (#29).

A job is created `queued`; a dispatcher (`dispatch.py`, in any worker) claims it by a
conditional UPDATE that also counts the running jobs of its kind, so a limit holds across
every worker process; the claimant (`owner`) starts a child process (`worker`) that runs it
and ends it `done` or `failed` with a one-line `detail`. `progress` is the kind's own JSON
object. A job whose owner died is queued again or failed (`dispatch.py`), never left
`running`. Writes of progress alone do not bump the store's change counter (it tells the
image fast path to rebuild its snapshot, and a job's progress changes nothing it serves).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from imageserver.jobs.owner import this_owner
from imageserver.state.store import Store
from imageserver.state.timers import Clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    detail TEXT,
    owner TEXT,
    worker TEXT,
    heartbeat REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (kind, state)
    WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (kind, key, created);
"""

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UNFINISHED = (QUEUED, RUNNING)


@dataclass(frozen=True)
class Job:
    """One job as stored."""

    id: str
    kind: str
    key: str
    request: dict[str, Any]
    state: str
    progress: dict[str, Any]
    detail: str | None
    owner: str | None  # the process that claimed it and watches its child
    worker: str | None  # the child process that runs it
    heartbeat: float | None
    attempts: int
    created: float
    updated: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            key=row["key"],
            request=json.loads(row["request"]),
            state=row["state"],
            progress=json.loads(row["progress"] or "{}"),
            detail=row["detail"],
            owner=row["owner"],
            worker=row["worker"],
            heartbeat=row["heartbeat"],
            attempts=row["attempts"],
            created=row["created"],
            updated=row["updated"],
        )

    @property
    def finished(self) -> bool:
        """Tell whether the job has ended (`done` or `failed`)."""
        return self.state not in UNFINISHED


class JobStore:
    """The `jobs` table of the state database."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def initialise(self) -> None:
        """Create the table (IF NOT EXISTS: several workers start at once)."""
        self.store.connection().executescript(SCHEMA)

    # -- reads ----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        """Return a job by id, or None."""
        row = self.store.connection().execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        found = row.fetchone()
        return Job.from_row(found) if found else None

    def latest(self, kind: str, key: str) -> Job | None:
        """Return the newest job of `kind` about `key`, or None."""
        row = self.store.connection().execute(
            "SELECT * FROM jobs WHERE kind = ? AND key = ? ORDER BY created DESC LIMIT 1",
            (kind, key),
        )
        found = row.fetchone()
        return Job.from_row(found) if found else None

    def unfinished(self, kinds: tuple[str, ...]) -> list[Job]:
        """Return every queued or running job of these kinds, oldest first."""
        marks = ",".join("?" * len(kinds))
        rows = self.store.connection().execute(
            f"SELECT * FROM jobs WHERE kind IN ({marks}) AND state IN (?, ?) ORDER BY created",
            (*kinds, *UNFINISHED),
        )
        return [Job.from_row(row) for row in rows]

    # -- the life of a job ----------------------------------------------------------------

    def create(self, kind: str, key: str, request: dict[str, Any], progress: dict) -> Job:
        """Insert a queued job (forgetting the finished jobs about the same key).

        One job per key at a time: if an unfinished one exists (two loads of the same video
        at once), that one is returned instead.
        """
        job_id = secrets.token_urlsafe(12)
        now = self.clock()
        with self.store.quiet_write() as conn:
            running = conn.execute(
                "SELECT id FROM jobs WHERE kind = ? AND key = ? AND state IN (?, ?)",
                (kind, key, *UNFINISHED),
            ).fetchone()
            if running is not None:
                job_id = running[0]
            else:
                conn.execute(
                    "DELETE FROM jobs WHERE kind = ? AND key = ? AND state IN (?, ?)",
                    (kind, key, DONE, FAILED),
                )
                conn.execute(
                    "INSERT INTO jobs (id, kind, key, request, state, progress, created,"
                    " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, kind, key, json.dumps(request), QUEUED, json.dumps(progress),
                     now, now),
                )  # fmt: skip
        job = self.get(job_id)
        assert job is not None
        return job

    def claim(self, job_id: str, kind: str, limit: int) -> bool:
        """Take a queued job for this process if fewer than `limit` of its kind run."""
        now = self.clock()
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, owner = ?, worker = NULL, heartbeat = ?,"
                " attempts = attempts + 1, updated = ? WHERE id = ? AND state = ?"
                " AND (SELECT COUNT(*) FROM jobs WHERE kind = ? AND state = ?) < ?",
                (RUNNING, this_owner(), now, now, job_id, QUEUED, kind, RUNNING, limit),
            )
        return cursor.rowcount == 1

    def adopt(self, job_id: str, owner: str) -> Job | None:
        """Record this (child) process as the job's worker; None if the job is not for it."""
        now = self.clock()
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET worker = ?, heartbeat = ?, updated = ?"
                " WHERE id = ? AND owner = ? AND state = ? AND worker IS NULL",
                (this_owner(), now, now, job_id, owner, RUNNING),
            )
        return self.get(job_id) if cursor.rowcount == 1 else None

    def beat(self, job_id: str) -> bool:
        """Refresh the heartbeat of a job this process works on; False if it is no longer."""
        now = self.clock()
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET heartbeat = ? WHERE id = ? AND worker = ? AND state = ?",
                (now, job_id, this_owner(), RUNNING),
            )
        return cursor.rowcount == 1

    def record_progress(self, conn: sqlite3.Connection, job_id: str, progress: dict) -> bool:
        """Write progress inside the caller's transaction; False if the job is not ours."""
        now = self.clock()
        cursor = conn.execute(
            "UPDATE jobs SET progress = ?, heartbeat = ?, updated = ?"
            " WHERE id = ? AND worker = ? AND state = ?",
            (json.dumps(progress), now, now, job_id, this_owner(), RUNNING),
        )
        return cursor.rowcount == 1

    def end(
        self,
        job_id: str,
        state: str,
        detail: str | None,
        progress: dict | None = None,
        worker: str | None = None,
    ) -> bool:
        """End an unfinished job `done` or `failed` (only that of `worker`, when given)."""
        now = self.clock()
        where = "id = ? AND state IN (?, ?)" + (" AND worker = ?" if worker else "")
        args: tuple = (job_id, *UNFINISHED) + ((worker,) if worker else ())
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, detail = ?, updated = ?, heartbeat = ?,"
                f" progress = COALESCE(?, progress) WHERE {where}",
                (state, detail, now, now, None if progress is None else json.dumps(progress))
                + args,
            )
        return cursor.rowcount == 1

    def requeue(self, job: Job, detail: str) -> bool:
        """Queue a job again whose process stopped (only if nobody else took it meanwhile)."""
        now = self.clock()
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, owner = NULL, worker = NULL, detail = ?, updated = ?"
                " WHERE id = ? AND owner IS ? AND state IN (?, ?)",
                (QUEUED, detail, now, job.id, job.owner, *UNFINISHED),
            )
        return cursor.rowcount == 1
