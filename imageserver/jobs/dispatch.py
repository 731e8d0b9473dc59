"""Start process jobs within their limits, reap their processes, recover what a death left.

One `Dispatcher` runs in each web worker (a daemon thread). Every pass it claims queued jobs
while fewer than the kind's limit run (the claim counts running jobs in the same UPDATE, so
the limit holds across all workers) and starts each in a fresh process
(`python -m imageserver.jobs.child`), from a thread that then waits for it: the child dies
with that thread (`PR_SET_PDEATHSIG`), and when it exits the thread reaps it at once. A job
its process left unfinished is failed with what happened (killed by a signal: a crash or
`kill -9`), or queued again when the process was only asked to stop (`SIGTERM`: a server
shutting down). A job whose owner worker died with it is queued again by any worker's next
pass, failed after `MAX_ATTEMPTS`: never left `running`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time

from imageserver.jobs import owner as owners
from imageserver.jobs.kinds import KINDS
from imageserver.jobs.store import FAILED
from imageserver.jobs.store import QUEUED
from imageserver.jobs.store import RUNNING
from imageserver.jobs.store import Job
from imageserver.jobs.store import JobStore
from imageserver.settings.children import module_command

log = logging.getLogger(__name__)

PASS_SECONDS = 0.5  # how often a worker looks for queued jobs when nobody pokes it
RECOVERY_SECONDS = 2.0
MAX_ATTEMPTS = 3
STALE_SECONDS = 30.0  # an owner on another host is dead after this much heartbeat silence
STOPPED_EXIT = 75  # the child was asked to stop (SIGTERM): the job may resume


class Dispatcher:
    """Claims, starts, reaps and recovers the process jobs of one worker."""

    def __init__(self, jobs: JobStore, database: str, limits: dict[str, int]) -> None:
        self.jobs = jobs
        self.database = database
        self.limits = limits
        self._wake = threading.Event()
        self._recovered_at = 0.0

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run passes in a daemon thread until `stop` is set."""

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.run_pass()
                except Exception:  # a locked database now is no reason to stop trying
                    log.exception("job dispatch failed")
                self._wake.wait(PASS_SECONDS)
                self._wake.clear()

        thread = threading.Thread(target=loop, name="job-dispatch", daemon=True)
        thread.start()
        return thread

    def poke(self) -> None:
        """Look for queued jobs now (a job was just created in this worker)."""
        self._wake.set()

    def run_pass(self) -> None:
        """Recover orphaned jobs (every few seconds), then start what the limits allow."""
        now = time.monotonic()
        if now - self._recovered_at >= RECOVERY_SECONDS:
            self._recovered_at = now
            self.recover()
        for job in self.jobs.unfinished(tuple(self.limits)):
            if job.state == QUEUED and self.jobs.claim(job.id, job.kind, self.limits[job.kind]):
                threading.Thread(
                    target=self._run_child, args=(job.id,), name=f"job-{job.id}", daemon=True
                ).start()

    def recover(self) -> None:
        """Queue again (or fail) every running job whose owner and process are both gone."""
        now = self.jobs.clock()
        for job in self.jobs.unfinished(tuple(self.limits)):
            if job.state == RUNNING and _orphaned(job, now):
                if job.attempts >= MAX_ATTEMPTS:
                    detail = f"interrupted {job.attempts} times (the server stopped); giving up"
                    self.jobs.end(job.id, FAILED, detail)
                elif self.jobs.requeue(job, "resumed after the server stopped"):
                    log.info("resuming %s job %s", job.kind, job.id)
                    self.poke()

    def _run_child(self, job_id: str) -> None:
        """Start the job's process and wait for it (this thread lives as long as the child)."""
        command, env = module_command(
            "imageserver.jobs.child", self.database, job_id, owners.this_owner()
        )
        try:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.jobs.end(job_id, FAILED, f"cannot start the job's process: {exc}")
            return
        code = process.wait()
        try:
            self._reaped(job_id, code)
        except Exception:
            log.exception("job %s: recording its process's end failed", job_id)

    def _reaped(self, job_id: str, code: int) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.finished or job.owner != owners.this_owner():
            return  # it ended itself, or someone stopped it (an unload)
        if code == STOPPED_EXIT and job.attempts < MAX_ATTEMPTS:
            self.jobs.requeue(job, "resumed after its process was stopped")
            self.poke()
            return
        self.jobs.end(job_id, FAILED, describe_exit(job, code))


def describe_exit(job: Job, code: int) -> str:
    """The one line that says how a job's process ended without ending its job."""
    noun = KINDS[job.kind].noun if job.kind in KINDS else job.kind
    if code == STOPPED_EXIT:
        return f"the {noun} process was stopped {job.attempts} times; giving up"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the {noun} process was killed by {name}"
    return f"the {noun} process exited with status {code}"


def _orphaned(job: Job, now: float) -> bool:
    """Tell whether nobody runs or watches this job any more."""
    if owners.is_local(job.owner):
        return not owners.alive(job.owner) and not owners.alive(job.worker)
    return job.heartbeat is None or now - job.heartbeat > STALE_SECONDS


def stop(jobs: JobStore, job: Job, detail: str) -> None:
    """End an unfinished job `failed` with `detail` and stop its process, if one runs here."""
    if not jobs.end(job.id, FAILED, detail):
        return
    pid = owners.pid_of(job.worker)
    if pid is not None and owners.alive(job.worker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def limits(video_workers: int) -> dict[str, int]:
    """The most processes of each kind at a time, from the settings."""
    return {"video": video_workers}
