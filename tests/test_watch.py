"""Live folders against the real server: `"watch": true` follows the folder.

Frames written after the load are served within a second of being closed, never while they
are still being written; deletions answer 404, renames move, sub-folders of a recursive load
are followed, the watch survives a crash and a restart, and a folder of 100,000 files costs
no CPU at rest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import requests

from tests.conftest import Api
from tests.support.cli import run_cli
from tests.support.live import cpu_seconds
from tests.support.live import jpeg_bytes
from tests.support.live import process_group
from tests.support.live import write_file
from tests.support.waiting import wait_until

# The contract serves a closed frame within 1 s (docs/API.md#live-folders). The tests check 3x
# that, so a loaded 2-core CI machine does not fail them; `python -m bench.watch` measures the
# latency itself (p50/p99 close to first 200).
CONTRACT_SERVED_WITHIN_SECONDS = 1.0
SERVED_WITHIN_SECONDS = 3 * CONTRACT_SERVED_WITHIN_SECONDS
# Waits for things the contract gives no time for (a restart's rescan, a polled folder).
SLOW_WAIT_SECONDS = 10.0
# A watched folder at rest: the watcher must not poll it. Busy-polling 100,000 files would
# cost seconds of CPU in the window; 3x the 0.15 s first allowed stays far below that.
AT_REST_WINDOW_SECONDS = 3
AT_REST_CPU_SECONDS = 0.45


def wait_served(api: Api, dir_id: str, name: str, timeout: float = SERVED_WITHIN_SECONDS):
    """Wait until a frame answers 200 and return that answer."""
    return wait_until(
        lambda: served(api, dir_id, name), timeout, interval=0.01, message=f"{name} served"
    )


def wait_gone(api: Api, dir_id: str, name: str, timeout: float = SERVED_WITHIN_SECONDS) -> None:
    """Wait until a frame answers 404 and is no longer listed."""
    wait_until(lambda: gone(api, dir_id, name), timeout, interval=0.01, message=f"{name} gone")


def served(api: Api, dir_id: str, name: str) -> requests.Response | None:
    """Return the 200 answer for a frame, or None while it is not served."""
    response = api.get(f"/d/{dir_id}/{name}")
    return response if response.status_code == 200 else None


def gone(api: Api, dir_id: str, name: str) -> bool:
    """Tell whether a frame answers 404 and is no longer listed."""
    if api.get(f"/d/{dir_id}/{name}").status_code != 404:
        return False
    return name not in listed(api, dir_id)


def listed(api: Api, dir_id: str) -> list[str]:
    """Return the names in a directory's listing."""
    page = api.get(f"/api/directories/{dir_id}/images?limit=10000").json()
    return [image["name"] for image in page["images"]]


def summary(api: Api, dir_id: str) -> dict:
    return api.get(f"/api/directories/{dir_id}").json()


def test_frames_at_20_per_second_are_each_served_within_a_second_of_close(
    api: Api, tmp_path: Path
) -> None:
    folder = tmp_path / "stream"
    folder.mkdir()
    dir_id = api.load(folder, watch=True)["id"]
    frames = [(f"frame_{i:06d}.jpg", jpeg_bytes(i)) for i in range(200)]
    closed: dict[str, float] = {}
    delays: dict[str, float] = {}
    bodies_ok: list[bool] = []

    def read_them() -> None:
        reader = Api(api.server)  # another client, on its own connection
        for name, data in frames:

            def first_200(name: str = name) -> requests.Response | None:
                response = reader.get(f"/d/{dir_id}/{name}")
                if response.status_code == 200:
                    return response
                assert response.status_code == 404, response.text
                return None

            response = wait_until(first_200, 15, interval=0.005, message=f"{name} served")
            delays[name] = time.monotonic() - closed[name]
            bodies_ok.append(response.content == data)

    reader = threading.Thread(target=read_them)
    reader.start()
    start = time.monotonic()
    for i, (name, data) in enumerate(frames):
        # Pacing, not waiting: the writer keeps to 20 frames a second, as a recorder does.
        time.sleep(max(0.0, start + i / 20 - time.monotonic()))
        closed[name] = write_file(folder / name, data)
    reader.join(timeout=30)
    assert len(delays) == 200, f"only {len(delays)} frames were served"
    assert all(bodies_ok)
    assert max(delays.values()) < SERVED_WITHIN_SECONDS, sorted(delays.values())[-5:]
    assert listed(api, dir_id) == [name for name, _ in frames]


