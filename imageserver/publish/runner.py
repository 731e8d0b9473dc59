"""Run the API's publish jobs in background threads of the worker that owns them.

`JobRunner.start` runs a queued job in a daemon thread (a shutdown never waits for an
upload: the job is resumed at the next start). Every outcome is written to the job's row:
`done` with the URLs, or `failed` with a one-line `detail`, including for an unexpected
error, so no thread can leave a job `running`. `recover` claims the jobs whose process died
and resumes them; a job interrupted `MAX_ATTEMPTS` times is failed instead.
"""

from __future__ import annotations

import logging
import threading
import time

from imageserver.publish.jobs import Job
from imageserver.publish.jobs import JobStore
from imageserver.publish.manifest import manifest_path
from imageserver.publish.spec import Counts
from imageserver.publish.spec import PublishSpec
from imageserver.settings.config import Config
from imageserver.settings.publish_target import TargetError
from imageserver.settings.publish_target import allowed
from imageserver.settings.publish_target import parse_target

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
PROGRESS_SECONDS = 0.25  # at most this often a running job writes its row
# How often the background work looks for jobs whose process died.
RECOVERY_SECONDS = 2.0


class JobRunner:
    """Start, run and recover publish jobs for one app."""

    def __init__(self, jobs: JobStore, config: Config) -> None:
        self.jobs = jobs
        self.config = config

    def start(self, job: Job) -> None:
        """Run `job` in a daemon thread of this process."""
        thread = threading.Thread(
            target=self.run, args=(job.id,), name=f"publish-job-{job.id}", daemon=True
        )
        thread.start()

    def run(self, job_id: str) -> None:
        """Run one job to its end, writing every outcome to its row (the thread's boundary)."""
        from imageserver.publish.publisher import publish  # boto3 loads with the first job
        from imageserver.publish.s3 import TargetUnavailable

        job = self.jobs.get(job_id)
        if job is None:
            return
        report = _Throttled(self.jobs, job_id)
        try:
            published = publish(self.spec_for(job), on_progress=report)
        except TargetUnavailable as exc:
            self.jobs.fail(job_id, str(exc), report.last)
        except Exception as exc:  # the thread's boundary: the row must say what happened
            log.exception("publish job %s failed", job_id)
            self.jobs.fail(job_id, f"{type(exc).__name__}: {exc}", report.last)
        else:
            self.jobs.finish(job_id, published)

    def spec_for(self, job: Job) -> PublishSpec:
        """Build the publish a job's row describes, with this server's settings."""
        request = job.request
        target = parse_target(request["target"])
        endpoint = self.config.publish_endpoint_url
        variant = (("preset", request["preset"]),) if request.get("preset") else ()
        return PublishSpec(
            root=job.root,
            target=target,
            manifest_path=manifest_path(self.config.state_dir, endpoint, target, job.root),
            recursive=job.recursive,
            variant=variant,
            url_ttl=request["url_ttl"],
            public_base_url=request.get("public_base_url"),
            endpoint_url=endpoint,
            workers=self.config.publish_workers,
            cache_max_age=self.config.cache_max_age,
            max_pixels=self.config.max_pixels,
        )

    def start_recovery(self, stop: threading.Event) -> threading.Thread:
        """Recover orphaned jobs now and every `RECOVERY_SECONDS` until `stop` is set.

        Not once only: a killed server's worker may still be dying when its successor starts
        (its job is then not orphaned yet), and a worker of a running server may die mid-job.
        One small query per pass and worker.
        """

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.recover()
                except Exception:  # a locked database now is no reason to stop trying
                    log.exception("publish job recovery failed")
                stop.wait(RECOVERY_SECONDS)

        thread = threading.Thread(target=loop, name="publish-job-recovery", daemon=True)
        thread.start()
        return thread

    def recover(self, jobs: list[Job] | None = None) -> None:
        """Resume (or fail) every unfinished job whose owner is gone; leave live ones alone."""
        now = self.jobs.clock()
        for job in self.jobs.unfinished() if jobs is None else jobs:
            if not job.orphaned(now):
                continue
            refusal = self._refusal(job)
            if refusal is not None:
                if self.jobs.claim(job, refusal):
                    self.jobs.fail(job.id, refusal)
                continue
            if self.jobs.claim(job, "resumed after its server process stopped"):
                log.info("resuming publish job %s", job.id)
                self.start(job)

    def _refusal(self, job: Job) -> str | None:
        """Say why an orphaned job must not be resumed, or None when it may be.

        The target is checked again: `IMAGE_SERVER_PUBLISH_TARGETS` may have changed since the
        job was accepted, and a restart must not publish where the settings now forbid it.
        """
        if job.attempts >= MAX_ATTEMPTS:
            return f"interrupted {job.attempts} times (the server stopped); giving up"
        target = job.request["target"]
        try:
            permitted = allowed(parse_target(target), self.config.publish_targets)
        except TargetError:
            permitted = False
        if not permitted:
            return f"Target not allowed: {target} (IMAGE_SERVER_PUBLISH_TARGETS changed)"
        return None


class _Throttled:
    """The progress callback of one job: writes its row at most every PROGRESS_SECONDS."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.last: Counts | None = None
        self._written_at = 0.0

    def __call__(self, counts: Counts) -> None:
        self.last = Counts(**vars(counts))
        now = time.monotonic()
        if now - self._written_at >= PROGRESS_SECONDS:
            self.jobs.progress(self.job_id, counts)
            self._written_at = now
