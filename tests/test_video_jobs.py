"""Long videos load in the background, in their own process (#29), against the real server.

docs/API.md#long-videos. Videos are made here with PyAV (`tests/support/recording.py`), long
enough to watch the extraction run and small enough to keep the tests fast. The extraction
process is found by its job row in the state database, to be killed like a crash would.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.support import recording
from tests.support.environment import clean_env
from tests.support.server import PROJECT_ROOT
from tests.support.waiting import wait_until

SIZE = (192, 108)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, recording.Recording]:
    """A 12 s and a 120 s recording (H.264 MP4), tiny frames."""
    folder = tmp_path_factory.mktemp("jobvideos")
    return {
        "short": recording.make_recording(folder / "short.mp4", seconds=12, fps=10, size=SIZE),
        "long": recording.make_recording(folder / "long.mp4", seconds=120, fps=5, size=SIZE),
    }


def fresh(video: recording.Recording, folder: Path, name: str = "rec.mp4") -> Path:
    """A copy of a recording: a new file, so nothing of an earlier test's extraction is reused."""
    copy = folder / name
    copy.write_bytes(video.path.read_bytes())
    return copy


def state_db(api: Api) -> sqlite3.Connection:
    """A read-only connection to the server's state database."""
    path = api.server.state_dir / "state.sqlite3"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def extraction_pid(api: Api) -> int:
    """The process id of the running extraction, from its job row (waits until it has one)."""

    def pid() -> int | None:
        with state_db(api) as conn:
            row = conn.execute(
                "SELECT worker FROM jobs WHERE kind = 'video' AND state = 'running'"
                " AND worker IS NOT NULL"
            ).fetchone()
        return int(row[0].rsplit(":", 2)[1]) if row else None

    wait_until(lambda: pid() is not None, timeout=20, message="an extraction process")
    found = pid()
    assert found is not None
    return found