def test_a_slowly_written_frame_is_404_until_closed_and_never_truncated(
    api: Api, tmp_path: Path
) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    dir_id = api.load(folder, watch=True)["id"]
    data = jpeg_bytes(7, size=(640, 480))
    # (sent, answered, status, body size) of every request of the poller, monotonic times.
    answers: list[tuple[float, float, int, int]] = []
    done = threading.Event()

    def poll() -> None:
        reader = Api(api.server)
        while not done.is_set():
            sent = time.monotonic()
            response = reader.get(f"/d/{dir_id}/slow.jpg")
            answers.append((sent, time.monotonic(), response.status_code, len(response.content)))
            time.sleep(0.01)

    def sampled_since(moment: float) -> bool:
        return any(sent > moment for sent, _, _, _ in answers)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        # Five writes, 0.4 s or more apart (longer than any settling a rescan would allow),
        # and after each one the poller asks again: every partial state is seen.
        step = -(-len(data) // 5)
        with open(folder / "slow.jpg", "wb") as handle:
            for offset in range(0, len(data), step):
                handle.write(data[offset : offset + step])
                handle.flush()
                written = time.monotonic()
                time.sleep(0.4)
                wait_until(partial(sampled_since, written), message="a request after the write")
            assert "slow.jpg" not in listed(api, dir_id)  # complete, but still open
        closed = time.monotonic()
        during = [(status, size) for _, answered, status, size in answers if answered < closed]
        assert len(during) >= 5  # at least one answer per partial state
        assert all(status == 404 for status, _ in during), "served while being written"
        response = wait_served(api, dir_id, "slow.jpg")
        assert time.monotonic() - closed < SERVED_WITHIN_SECONDS + 0.2
        assert response.content == data
        # Let the poller read the complete frame a few more times before it stops.
        wait_until(
            lambda: sum(status == 200 for _, _, status, _ in answers) >= 5,
            message="five more answers of the poller",
        )
    finally:
        done.set()
        poller.join()
    assert {size for _, _, status, size in answers if status == 200} <= {len(data)}


def test_deleted_frame_is_404_and_renamed_frame_moves(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "edits"
    folder.mkdir()
    write_file(folder / "kept.jpg", jpeg_bytes(1))
    dir_id = api.load(folder, watch=True)["id"]
    write_file(folder / "doomed.jpg", jpeg_bytes(2))
    wait_served(api, dir_id, "doomed.jpg")
    os.remove(folder / "doomed.jpg")
    wait_gone(api, dir_id, "doomed.jpg")

    os.rename(folder / "kept.jpg", folder / "moved.jpg")
    wait_served(api, dir_id, "moved.jpg")
    wait_gone(api, dir_id, "kept.jpg")
    os.symlink(tmp_path / "outside.jpg", folder / "escape.jpg")  # leaves the root: never
    write_file(tmp_path / "outside.jpg", jpeg_bytes(3))
    os.link(folder / "moved.jpg", folder / "hard.jpg")  # links are complete at once
    os.symlink("moved.jpg", folder / "soft.jpg")
    wait_served(api, dir_id, "hard.jpg")
    wait_served(api, dir_id, "soft.jpg")
    assert listed(api, dir_id) == ["hard.jpg", "moved.jpg", "soft.jpg"]
    assert api.get(f"/d/{dir_id}/escape.jpg").status_code == 404
    assert summary(api, dir_id)["image_count"] == 3


def test_temporary_names_wait_for_the_rename(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "atomic"
    folder.mkdir()
    dir_id = api.load(folder, watch=True)["id"]
    for temporary in ("frame.jpg.part", "frame.tmp.jpg", ".~frame.jpg", "frame.jpg~"):
        write_file(folder / temporary, jpeg_bytes(3))
    # A barrier, not a sleep: the one watcher reads the folder's events in order, so once a
    # frame closed after the temporaries is served, their events have been handled too.
    write_file(folder / "barrier.jpg", jpeg_bytes(4))
    wait_served(api, dir_id, "barrier.jpg")
    assert listed(api, dir_id) == ["barrier.jpg"]
    os.remove(folder / "barrier.jpg")
    wait_gone(api, dir_id, "barrier.jpg")
    assert listed(api, dir_id) == []
    os.rename(folder / "frame.jpg.part", folder / "frame.jpg")
    wait_served(api, dir_id, "frame.jpg")
    assert listed(api, dir_id) == ["frame.jpg"]


def test_recursive_loads_follow_new_and_removed_sub_folders(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    (folder / "old").mkdir(parents=True)
    dir_id = api.load(folder, watch=True, recursive=True)["id"]
    write_file(folder / "old" / "a.jpg", jpeg_bytes(1))
    wait_served(api, dir_id, "old/a.jpg")

    (folder / "new" / "deeper").mkdir(parents=True)  # folders made after the load
    write_file(folder / "new" / "deeper" / "b.jpg", jpeg_bytes(2))
    wait_served(api, dir_id, "new/deeper/b.jpg")
    assert api.get("/images/new/deeper/b.jpg").status_code == 200

    os.rename(folder / "new", folder / "renamed")
    wait_served(api, dir_id, "renamed/deeper/b.jpg")
    wait_gone(api, dir_id, "new/deeper/b.jpg")
    write_file(folder / "renamed" / "deeper" / "c.jpg", jpeg_bytes(3))  # still watched
    wait_served(api, dir_id, "renamed/deeper/c.jpg")
    assert listed(api, dir_id) == ["old/a.jpg", "renamed/deeper/b.jpg", "renamed/deeper/c.jpg"]


def test_a_non_recursive_watch_ignores_sub_folders(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    dir_id = api.load(folder, watch=True)["id"]
    (folder / "sub").mkdir()
    write_file(folder / "sub" / "a.jpg", jpeg_bytes(1))
    write_file(folder / "top.jpg", jpeg_bytes(2))
    wait_served(api, dir_id, "top.jpg")
    assert listed(api, dir_id) == ["top.jpg"]


def test_status_and_listing_show_which_directories_are_watched(api: Api, tmp_path: Path) -> None:
    plain, live = tmp_path / "plain", tmp_path / "live"
    plain.mkdir()
    live.mkdir()
    plain_id = api.load(plain)["id"]
    loaded = api.load(live, watch=True)
    assert list(loaded)[:5] == ["status", "directory", "image_count", "message", "timeout"]
    # The load answers once the watcher follows the folder.
    assert loaded["watch"] is True and loaded["watch_mode"] == "inotify"
    status = api.get("/").json()
    assert list(status)[:7] == [
        "current_directory",
        "image_count",
        "image_list",
        "load_time",
        "timeout_minutes",
        "auto_unload_at",
        "time_remaining",
    ]
    assert status["watch"] is True and status["watch_mode"] == "inotify"
    by_id = {d["id"]: d for d in api.get("/api/directories").json()["directories"]}
    assert by_id[plain_id]["watch"] is False and by_id[plain_id]["watch_mode"] is None
    assert by_id[loaded["id"]]["watch"] is True
    assert list(by_id[plain_id])[:7] == [
        "id",
        "directory",
        "image_count",
        "load_time",
        "timeout_minutes",
        "auto_unload_at",
        "url_prefix",
    ]


def test_unload_stops_the_watch(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "stopped"
    folder.mkdir()
    dir_id = api.load(folder, watch=True)["id"]
    wait_until(
        lambda: summary(api, dir_id)["watch_mode"] == "inotify",
        SERVED_WITHIN_SECONDS,
        message="the watch to start",
    )
    assert api.delete(f"/api/directories/{dir_id}").status_code == 200
    api.load(folder)  # loaded again, without watch: nothing may follow the folder now
    # A barrier, not a sleep: another live folder, loaded after the unload (its load answers
    # once the one watcher follows it, so that watcher has seen the unload). Its events come
    # after late.jpg's, so once its frame is served, late.jpg's close has been handled.
    probe = tmp_path / "probe"
    probe.mkdir()
    probe_id = api.load(probe, watch=True)["id"]
    write_file(folder / "late.jpg", jpeg_bytes(1))
    write_file(probe / "after.jpg", jpeg_bytes(2))
    wait_served(api, probe_id, "after.jpg")
    assert api.get(f"/d/{dir_id}/late.jpg").status_code == 404
    assert listed(api, dir_id) == []


def test_reloading_a_live_folder_keeps_it_live(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "again"
    folder.mkdir()
    dir_id = api.load(folder, watch=True)["id"]
    write_file(folder / "a.jpg", jpeg_bytes(1))
    wait_served(api, dir_id, "a.jpg")
    again = api.load(folder, watch=True)
    assert again["image_count"] == 1 and again["watch_mode"] == "inotify"
    write_file(folder / "b.jpg", jpeg_bytes(2))
    wait_served(api, dir_id, "b.jpg")
    assert listed(api, dir_id) == ["a.jpg", "b.jpg"]


def test_the_watch_survives_a_crash_and_catches_what_changed_meanwhile(
    server_factory, tmp_path: Path
) -> None:
    folder = tmp_path / "durable"
    folder.mkdir()
    write_file(folder / "before.jpg", jpeg_bytes(1))
    state = tmp_path / "state"
    server = server_factory(state)
    api = Api(server)
    dir_id = api.load(folder, watch=True)["id"]
    write_file(folder / "live.jpg", jpeg_bytes(2))
    wait_served(api, dir_id, "live.jpg")
    server.kill9()

    os.remove(folder / "before.jpg")  # changes while nobody watches
    write_file(folder / "offline.jpg", jpeg_bytes(3))
    os.utime(folder / "offline.jpg", (time.time() - 60, time.time() - 60))

    api = Api(server_factory(state))
    wait_served(api, dir_id, "offline.jpg", SLOW_WAIT_SECONDS)
    wait_gone(api, dir_id, "before.jpg", SLOW_WAIT_SECONDS)
    write_file(folder / "after.jpg", jpeg_bytes(4))  # and still watching
    wait_served(api, dir_id, "after.jpg")
    assert listed(api, dir_id) == ["after.jpg", "live.jpg", "offline.jpg"]
    assert summary(api, dir_id)["watch"] is True


def test_polling_replaces_inotify_when_told_and_says_so(server_factory, tmp_path: Path) -> None:
    folder = tmp_path / "polled"
    folder.mkdir()
    server = server_factory(
        env={"IMAGE_SERVER_WATCH_MODE": "poll", "IMAGE_SERVER_WATCH_POLL_S": "0.2"}
    )
    api = Api(server)
    dir_id = api.load(folder, watch=True)["id"]
    write_file(folder / "a.jpg", jpeg_bytes(1))
    wait_served(api, dir_id, "a.jpg", SLOW_WAIT_SECONDS)
    os.remove(folder / "a.jpg")
    wait_gone(api, dir_id, "a.jpg", SLOW_WAIT_SECONDS)
    assert summary(api, dir_id)["watch_mode"] == "poll"
    assert "live folders: polling every 0.2s" in server.log()


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs when there is one: 100,000 files are made 5x faster than on ext4."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="watch-test-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(120)
def test_a_watched_folder_of_100000_files_costs_no_cpu_at_rest(
    server_factory, scratch: Path
) -> None:
    folder = scratch / "huge"
    folder.mkdir()
    for i in range(100_000):
        os.close(os.open(folder / f"f{i:06d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    server = server_factory()
    api = Api(server)
    dir_id = api.load(folder, watch=True)["id"]
    # The mode shows once the watcher's first rescan is done; then nothing may run.
    wait_until(
        lambda: summary(api, dir_id)["watch_mode"] == "inotify",
        SLOW_WAIT_SECONDS,
        message="the first rescan of 100,000 files",
    )
    # Nothing reports that the load's last writes and the workers' index reloads are over;
    # half a second lets them end before the measured window starts.
    time.sleep(0.5)

    pids = process_group(server.process.pid)
    before = cpu_seconds(pids)
    time.sleep(AT_REST_WINDOW_SECONDS)  # the measurement: a window at rest, nothing to await
    used = cpu_seconds(pids) - before
    assert used < AT_REST_CPU_SECONDS, (
        f"{used:.3f} s of CPU in {AT_REST_WINDOW_SECONDS} s at rest over {len(pids)} processes"
    )

    write_file(folder / "new.jpg", jpeg_bytes(1))
    wait_served(api, dir_id, "new.jpg")
    assert summary(api, dir_id)["image_count"] == 100_001


def test_the_cli_watch_flag_loads_a_live_folder(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "cli"
    folder.mkdir()
    write_file(folder / "a.jpg", jpeg_bytes(1))
    result = run_cli(
        "--dir",
        folder,
        "--server",
        api.base_url,
        "--output",
        tmp_path / "out",
        "--watch",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    dir_id = api.get("/api/directories").json()["current"]
    assert summary(api, dir_id)["watch"] is True
    write_file(folder / "b.jpg", jpeg_bytes(2))
    wait_served(api, dir_id, "b.jpg")
