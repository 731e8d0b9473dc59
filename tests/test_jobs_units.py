"""The job table and the dispatcher's rules, on a real SQLite file, without a server (#29).

The claim's limit holds across processes because it is one conditional UPDATE; a job whose
owner and worker are dead is queued again, and failed after its attempts, never left running.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from imageserver.jobs import dispatch
from imageserver.jobs import owner as owners
from imageserver.jobs.store import DONE
from imageserver.jobs.store import FAILED
from imageserver.jobs.store import QUEUED
from imageserver.jobs.store import RUNNING
from imageserver.jobs.store import JobStore
from imageserver.state.store import Store


@pytest.fixture
def jobs(tmp_path: Path) -> JobStore:
    store = Store(str(tmp_path / "state.sqlite3"))
    store.initialise()
    table = JobStore(store, time.time)
    table.initialise()
    return table


def dead_owner() -> str:
    """The owner name of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    name = owners.owner_of(process.pid)
    process.wait()
    return name


def force(jobs: JobStore, job_id: str, **columns: object) -> None:
    """Set columns of a job row directly (what another, now dead, process left)."""
    sets = ", ".join(f"{name} = ?" for name in columns)
    with jobs.store.write() as conn:
        conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*columns.values(), job_id))


def test_a_claim_respects_the_limit_of_its_kind(jobs):
    first = jobs.create("video", "a", {}, {})
    second = jobs.create("video", "b", {}, {})
    assert jobs.claim(first.id, "video", 1)
    assert not jobs.claim(second.id, "video", 1)  # one runs already
    assert not jobs.claim(first.id, "video", 1)  # not queued any more
    assert jobs.claim(second.id, "video", 2)
    assert [j.state for j in jobs.unfinished(("video",))] == [RUNNING, RUNNING]


def test_one_unfinished_job_per_key(jobs):
    first = jobs.create("video", "folder", {"n": 1}, {})
    assert jobs.create("video", "folder", {"n": 2}, {}).id == first.id
    jobs.end(first.id, DONE, None)
    again = jobs.create("video", "folder", {"n": 3}, {})
    assert again.id != first.id and again.state == QUEUED
    assert jobs.get(first.id) is None  # the finished one is forgotten
    assert jobs.latest("video", "folder") == again


def test_only_the_adopting_worker_writes_progress_and_ends(jobs):
    job = jobs.create("video", "k", {}, {})
    assert jobs.claim(job.id, "video", 1)
    assert jobs.adopt(job.id, "someone:1:2") is None  # not the claimant's child
    adopted = jobs.adopt(job.id, owners.this_owner())
    assert adopted is not None and adopted.worker == owners.this_owner()
    with jobs.store.write() as conn:
        assert jobs.record_progress(conn, job.id, {"frames": 3})
    assert jobs.get(job.id).progress == {"frames": 3}
    assert not jobs.end(job.id, DONE, None, worker="another:2:3")
    assert jobs.end(job.id, FAILED, "why", worker=owners.this_owner())
    assert not jobs.beat(job.id)  # ended: its process must stop
    assert jobs.get(job.id).detail == "why"


def test_a_job_left_running_by_dead_processes_is_queued_again_then_failed(jobs):
    job = jobs.create("video", "k", {}, {})
    force(jobs, job.id, state=RUNNING, owner=dead_owner(), worker=dead_owner(), attempts=1)
    dispatcher = dispatch.Dispatcher(jobs, jobs.store.path, {"video": 0})  # starts nothing
    dispatcher.recover()
    requeued = jobs.get(job.id)
    assert requeued.state == QUEUED and requeued.detail == "resumed after the server stopped"
    force(jobs, job.id, state=RUNNING, owner=dead_owner(), attempts=dispatch.MAX_ATTEMPTS)
    dispatcher.recover()
    failed = jobs.get(job.id)
    assert failed.state == FAILED and failed.detail.startswith("interrupted 3 times")


def test_a_live_owner_keeps_its_job(jobs):
    job = jobs.create("video", "k", {}, {})
    force(jobs, job.id, state=RUNNING, owner=owners.this_owner(), worker=dead_owner())
    dispatch.Dispatcher(jobs, jobs.store.path, {"video": 1}).recover()
    assert jobs.get(job.id).state == RUNNING  # its owner reaps the dead worker itself


@pytest.mark.parametrize(
    "code,detail",
    [
        (-9, "the extraction process was killed by SIGKILL"),
        (-11, "the extraction process was killed by SIGSEGV"),
        (2, "the extraction process exited with status 2"),
    ],
)
def test_how_a_process_ended_is_said_in_one_line(jobs, code, detail):
    job = jobs.create("video", "k", {}, {})
    assert dispatch.describe_exit(job, code) == detail


def test_a_reused_pid_is_not_the_owner():
    me = owners.this_owner()
    host, pid, started = me.rsplit(":", 2)
    assert owners.alive(me)
    assert not owners.alive(f"{host}:{pid}:{int(started) + 1}")
    assert not owners.alive(dead_owner())
    assert not owners.alive(None)