def alive(pid: int) -> bool:
    """Tell whether a process runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def directory(api: Api, dir_id: str) -> dict:
    response = api.get(f"/api/directories/{dir_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_end(api: Api, dir_id: str, timeout: float = 60) -> dict:
    """Poll the directory until its extraction is no longer running; return it."""
    wait_until(
        lambda: directory(api, dir_id)["extraction"]["state"] != "running",
        timeout=timeout,
        message="the extraction to end",
    )
    return directory(api, dir_id)


def assert_every_listed_frame_is_whole(api: Api, dir_id: str) -> int:
    """Every listed frame answers 200 with its listed size and a whole JPEG; return the count."""
    page = api.get(f"/api/directories/{dir_id}/images", params={"limit": 10000}).json()
    for entry in page["images"]:
        image = api.session.get(entry["url"], timeout=10)
        assert image.status_code == 200
        assert len(image.content) == entry["size"]
        assert image.content[:2] == b"\xff\xd8" and image.content[-2:] == b"\xff\xd9"
    return len(page["images"])


def test_wait_false_answers_at_once_and_frames_appear_in_order(api, videos, tmp_path):
    started = time.monotonic()
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=False)
    assert time.monotonic() - started < 2.0
    extraction = loaded["extraction"]
    assert extraction["state"] == "running"
    assert extraction["duration"] == pytest.approx(120.0)
    assert extraction["frames"] == loaded["image_count"] < 600
    assert list(loaded)[-1] == "extraction"
    seen: list[list[str]] = []
    while True:
        body = directory(api, loaded["id"])
        page = api.get(f"/api/directories/{loaded['id']}/images", params={"limit": 10000})
        names = [e["name"] for e in page.json()["images"]]
        times = [e["t"] for e in page.json()["images"]]
        assert names == sorted(names) and times == sorted(times)
        assert not seen or names[: len(seen[-1])] == seen[-1]  # frames only ever add
        seen.append(names)
        if body["extraction"]["state"] != "running":
            break
        time.sleep(0.2)
    assert body["extraction"]["state"] == "done"
    assert body["image_count"] == body["extraction"]["frames"] == 600
    assert body["extraction"]["seconds_done"] == pytest.approx(120.0)
    partial = [len(names) for names in seen if 0 < len(names) < 600]
    assert partial, "no listing saw the extraction part-way"
    assert assert_every_listed_frame_is_whole(api, loaded["id"]) == 600


def test_listed_frames_are_whole_while_it_runs(api, videos, tmp_path):
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"fps": 4}, wait=False)
    checked = 0
    while directory(api, loaded["id"])["extraction"]["state"] == "running":
        checked = max(checked, assert_every_listed_frame_is_whole(api, loaded["id"]))
    assert checked > 0


def test_wait_true_answers_at_the_end_and_a_reload_is_done_at_once(api, videos):
    loaded = api.load(videos["short"].path, frames={"fps": 2}, wait=True)
    assert loaded["extraction"] == {
        "state": "done",
        "frames": 24,
        "seconds_done": 12.0,
        "duration": 12.0,
    }
    assert loaded["image_count"] == 24
    again = api.load(videos["short"].path, frames={"fps": 2}, wait=False)
    assert again["id"] == loaded["id"] and again["extraction"]["state"] == "done"
    assert again["image_count"] == 24
    listed = api.get("/api/directories").json()["directories"]
    assert [d["extraction"]["state"] for d in listed if d["id"] == loaded["id"]] == ["done"]


def test_a_number_waits_at_most_that_long(api, videos, tmp_path):
    started = time.monotonic()
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=0.5)
    assert time.monotonic() - started < 5.0
    assert loaded["extraction"]["state"] == "running"
    assert api.delete(f"/api/directories/{loaded['id']}").status_code == 200


def test_a_bounded_wait_counts_from_the_request_probe_included(api, videos, tmp_path):
    # The server keeps 0.25 s of the wait for its answer; the probe (a child process that
    # imports PyAV) takes 0.3-2 s, so a wait counted from the probe's end would overrun.
    started = time.monotonic()
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=4)
    assert time.monotonic() - started < 4.25  # running, or done sooner on a quiet machine
    assert loaded["extraction"]["state"] in ("running", "done")
    assert api.delete(f"/api/directories/{loaded['id']}").status_code == 200


@pytest.mark.parametrize("wait", ["soon", -1, 601, None])
def test_a_bad_wait_is_422(api, videos, wait):
    response = api.post("/load-directory", json={"path": str(videos["short"].path), "wait": wait})
    if wait is None:  # null is "absent"
        assert response.status_code == 200
        return
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "wait"]]


def test_a_folder_has_no_extraction(api, frames):
    loaded = api.load(frames)
    assert "extraction" not in loaded
    assert "extraction" not in directory(api, loaded["id"])


def test_frames_over_max_pixels_are_422_before_anything_is_stored(api, tmp_path):
    huge = recording.huge_frames_video(tmp_path / "bomb.mov")  # 12000x12000, 35 KB
    response = api.post("/load-directory", json={"path": str(huge)})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "IMAGE_SERVER_MAX_PIXELS" in detail and "12000x12000" in detail
    assert not (api.server.state_dir / "frames").exists() or not any(
        p.name.startswith("bomb") for p in (api.server.state_dir / "frames").iterdir()
    )
    assert api.get("/api/directories").json()["directories"] == []


@pytest.mark.parametrize("frames", [{"fps": 2}, {"every": 3}, {"scene": 0.3}])
def test_too_many_frames_is_422_naming_the_setting(server_factory, videos, frames):
    api = Api(server_factory(env={"IMAGE_SERVER_VIDEO_MAX_FRAMES": "20"}))
    response = api.post(
        "/load-directory", json={"path": str(videos["short"].path), "frames": frames}
    )
    assert response.status_code == 422, response.text
    assert "IMAGE_SERVER_VIDEO_MAX_FRAMES (20)" in response.json()["detail"]
    assert not (api.server.state_dir / "frames").exists()
    assert api.get("/api/directories").json()["directories"] == []
    # Under the limit it loads: 12 s at 1 fps is 12 frames.
    assert api.load(videos["short"].path, wait=True)["extraction"]["state"] == "done"


def test_killing_the_extraction_process_fails_the_job_and_the_server_lives(api, videos, tmp_path):
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=False)
    pid = extraction_pid(api)
    wait_until(lambda: directory(api, loaded["id"])["image_count"] > 0, timeout=20)
    os.kill(pid, signal.SIGKILL)
    ended = wait_for_end(api, loaded["id"], timeout=20)
    assert ended["extraction"]["state"] == "failed"
    assert ended["extraction"]["detail"] == "the extraction process was killed by SIGKILL"
    assert ended["image_count"] == ended["extraction"]["frames"] > 0
    assert assert_every_listed_frame_is_whole(api, loaded["id"]) == ended["image_count"]
    assert api.get("/healthz").status_code == 200
    # Loading it again runs it again, to the end.
    again = api.load(tmp_path / "rec.mp4", frames={"every": 1}, wait=True)
    assert again["extraction"]["state"] == "done" and again["image_count"] == 600
    with state_db(api) as conn:
        (folder,) = conn.execute(
            "SELECT real_path FROM directories WHERE id = ?", (loaded["id"],)
        ).fetchone()
    assert list(Path(folder).glob(".tmp-*")) == []  # what the killed process left is gone


@pytest.mark.parametrize("how", ["delete", "unload"])
def test_unloading_stops_the_extraction_process(api, videos, tmp_path, how):
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=False)
    pid = extraction_pid(api)
    if how == "delete":
        assert api.delete(f"/api/directories/{loaded['id']}").status_code == 200
    else:  # the first version's unload of the current directory
        assert api.post("/unload").json()["status"] == "success"
    wait_until(lambda: not alive(pid), timeout=10, message="the extraction process to stop")
    with state_db(api) as conn:
        states = conn.execute("SELECT state, detail FROM jobs WHERE kind = 'video'").fetchall()
    assert ("failed", "stopped: the directory was unloaded") in states
    assert not any(state in ("queued", "running") for state, _ in states)


def test_a_full_disk_fails_the_job_with_a_clear_detail(server_factory, videos):
    api = Api(server_factory(env={"IMAGE_SERVER_TEST_DISK_FULL_AFTER": "5"}))
    loaded = api.load(videos["short"].path, frames={"fps": 2}, wait=True)
    assert loaded["extraction"]["state"] == "failed"
    assert loaded["extraction"]["detail"] == "cannot write frames: No space left on device"
    assert loaded["image_count"] == 4
    assert assert_every_listed_frame_is_whole(api, loaded["id"]) == 4


def test_videos_beyond_the_limit_wait_in_a_queue(api, videos, tmp_path):
    other = fresh(videos["long"], tmp_path, "other.mp4")
    first = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=False)
    second = api.load(other, frames={"every": 1}, wait=False)
    assert second["extraction"]["state"] == "running"
    most = 0
    while any(directory(api, d["id"])["extraction"]["state"] == "running" for d in (first, second)):
        with state_db(api) as conn:
            running = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'video' AND state = 'running'"
            ).fetchone()[0]
        most = max(most, running)
        assert running <= 1  # IMAGE_SERVER_VIDEO_WORKERS=1 across both workers
        time.sleep(0.1)
    assert most == 1
    assert directory(api, second["id"])["image_count"] == 600


@pytest.mark.parametrize("how", ["stop", "kill9"])
def test_a_restart_mid_extraction_resumes_it(server_factory, videos, tmp_path, how):
    state = tmp_path / "state"
    api = Api(server_factory(state_dir=state))
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=False)
    pid = extraction_pid(api)
    wait_until(lambda: directory(api, loaded["id"])["image_count"] > 0, timeout=20)
    if how == "stop":
        api.server.stop()
    else:  # a crash of the whole server, the extraction process with it
        api.server.kill9()
    wait_until(lambda: not alive(pid), timeout=10, message="the extraction to stop with it")
    again = Api(server_factory(state_dir=state))
    ended = wait_for_end(again, loaded["id"], timeout=60)
    assert ended["extraction"]["state"] == "done"
    assert ended["image_count"] == 600
    assert assert_every_listed_frame_is_whole(again, loaded["id"]) == 600


def pss_kib(root_pid: int) -> int:
    """PSS of a process and its descendants (KiB), from /proc/<pid>/smaps_rollup."""
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
            children = [c for t in tasks for c in (t / "children").read_text().split()]
        except OSError:
            continue
        total += sum(
            int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
        )
        pending += [int(child) for child in children]
    return total


def test_idle_memory_comes_back_after_an_extraction(server_factory, videos, tmp_path):
    api = Api(server_factory())
    api.get("/api/directories")
    time.sleep(1.0)  # let both workers settle
    fresh = pss_kib(api.server.process.pid)
    loaded = api.load(videos["long"].path, frames={"every": 1}, wait=True)
    assert loaded["extraction"]["state"] == "done"
    api.get(f"/api/directories/{loaded['id']}/images", params={"unique": "true"})
    wait_until(lambda: not _extraction_running(api), timeout=10)
    time.sleep(1.0)
    after = pss_kib(api.server.process.pid)
    print(f"idle PSS fresh {fresh} KiB, after extraction {after} KiB")
    assert after - fresh < 25 * 1024
    # The decoder never entered the server's processes: no FFmpeg library is mapped.
    for pid in server_pids(api.server.process.pid):
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libavcodec" not in maps and "/av/" not in maps, pid


def server_pids(root_pid: int) -> list[int]:
    """The server's processes: the master and its workers (no extraction runs now)."""
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def _extraction_running(api: Api) -> bool:
    with state_db(api) as conn:
        rows = conn.execute("SELECT worker FROM jobs WHERE kind = 'video'").fetchall()
    return any(worker and alive(int(worker.rsplit(":", 2)[1])) for (worker,) in rows)


