"""Publish jobs of the API, as rows of the state database (docs/PUBLISH.md).

A job is created `queued` by the worker that accepted the request, goes `running` in a
thread of that worker, and ends `done` (with its URLs) or `failed` (with a `detail`). Its
row names its owner (host and process id) and carries a heartbeat the owner refreshes
while it works, so another process can tell a live job from one whose process died: after
a restart such a job is claimed (one claimant wins, by a conditional UPDATE) and resumed,
or failed once it was interrupted too often. No job is left `running` for ever.

Progress writes do not bump the store's change counter: that counter tells the image fast
path to rebuild its snapshot, and a job's progress changes nothing it serves. Nothing here
imports Flask or boto3.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from imageserver.jobs import owner as owners
from imageserver.jobs.owner import this_owner
from imageserver.publish.spec import Counts
from imageserver.publish.spec import Published
from imageserver.state import timers
from imageserver.state.store import Store
from imageserver.state.timers import Clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS publish_jobs (
    id TEXT PRIMARY KEY,
    dir_id TEXT NOT NULL,
    root TEXT NOT NULL,
    recursive INTEGER NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    uploaded INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    result TEXT,
    owner TEXT,
    heartbeat REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS publish_jobs_unfinished
    ON publish_jobs (state) WHERE state IN ('queued', 'running');
"""

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UNFINISHED = (QUEUED, RUNNING)
# A live owner refreshes its heartbeat about every second; this much silence means dead.
STALE_SECONDS = 30.0


@dataclass(frozen=True)
class Job:
    """One publish job as stored."""

    id: str
    dir_id: str
    root: str
    recursive: bool
    request: dict[str, Any]
    state: str
    counts: Counts
    detail: str | None
    result: dict[str, Any] | None
    owner: str | None
    heartbeat: float | None
    attempts: int
    created: float
    updated: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        counts = Counts(row["total"], row["uploaded"], row["skipped"], row["failed"], row["bytes"])
        return cls(
            id=row["id"],
            dir_id=row["dir_id"],
            root=row["root"],
            recursive=bool(row["recursive"]),
            request=json.loads(row["request"]),
            state=row["state"],
            counts=counts,
            detail=row["detail"],
            result=json.loads(row["result"]) if row["result"] else None,
            owner=row["owner"],
            heartbeat=row["heartbeat"],
            attempts=row["attempts"],
            created=row["created"],
            updated=row["updated"],
        )

    def orphaned(self, now: float) -> bool:
        """Tell whether this unfinished job's owner is gone.

        An owner on this host is gone when its process is (the pid is free, or now names a
        process that started at another time); elsewhere, when its heartbeat went silent.
        """
        if self.state not in UNFINISHED:
            return False
        if owners.is_local(self.owner):
            return not owners.alive(self.owner)
        return self.heartbeat is None or now - self.heartbeat > STALE_SECONDS


class JobStore:
    """The `publish_jobs` table of the state database."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def initialise(self) -> None:
        """Create the table (IF NOT EXISTS: several workers start at once)."""
        self.store.connection().executescript(SCHEMA)

    def create(self, dir_id: str, root: str, recursive: bool, request: dict[str, Any]) -> Job:
        """Insert a queued job owned by this process and return it."""
        job_id = secrets.token_urlsafe(12)
        now = self.clock()
        with self.store.quiet_write() as conn:
            conn.execute(
                "INSERT INTO publish_jobs (id, dir_id, root, recursive, request, state, owner,"
                " heartbeat, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, dir_id, root, int(recursive), json.dumps(request), QUEUED,
                 this_owner(), now, now, now),
            )  # fmt: skip
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        """Return a job by id, or None."""
        row = (
            self.store.connection()
            .execute("SELECT * FROM publish_jobs WHERE id = ?", (job_id,))
            .fetchone()
        )
        return Job.from_row(row) if row else None

    def unfinished(self) -> list[Job]:
        """Return every queued or running job, oldest first."""
        rows = self.store.connection().execute(
            "SELECT * FROM publish_jobs WHERE state IN (?, ?) ORDER BY created", UNFINISHED
        )
        return [Job.from_row(row) for row in rows]

    def claim(self, job: Job, detail: str) -> bool:
        """Take over an orphaned job for this process (queued again); False if another won."""
        now = self.clock()
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE publish_jobs SET owner = ?, heartbeat = ?, state = ?, detail = ?,"
                " attempts = attempts + 1, updated = ?"
                " WHERE id = ? AND owner IS ? AND state IN (?, ?)",
                (this_owner(), now, QUEUED, detail, now, job.id, job.owner, *UNFINISHED),
            )
        return cursor.rowcount == 1

    def progress(self, job_id: str, counts: Counts) -> None:
        """Record progress (and the heartbeat) of a job this process runs."""
        now = self.clock()
        with self.store.quiet_write() as conn:
            conn.execute(
                "UPDATE publish_jobs SET state = ?, total = ?, uploaded = ?, skipped = ?,"
                " failed = ?, bytes = ?, heartbeat = ?, updated = ?"
                " WHERE id = ? AND owner = ? AND state IN (?, ?)",
                (RUNNING, counts.total, counts.uploaded, counts.skipped, counts.failed,
                 counts.bytes, now, now, job_id, this_owner(), *UNFINISHED),
            )  # fmt: skip

    def finish(self, job_id: str, published: Published) -> None:
        """Mark a job done with its URLs, expiry and failed objects."""
        expires = published.expires_at
        result = {
            "image_urls": published.urls,
            "expires_at": timers.format_local(expires.timestamp()) if expires else None,
            "failures": [{"key": key, "reason": reason} for key, reason in published.failures],
        }
        self._end(job_id, DONE, None, published.counts, json.dumps(result))

    def fail(self, job_id: str, detail: str, counts: Counts | None = None) -> None:
        """Mark a job failed, with the one line that says why."""
        self._end(job_id, FAILED, detail, counts, None)

    def _end(
        self, job_id: str, state: str, detail: str | None, counts: Counts | None, result: str | None
    ) -> None:
        now = self.clock()
        with self.store.quiet_write() as conn:
            cursor = conn.execute(
                "UPDATE publish_jobs SET state = ?, detail = COALESCE(?, detail), result = ?,"
                " updated = ?, heartbeat = ? WHERE id = ? AND state IN (?, ?)",
                (state, detail, result, now, now, job_id, *UNFINISHED),
            )
            if cursor.rowcount and counts is not None:
                conn.execute(
                    "UPDATE publish_jobs SET total = ?, uploaded = ?, skipped = ?, failed = ?,"
                    " bytes = ? WHERE id = ?",
                    (counts.total, counts.uploaded, counts.skipped, counts.failed,
                     counts.bytes, job_id),
                )  # fmt: skip
