"""Per-directory deadlines (docs/API.md#timers), moved by a test clock, not by sleeping.

The dedicated servers run through `clock_server.py` with a frozen clock the test moves
(tests/support/clock.py): `clock.move(301)` means "301 seconds after the start", exactly, however
long the machine took to get there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.support.clock import FrozenClock
from tests.support.contract import NOTHING_LOADED
from tests.support.images import make_frames
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
REMAINING = re.compile(r"^(\d+)m (\d+)s$")
# Time promises of the contract are checked against SLACK times their value: a loaded 2-core CI
# machine must not fail them; the tight measurement belongs in bench/.
SLACK = 3


@pytest.fixture
def clock(tmp_path: Path) -> FrozenClock:
    return FrozenClock(tmp_path / "clock")


def move_clock(clock: FrozenClock, seconds: float) -> None:
    """Set the servers' clock to `seconds` after the test's start."""
    clock.move(seconds)


def epoch(timestamp: str) -> float:
    return time.mktime(time.strptime(timestamp, TIME_FORMAT))


def make_dirs(tmp_path: Path, *names: str) -> list[Path]:
    folders = []
    for name in names:
        folder = tmp_path / name
        make_frames(folder, 2)
        folders.append(folder)
    return folders


def is_loaded(api: Api, dir_id: str) -> bool:
    return api.get(f"/api/directories/{dir_id}").status_code == 200


def listed(api: Api) -> list[str]:
    return [d["id"] for d in api.get("/api/directories").json()["directories"]]


def assert_gone(api: Api, dir_id: str) -> None:
    """The directory is unloaded everywhere: listing, by id and its stable URLs."""
    wait_until(lambda: not is_loaded(api, dir_id), message=f"{dir_id} to be unloaded")
    assert dir_id not in listed(api)
    response = api.get(f"/api/directories/{dir_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Directory not found: {dir_id}"}
    assert api.get(f"/d/{dir_id}/frame_000000.jpg").status_code == 404


def assert_served(api: Api, dir_id: str, folder: Path) -> None:
    response = api.get(f"/d/{dir_id}/frame_000000.jpg")
    assert response.status_code == 200, response.text
    assert response.content == (folder / "frame_000000.jpg").read_bytes()


@pytest.fixture
def timed_server(server_factory, clock) -> ServerProcess:
    return server_factory(clock_file=clock.path)


@pytest.fixture
def tapi(timed_server):
    client = Api(timed_server)
    yield client
    client.session.close()


# -- one deadline fires at the right time -----------------------------------------------------


def test_deadline_unloads_the_directory_after_its_timeout_and_not_before(tapi, clock, frames):
    body = tapi.load(frames, timeout_minutes=5)
    dir_id = body["id"]
    assert re.fullmatch(
        r"Directory will be automatically unloaded at "
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(5 minutes\)",
        body["timeout"],
    ), body["timeout"]

    status = tapi.get("/").json()
    assert status["timeout_minutes"] == 5
    assert epoch(status["auto_unload_at"]) == clock.start + 300
    assert status["time_remaining"] == "5m 0s"
    assert REMAINING.match(status["time_remaining"])
    entry = tapi.get(f"/api/directories/{dir_id}").json()
    assert entry["timeout_minutes"] == 5
    assert entry["auto_unload_at"] == status["auto_unload_at"]

    move_clock(clock, 299)
    assert tapi.get("/").json()["current_directory"] == str(frames)
    assert_served(tapi, dir_id, frames)  # an image access: fixed mode does not slide
    assert tapi.get("/images/frame_000001.jpg").status_code == 200
    assert dir_id in listed(tapi)

    move_clock(clock, 301)
    wait_until(
        lambda: tapi.get("/").json() == NOTHING_LOADED,
        message=lambda: f"nothing loaded, GET / says {tapi.get('/').text}",
    )
    assert_gone(tapi, dir_id)
    assert tapi.get("/images/frame_000001.jpg").json() == {"detail": "No directory loaded"}
    assert tapi.get("/api/directories").json() == {"directories": [], "current": None}


def test_post_timeout_zero_cancels_the_current_deadline(tapi, clock, frames):
    dir_id = tapi.load(frames, timeout_minutes=5)["id"]
    response = tapi.post("/timeout/0")
    assert response.status_code == 200
    assert response.json()["timeout_enabled"] is False

    status = tapi.get("/").json()
    assert status["auto_unload_at"] is None
    assert status["time_remaining"] is None
    assert status["timeout_minutes"] is None
    assert tapi.get(f"/api/directories/{dir_id}").json()["auto_unload_at"] is None

    move_clock(clock, 10 * 24 * 3600)
    assert tapi.get("/").json()["current_directory"] == str(frames)
    assert_served(tapi, dir_id, frames)
    assert listed(tapi) == [dir_id]


def test_post_timeout_rearms_only_the_current_directory(tapi, clock, tmp_path):
    a, b = make_dirs(tmp_path, "a", "b")
    id_a = tapi.load(a, timeout_minutes=5)["id"]
    id_b = tapi.load(b, timeout_minutes=5)["id"]

    move_clock(clock, 60)
    response = tapi.post("/timeout/10")
    assert response.status_code == 200
    assert response.json()["message"].startswith("Timeout set to 10 minutes. Directory will be")
    assert tapi.get("/").json()["timeout_minutes"] == 10
    deadline_b = epoch(tapi.get(f"/api/directories/{id_b}").json()["auto_unload_at"])
    assert deadline_b == clock.start + 60 + 600
    deadline_a = epoch(tapi.get(f"/api/directories/{id_a}").json()["auto_unload_at"])
    assert deadline_a == clock.start + 300

    move_clock(clock, 301)
    assert_gone(tapi, id_a)
    assert is_loaded(tapi, id_b)
    assert tapi.get("/api/directories").json()["current"] == id_b

    move_clock(clock, 650)
    assert is_loaded(tapi, id_b)
    move_clock(clock, 670)
    assert_gone(tapi, id_b)
    assert tapi.get("/").json() == NOTHING_LOADED


def test_reloading_rearms_the_deadline(tapi, clock, frames):
    dir_id = tapi.load(frames, timeout_minutes=5)["id"]
    move_clock(clock, 240)
    assert tapi.load(frames, timeout_minutes=5)["id"] == dir_id
    rearmed = epoch(tapi.get("/").json()["auto_unload_at"])
    assert rearmed == clock.start + 240 + 300

    move_clock(clock, 400)
    assert tapi.get("/").json()["current_directory"] == str(frames)
    assert_served(tapi, dir_id, frames)

    move_clock(clock, 560)
    wait_until(lambda: tapi.get("/").json() == NOTHING_LOADED, message="nothing loaded")
    assert_gone(tapi, dir_id)


# -- stale timers never unload a newer load ---------------------------------------------------


def test_short_deadline_of_one_directory_never_unloads_another(tapi, clock, tmp_path):
    a, b = make_dirs(tmp_path, "a", "b")
    id_a = tapi.load(a, timeout_minutes=1)["id"]
    id_b = tapi.load(b, timeout_minutes=10)["id"]

    move_clock(clock, 90)
    assert_gone(tapi, id_a)
    assert is_loaded(tapi, id_b)
    assert_served(tapi, id_b, b)
    assert tapi.get("/api/directories").json()["current"] == id_b
    status = tapi.get("/").json()
    assert status["current_directory"] == str(b)
    assert status["timeout_minutes"] == 10
    assert tapi.get("/images/frame_000001.jpg").content == (b / "frame_000001.jpg").read_bytes()


def test_reload_with_a_longer_timeout_replaces_the_short_deadline(tapi, clock, tmp_path):
    (a,) = make_dirs(tmp_path, "a")
    id_a = tapi.load(a, timeout_minutes=1)["id"]
    assert tapi.load(a, timeout_minutes=10)["id"] == id_a

    move_clock(clock, 90)
    assert is_loaded(tapi, id_a)
    assert_served(tapi, id_a, a)
    status = tapi.get("/").json()
    assert status["current_directory"] == str(a)
    assert status["timeout_minutes"] == 10

    move_clock(clock, 601)
    assert_gone(tapi, id_a)


def test_reload_without_timeout_cancels_the_old_deadline(tapi, clock, frames):
    dir_id = tapi.load(frames, timeout_minutes=1)["id"]
    body = tapi.load(frames, timeout_minutes=0)
    assert body["timeout"] == "No auto-unload timeout set"
    move_clock(clock, 3600)
    assert is_loaded(tapi, dir_id)
    assert tapi.get("/").json()["current_directory"] == str(frames)


def test_each_directory_has_its_own_deadline(tapi, clock, tmp_path):
    a, b, c = make_dirs(tmp_path, "a", "b", "c")
    id_a = tapi.load(a, timeout_minutes=5)["id"]
    id_b = tapi.load(b, timeout_minutes=10)["id"]
    id_c = tapi.load(c, timeout_minutes=0)["id"]

    entries = {d["id"]: d for d in tapi.get("/api/directories").json()["directories"]}
    assert entries[id_a]["timeout_minutes"] == 5
    assert entries[id_b]["timeout_minutes"] == 10
    assert entries[id_c]["timeout_minutes"] is None
    assert entries[id_c]["auto_unload_at"] is None
    gap = epoch(entries[id_b]["auto_unload_at"]) - epoch(entries[id_a]["auto_unload_at"])
    assert gap == 300

    move_clock(clock, 301)
    assert_gone(tapi, id_a)
    assert is_loaded(tapi, id_b)
    assert is_loaded(tapi, id_c)
    assert tapi.get("/api/directories").json()["current"] == id_c

    move_clock(clock, 601)
    assert_gone(tapi, id_b)
    assert_served(tapi, id_c, c)
    assert tapi.get("/").json()["current_directory"] == str(c)


# -- idle mode and the configured default -----------------------------------------------------


def test_idle_mode_slides_the_deadline_on_each_image_access(server_factory, clock, frames):
    server = server_factory(clock_file=clock.path, env={"IMAGE_SERVER_TIMEOUT_MODE": "idle"})
    api = Api(server)
    dir_id = api.load(frames, timeout_minutes=5)["id"]

    move_clock(clock, 240)
    assert_served(api, dir_id, frames)  # slides the deadline to 240 + 300 = 540

    move_clock(clock, 480)
    assert is_loaded(api, dir_id)  # not an image access
    slid = epoch(api.get(f"/api/directories/{dir_id}").json()["auto_unload_at"])
    assert slid == clock.start + 540
    assert api.get("/images/frame_000001.jpg").status_code == 200  # slides to 780

    move_clock(clock, 700)
    assert is_loaded(api, dir_id)
    assert api.get("/").json()["current_directory"] == str(frames)

    move_clock(clock, 800)  # no image access since 480
    assert_gone(api, dir_id)
    assert api.get("/").json() == NOTHING_LOADED
    api.session.close()


def test_configured_default_timeout_applies_when_the_body_has_none(server_factory, clock, tmp_path):
    server = server_factory(clock_file=clock.path, env={"IMAGE_SERVER_TIMEOUT": "3"})
    api = Api(server)
    assert api.get("/timeout").json() == {"timeout_minutes": 3, "timeout_enabled": True}
    a, b, c = make_dirs(tmp_path, "a", "b", "c")

    response = api.post("/load-directory", json={"path": str(a)})
    assert response.status_code == 200
    body_a = response.json()
    assert body_a["timeout"].endswith("(3 minutes)"), body_a["timeout"]
    body_b = api.load(b, timeout_minutes=None)
    assert body_b["timeout"].endswith("(3 minutes)"), body_b["timeout"]
    body_c = api.load(c, timeout_minutes=0)
    assert body_c["timeout"] == "No auto-unload timeout set"

    entries = {d["id"]: d for d in api.get("/api/directories").json()["directories"]}
    assert entries[body_a["id"]]["timeout_minutes"] == 3
    assert entries[body_b["id"]]["timeout_minutes"] == 3
    assert entries[body_c["id"]]["timeout_minutes"] is None

    move_clock(clock, 170)
    assert is_loaded(api, body_a["id"])
    assert is_loaded(api, body_b["id"])

    move_clock(clock, 181)
    assert_gone(api, body_a["id"])
    assert_gone(api, body_b["id"])
    assert is_loaded(api, body_c["id"])
    api.session.close()


# -- restarts and shutdown --------------------------------------------------------------------


def test_deadline_that_passed_while_the_server_was_down_applies_at_startup(
    server_factory, clock, tmp_path
):
    keep, expire = make_dirs(tmp_path, "keep", "expire")
    state = tmp_path / "state"
    first = server_factory(state_dir=state, clock_file=clock.path)
    api = Api(first)
    id_keep = api.load(keep, timeout_minutes=0)["id"]
    id_expire = api.load(expire, timeout_minutes=1)["id"]
    api.session.close()
    first.stop()

    move_clock(clock, 120)
    second = server_factory(state_dir=state, clock_file=clock.path)
    api = Api(second)
    assert api.get("/").json() == NOTHING_LOADED
    listing = api.get("/api/directories").json()
    assert [d["id"] for d in listing["directories"]] == [id_keep]
    assert listing["current"] is None
    assert api.get(f"/d/{id_expire}/frame_000000.jpg").status_code == 404
    assert_served(api, id_keep, keep)
    api.session.close()


def test_sigterm_with_pending_timers_exits_within_five_seconds(server_factory, clock, tmp_path):
    server = server_factory(clock_file=clock.path, workers=2)
    api = Api(server)
    for minutes, folder in zip(
        (5, 10, 60, 1), make_dirs(tmp_path, "a", "b", "c", "d"), strict=True
    ):
        api.load(folder, timeout_minutes=minutes)
    assert api.post("/timeout/30").status_code == 200
    assert len(api.get("/api/directories").json()["directories"]) == 4
    api.session.close()

    assert_stops_within(server, seconds=5)


def test_sigterm_of_the_production_server_with_pending_timers_is_quick(server_factory, tmp_path):
    server = server_factory()
    api = Api(server)
    for minutes, folder in zip((1, 2, 3), make_dirs(tmp_path, "a", "b", "c"), strict=True):
        api.load(folder, timeout_minutes=minutes)
    api.session.close()

    assert_stops_within(server, seconds=5)


def assert_stops_within(server, seconds: float) -> None:
    """SIGTERM the server and assert it has exited by itself within `seconds`.

    The bound is SLACK times the contract's `seconds` (docs/API.md#timers), generous for a
    loaded CI machine; the shutdown time itself is for bench/ to measure.
    """
    bound = seconds * SLACK
    started = time.monotonic()
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {bound:g} s after SIGTERM (the contract says {seconds} s)")
    elapsed = time.monotonic() - started
    assert elapsed < bound, f"shutdown took {elapsed:.1f} s"