def test_unique_facts_and_sheets_follow_the_frames_so_far(api, videos, tmp_path):
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"fps": 5}, wait=False)
    dir_id = loaded["id"]
    totals: list[int] = []
    while True:
        running = directory(api, dir_id)["extraction"]["state"] == "running"
        count = directory(api, dir_id)["image_count"]
        unique = api.get(f"/api/directories/{dir_id}/images", params={"unique": "true"})
        assert unique.status_code == 200
        kept = unique.json()
        assert sum(e["duplicates"] + 1 for e in kept["images"]) >= count
        totals.append(kept["total"])
        facts = api.get(f"/api/directories/{dir_id}/images", params={"facts": "true"}).json()
        assert all(e["width"] == SIZE[0] and e["format"] == "JPEG" for e in facts["images"])
        if count:
            sheet = api.get(f"/d/{dir_id}/sheet", params={"from": "frame_000001.jpg", "count": 4})
            assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("image/")
        if not running:
            break
        time.sleep(0.2)
    assert totals == sorted(totals) and totals[-1] > 1
    # The last answer equals a listing computed from scratch on the finished folder.
    full = api.get(f"/api/directories/{dir_id}/images", params={"limit": 10000}).json()
    assert full["total"] == 600


def test_the_gallery_shows_the_extraction(api, videos, tmp_path):
    loaded = api.load(fresh(videos["long"], tmp_path), frames={"every": 1}, wait=False)
    page = api.get(f"/gallery/{loaded['id']}")
    assert page.status_code == 200
    assert 'id="extraction" class="extraction" data-state="running"' in page.text
    assert "extracting: " in page.text and 'id="extraction-bar"' in page.text
    assert "extracting: " in api.get("/gallery").text
    wait_for_end(api, loaded["id"])
    page = api.get(f"/gallery/{loaded['id']}")
    assert 'data-state="done"' in page.text and "done: 600 frames" in page.text
    folder = api.get("/gallery").text
    assert "done: 600 frames" in folder


