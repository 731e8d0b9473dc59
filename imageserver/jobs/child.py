"""The process side of a job: `python -m imageserver.jobs.child DATABASE JOB_ID OWNER`.

Started by a worker's dispatcher (`dispatch.py`), it dies with the thread that started it
(`PR_SET_PDEATHSIG`), records itself as the job's worker, beats a heartbeat every second
(and asks the kind whether the job is still wanted: an unloaded directory's extraction
stops), and runs the kind's module. The kind ends the job `done` or `failed`; anything it
did not catch fails the job with its one line. SIGTERM stops the run and exits with
`STOPPED_EXIT`, leaving the job to be resumed (the dispatcher queues it again).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import ModuleType

from imageserver.jobs.dispatch import STOPPED_EXIT
from imageserver.jobs.kinds import KINDS
from imageserver.jobs.owner import this_owner
from imageserver.jobs.store import DONE
from imageserver.jobs.store import FAILED
from imageserver.jobs.store import Job
from imageserver.jobs.store import JobStore
from imageserver.state.store import Store

HEARTBEAT_SECONDS = 1.0
PR_SET_PDEATHSIG = 1


class Stopped(BaseException):
    """The job must stop now (SIGTERM, or it was ended by someone else)."""


@dataclass
class Context:
    """What a kind's `run` gets: the job, its store and the way to end it."""

    job: Job
    jobs: JobStore
    store: Store

    def done(self, progress: dict) -> None:
        """End the job `done` with its last progress."""
        self.jobs.end(self.job.id, DONE, None, progress, worker=this_owner())

    def fail(self, detail: str, progress: dict | None = None) -> None:
        """End the job `failed` with the one line that says why."""
        self.jobs.end(self.job.id, FAILED, detail, progress, worker=this_owner())


def main(argv: list[str]) -> int:
    """Run one job; the exit status tells the dispatcher how it ended."""
    database, job_id, owner = argv
    _die_with_parent(owner)
    signal.signal(signal.SIGTERM, _raise_stopped)
    store = Store(database)
    jobs = JobStore(store, time.time)
    try:
        job = jobs.adopt(job_id, owner)
        if job is None or job.kind not in KINDS:
            return 0  # taken back (an unload, a recovery) before this process started
        context = Context(job, jobs, store)
        module = importlib.import_module(KINDS[job.kind].module)
        _heartbeat(context, module)
        try:
            module.run(context)
        except Exception as exc:  # the process's boundary: the row must say what happened
            context.fail(f"{type(exc).__name__}: {exc}")
            return 1
    except Stopped:
        return STOPPED_EXIT
    return 0


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped()


def _die_with_parent(owner: str) -> None:
    """Get SIGTERM when the starting thread dies; exit if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the heartbeat's parent check remains
        pass
    if str(os.getppid()) != owner.rsplit(":", 2)[1]:
        sys.exit(STOPPED_EXIT)


def _heartbeat(context: Context, module: ModuleType) -> None:
    """Beat every second; stop this process when the job is no longer ours or wanted."""
    parent = os.getppid()
    wanted = getattr(module, "unwanted_because", None)

    def loop() -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            try:
                reason = wanted(context) if wanted else None
                if reason is not None:
                    context.fail(reason)
                if reason is not None or not context.jobs.beat(context.job.id):
                    break
            except Exception:  # a busy database: try again next beat
                continue
            if os.getppid() != parent:
                break
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=loop, name="heartbeat", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
