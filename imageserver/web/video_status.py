"""Where a video's extraction is: the `extraction` object, waiting for it, stopping it (#29).

docs/API.md#long-videos. The job rows (`imageserver/jobs/store.py`) say the state, the
seconds done and the detail of a failure; the frame count is the directory's `image_count`,
so the two always agree. A finished folder whose job row is gone (an older server) is
`done` by its `manifest.json`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import current_app

from imageserver.jobs import dispatch
from imageserver.jobs.kinds import VIDEO
from imageserver.jobs.kinds import video_progress
from imageserver.jobs.store import FAILED
from imageserver.jobs.store import Job
from imageserver.jobs.store import JobStore
from imageserver.state.registry import Directory
from imageserver.video import framecache
from imageserver.web.context import Services

JOBS_KEY = "imageserver.jobs"
DISPATCHER_KEY = "imageserver.jobs.dispatcher"
WAIT_POLL_SECONDS = 0.1
DEFAULT_WAIT_SECONDS = 20.0


def job_store() -> JobStore:
    """Return this app's job table."""
    return current_app.extensions[JOBS_KEY]


def latest_job(svc: Services, directory: Directory) -> Job | None:
    """Return the newest extraction job of a directory's frames folder, or None."""
    return job_store().latest(VIDEO.name, directory.real_path)


def running_job(svc: Services, folder: str) -> Job | None:
    """Return the unfinished extraction job of `folder`, or None."""
    job = job_store().latest(VIDEO.name, folder)
    return job if job is not None and not job.finished else None


def start_job(svc: Services, folder: str, request: dict[str, Any], duration: float | None) -> Job:
    """Queue the extraction of `folder` and wake this worker's dispatcher."""
    job = job_store().create(VIDEO.name, folder, request, video_progress(0, 0.0, duration))
    dispatcher = current_app.extensions.get(DISPATCHER_KEY)
    if dispatcher is not None:
        dispatcher.poke()
    return job


def extraction(svc: Services, directory: Directory, is_video: bool) -> dict[str, Any] | None:
    """The `extraction` object of a video's directory; None for a folder."""
    if not is_video:
        return None
    job = latest_job(svc, directory)
    if job is None:
        return _without_job(directory)
    progress = job.progress
    body: dict[str, Any] = {
        "state": "running" if not job.finished else job.state,
        "frames": directory.image_count,
        "seconds_done": progress.get("seconds_done", 0.0),
        "duration": progress.get("duration"),
    }
    if job.state == FAILED:
        body["detail"] = job.detail
    return body


def _without_job(directory: Directory) -> dict[str, Any]:
    folder = Path(directory.real_path)
    try:
        manifest = framecache.read_manifest(folder)
        duration = framecache.read_duration(folder)
    except (OSError, ValueError, KeyError):
        return {
            "state": FAILED,
            "frames": directory.image_count,
            "seconds_done": 0.0,
            "duration": None,
            "detail": "the extraction did not finish",
        }
    last = max(manifest.values(), default=0.0)
    done = duration if duration is not None else last
    return {"state": "done", "frames": directory.image_count, "seconds_done": done,
            "duration": duration}  # fmt: skip


# Time kept back from a bounded wait to build and send the answer.
ANSWER_MARGIN_SECONDS = 0.25


def wait_seconds(wait: bool | float | None) -> float | None:
    """How long a load waits for the end: `false` 0, `true` for ever (None), absent 20 s."""
    if wait is None:
        return DEFAULT_WAIT_SECONDS
    if wait is True:
        return None
    if wait is False:
        return 0.0
    return float(wait)


def wait_for_end(
    svc: Services, directory: Directory, seconds: float | None, since: float
) -> Directory:
    """Wait until the directory's extraction ended, or `seconds` after `since` (the request's
    arrival, `time.monotonic()`) passed; return it afresh.

    Counted from the arrival, not from the end of the probe, so "at most 20 s" holds for the
    whole answer (docs/API.md#long-videos); `ANSWER_MARGIN_SECONDS` is left for the answer.
    """
    deadline = None if seconds is None else since + seconds - ANSWER_MARGIN_SECONDS
    while deadline is None or time.monotonic() < deadline:
        job = latest_job(svc, directory)
        if job is None or job.finished:
            break
        time.sleep(WAIT_POLL_SECONDS)
    return svc.registry.get(directory.id) or directory


def stop_extraction(svc: Services, directory: Directory) -> None:
    """Stop the running extraction of an unloaded directory (its process is killed)."""
    job = latest_job(svc, directory)
    if job is not None and not job.finished:
        dispatch.stop(job_store(), job, "stopped: the directory was unloaded")