def test_a_timer_that_unloads_the_video_stops_its_extraction(server_factory, videos, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    api = Api(server_factory(clock_file=clock))
    loaded = api.load(
        fresh(videos["long"], tmp_path), frames={"every": 1}, timeout_minutes=1, wait=False
    )
    pid = extraction_pid(api)
    clock.write_text("120")  # two minutes later: the next read applies the deadline
    assert api.get(f"/api/directories/{loaded['id']}").status_code == 404
    wait_until(lambda: not alive(pid), timeout=15, message="the extraction process to stop")
    with state_db(api) as conn:
        states = conn.execute("SELECT state, detail FROM jobs WHERE kind = 'video'").fetchall()
    assert states == [("failed", "stopped: the directory was unloaded")]


def test_a_growing_recording_loaded_with_watch_is_followed(server_factory, tmp_path):
    # A separate process writes an MKV a step a second, as OBS does while it records; the
    # server follows it, lists frames while it grows, and ends once it stopped growing.
    api = Api(server_factory(env={"IMAGE_SERVER_VIDEO_FOLLOW_IDLE_S": "4"}))
    video = tmp_path / "live.mkv"
    steps = 8
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.video_files", str(video), str(steps), "30"],
        cwd=PROJECT_ROOT,
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "step 0"
        loaded = api.load(video, watch=True, wait=False)
        assert loaded["extraction"]["state"] == "running"
        while_growing = []
        for _ in range(steps - 1):
            time.sleep(1.0)  # the writer's pace: well under the idle time
            body = directory(api, loaded["id"])
            assert body["extraction"]["state"] == "running"
            while_growing.append(body["image_count"])
            writer.stdin.write("\n")
            writer.stdin.flush()
            writer.stdout.readline()
        assert writer.wait(timeout=20) == 0
        ended = wait_for_end(api, loaded["id"], timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert ended["extraction"]["state"] == "done"
    assert while_growing == sorted(while_growing) and while_growing[-1] > 0
    assert ended["image_count"] > while_growing[-1]
    assert assert_every_listed_frame_is_whole(api, loaded["id"]) == ended["image_count"]
