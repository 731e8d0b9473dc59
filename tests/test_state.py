"""State shared by every worker, surviving crashes; bad configuration.

See docs/ARCHITECTURE.md#state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import Api
from tests.support.contract import NOTHING_LOADED
from tests.support.environment import clean_env
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.server import PROJECT_ROOT
from tests.support.server import free_port

CLOSE = {"Connection": "close"}
# A bad configuration must stop start-up at once (5 s was the old in-test bound); 3x that keeps a
# loaded CI machine, where importing the app alone can take seconds, from failing it.
FAILED_STARTUP_BOUND_SECONDS = 3 * 5


def fresh_get(url: str) -> requests.Response:
    """GET on a new connection (no session, and the server is told to close it)."""
    return requests.get(url, headers=CLOSE, timeout=10)


def fresh_post(url: str, **kwargs) -> requests.Response:
    return requests.post(url, headers=CLOSE, timeout=30, **kwargs)


# -- every worker sees the same state ---------------------------------------------------------


@pytest.mark.parametrize(("workers", "threads"), [(2, 4), (3, 2)])
def test_every_worker_sees_loads_and_unloads_at_once(server_factory, frames, workers, threads):
    server = server_factory(workers=workers, threads=threads)
    expected = (frames / "frame_000002.jpg").read_bytes()

    loaded = fresh_post(server.url("/load-directory"), json={"path": str(frames)})
    assert loaded.status_code == 200, loaded.text
    dir_id = loaded.json()["id"]

    statuses = []
    for i in range(200):
        path = "/images/frame_000002.jpg" if i % 2 else f"/d/{dir_id}/frame_000002.jpg"
        response = fresh_get(server.url(path))
        statuses.append(response.status_code)
        assert response.status_code == 200, (i, path, response.text)
        assert response.content == expected
    assert statuses == [200] * 200

    unloaded = fresh_post(server.url("/unload"))
    assert unloaded.json() == {"status": "success", "message": "Directory unloaded successfully"}
    for i in range(50):
        if i % 2:
            response = fresh_get(server.url("/images/frame_000002.jpg"))
            assert response.status_code == 400, (i, response.text)
            assert response.json() == {"detail": "No directory loaded"}
        else:
            response = fresh_get(server.url(f"/d/{dir_id}/frame_000002.jpg"))
            assert response.status_code == 404, (i, response.text)


@pytest.mark.parametrize(("workers", "threads"), [(2, 4), (3, 2)])
def test_alternating_load_and_unload_is_seen_by_the_very_next_request(
    server_factory, frames, workers, threads
):
    server = server_factory(workers=workers, threads=threads)
    expected = (frames / "frame_000001.jpg").read_bytes()
    for round_ in range(20):
        loaded = fresh_post(server.url("/load-directory"), json={"path": str(frames)})
        assert loaded.status_code == 200, loaded.text
        dir_id = loaded.json()["id"]
        image = fresh_get(server.url("/images/frame_000001.jpg"))
        assert image.status_code == 200, (round_, image.text)
        assert image.content == expected
        assert fresh_get(server.url(f"/d/{dir_id}/frame_000001.jpg")).status_code == 200
        assert fresh_get(server.url("/")).json()["current_directory"] == str(frames)

        unloaded = fresh_post(server.url("/unload"))
        assert unloaded.json()["status"] == "success", (round_, unloaded.text)
        gone = fresh_get(server.url("/images/frame_000001.jpg"))
        assert gone.status_code == 400, (round_, gone.text)
        assert fresh_get(server.url(f"/d/{dir_id}/frame_000001.jpg")).status_code == 404
        assert fresh_get(server.url("/")).json() == NOTHING_LOADED
        assert fresh_get(server.url("/api/directories")).json() == {
            "directories": [],
            "current": None,
        }


def test_concurrent_loads_of_five_directories_all_succeed(api, tmp_path):
    folders = []
    for i in range(5):
        folder = tmp_path / f"concurrent_{i}"
        make_frames(folder, 20 + i)
        make_image(folder / "marker.jpg", color=100 + i)
        folders.append(folder)
    barrier = threading.Barrier(len(folders))

    def load(folder: Path) -> requests.Response:
        barrier.wait(timeout=10)
        return requests.post(api.url("/load-directory"), json={"path": str(folder)}, timeout=30)

    with ThreadPoolExecutor(max_workers=len(folders)) as pool:
        responses = list(pool.map(load, folders))

    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 5
    for response, folder in zip(responses, folders, strict=True):
        assert response.json()["image_count"] == len(list(folder.iterdir()))

    listing = api.get("/api/directories").json()
    assert sorted(d["id"] for d in listing["directories"]) == sorted(ids)
    assert listing["current"] in ids
    by_id = {d["id"]: d for d in listing["directories"]}
    for dir_id, folder in zip(ids, folders, strict=True):
        assert by_id[dir_id]["directory"] == str(folder)
        assert by_id[dir_id]["image_count"] == len(list(folder.iterdir()))
        marker = api.get(f"/d/{dir_id}/marker.jpg")
        assert marker.status_code == 200
        assert marker.content == (folder / "marker.jpg").read_bytes()
        page = api.get(f"/api/directories/{dir_id}/images").json()
        assert page["total"] == len(list(folder.iterdir()))


# -- a crash loses nothing --------------------------------------------------------------------


def test_state_survives_kill_9(server_factory, tmp_path):
    a = tmp_path / "rec_a"
    b = tmp_path / "rec_b"
    make_frames(a, 3)
    make_image(b / "frame_000000.jpg", color=123)
    make_image(b / "frame_000001.jpg", color=124)
    state = tmp_path / "state"

    first = server_factory(state_dir=state)
    api = Api(first)
    api.load(a)
    id_b = api.load(b)["id"]
    assert api.post("/timeout/7").status_code == 200
    before = api.get("/api/directories").json()
    assert before["current"] == id_b
    urls = {}
    for entry in before["directories"]:
        for image in api.get(f"/api/directories/{entry['id']}/images").json()["images"]:
            urls[f"/d/{entry['id']}/{image['name']}"] = Path(entry["directory"]) / image["name"]
    assert len(urls) == 5
    status_before = api.get("/").json()
    assert status_before["timeout_minutes"] == 7
    assert status_before["auto_unload_at"] is not None
    api.session.close()

    first.kill9()
    assert first.process.poll() is not None

    second = server_factory(state_dir=state)
    api = Api(second)
    for path, file in urls.items():
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.content == file.read_bytes()
    after = api.get("/api/directories").json()
    assert after["current"] == id_b
    assert sorted(d["id"] for d in after["directories"]) == sorted(
        d["id"] for d in before["directories"]
    )
    status_after = api.get("/").json()
    assert status_after["current_directory"] == str(b)
    assert status_after["image_list"] == ["frame_000000.jpg", "frame_000001.jpg"]
    assert status_after["timeout_minutes"] == 7
    assert status_after["auto_unload_at"] == status_before["auto_unload_at"]
    assert api.get("/timeout").json() == {"timeout_minutes": 7, "timeout_enabled": True}
    image = api.get("/images/frame_000001.jpg")
    assert image.status_code == 200
    assert image.content == (b / "frame_000001.jpg").read_bytes()
    api.session.close()


def test_directories_and_default_timeout_survive_a_clean_restart(server_factory, frames, tmp_path):
    state = tmp_path / "state"
    first = server_factory(state_dir=state)
    api = Api(first)
    dir_id = api.load(frames)["id"]
    api.post("/timeout/0")
    api.post("/timeout/12")
    api.session.close()
    first.stop()

    second = server_factory(state_dir=state)
    api = Api(second)
    assert api.get("/timeout").json() == {"timeout_minutes": 12, "timeout_enabled": True}
    assert api.get("/api/directories").json()["current"] == dir_id
    assert api.get("/images/frame_000004.jpg").content == (frames / "frame_000004.jpg").read_bytes()
    api.session.close()


# -- bad configuration stops start-up with one line --------------------------------------------


def run_server_expecting_failure(env_overrides: dict[str, str], tmp_path: Path):
    """Run `python server.py`; return (exit status, stderr, seconds), killing it if it runs."""
    settings = {
        "IMAGE_SERVER_HOST": "127.0.0.1",
        "IMAGE_SERVER_STATE_DIR": str(tmp_path / "state"),
        "IMAGE_SERVER_LOG_LEVEL": "warning",
    }
    env = clean_env(**{**settings, **env_overrides})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "server.py")],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=FAILED_STARTUP_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=5)
        pytest.fail("server.py kept running with a bad configuration")
    return process.returncode, stderr.decode(errors="replace"), time.monotonic() - started


def test_bad_port_stops_startup_with_one_line(tmp_path):
    status, stderr, seconds = run_server_expecting_failure({"IMAGE_SERVER_PORT": "abc"}, tmp_path)
    assert status != 0
    assert seconds < FAILED_STARTUP_BOUND_SECONDS
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "IMAGE_SERVER_PORT" in lines[0]


def test_unwritable_state_dir_stops_startup_with_one_line(tmp_path):
    blocker = tmp_path / "a_regular_file"
    blocker.write_text("not a directory")
    state = blocker / "state"
    status, stderr, seconds = run_server_expecting_failure(
        {"IMAGE_SERVER_STATE_DIR": str(state), "IMAGE_SERVER_PORT": str(free_port())}, tmp_path
    )
    assert status != 0
    assert seconds < FAILED_STARTUP_BOUND_SECONDS
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "IMAGE_SERVER_STATE_DIR" in lines[0] or str(state) in lines[0], lines[0]
