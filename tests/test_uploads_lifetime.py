"""An inbox lives as long as its deadline (the server's default timeout), then its files go.

The servers run through `clock_server.py` with a frozen clock the test moves
(tests/support/clock.py): `clock.move(61)` means "61 seconds after the start", exactly, so
nothing sleeps and a busy machine changes nothing. `IMAGE_SERVER_TIMEOUT=1` gives every
inbox a one-minute deadline, re-armed by each upload.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.support.clock import FrozenClock
from tests.support.server import ServerProcess
from tests.support.uploads import AUTH
from tests.support.uploads import TOKEN
from tests.support.uploads import image_bytes
from tests.support.uploads import inbox_folder
from tests.support.uploads import stored_files
from tests.support.waiting import wait_until

ENV = {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_TIMEOUT": "1"}


@pytest.fixture
def clock(tmp_path: Path) -> FrozenClock:
    return FrozenClock(tmp_path / "clock")


def upload(server: ServerProcess, name: str, color: int = 0) -> dict:
    response = requests.post(
        server.url("/api/uploads"),
        params={"name": name},
        data=image_bytes(color=color),
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def loaded_ids(server: ServerProcess) -> set[str]:
    """Ask for the directories: a read applies every passed deadline first."""
    listing = requests.get(server.url("/api/directories"), headers=AUTH, timeout=10).json()
    return {directory["id"] for directory in listing["directories"]}


def test_expiry_unloads_the_inbox_and_deletes_its_files(server_factory, clock):
    server = server_factory(clock_file=clock.path, env=ENV)
    answer = upload(server, "a.png")
    directory = requests.get(server.url(f"/api/directories/{answer['id']}"), headers=AUTH)
    assert directory.json()["timeout_minutes"] == 1
    clock.move(59)
    assert answer["id"] in loaded_ids(server)
    assert stored_files(server.state_dir, "uploads") == ["a.png"]
    clock.move(61)
    assert answer["id"] not in loaded_ids(server)
    assert wait_until(lambda: not inbox_folder(server.state_dir, "uploads").exists())
    assert requests.get(answer["images"][0]["url"], timeout=10).status_code == 404


def test_each_upload_rearms_the_deadline(server_factory, clock):
    server = server_factory(clock_file=clock.path, env=ENV)
    upload(server, "a.png")
    clock.move(50)
    answer = upload(server, "b.png", color=1)
    clock.move(100)  # past the first deadline, before the re-armed one
    assert answer["id"] in loaded_ids(server)
    assert stored_files(server.state_dir, "uploads") == ["a.png", "b.png"]


def test_a_restart_keeps_the_inbox_until_its_deadline(server_factory, clock, tmp_path):
    state = tmp_path / "state"
    first = server_factory(state_dir=state, clock_file=clock.path, env=ENV)
    answer = upload(first, "a.png")
    first.stop()

    second = server_factory(state_dir=state, clock_file=clock.path, env=ENV)
    served = requests.get(answer["images"][0]["url"].replace(first.base_url, second.base_url))
    assert served.status_code == 200 and served.content == image_bytes()
    second.stop()

    clock.move(120)  # the deadline passes while the server is down
    third = server_factory(state_dir=state, clock_file=clock.path, env=ENV)
    # The start-up sweep unloads it, and its folder goes with it, before any request.
    assert not inbox_folder(state, "uploads").exists()
    assert answer["id"] not in loaded_ids(third)


def test_start_up_removes_inbox_folders_that_are_not_loaded(server_factory, clock, tmp_path):
    state = tmp_path / "state"
    server = server_factory(state_dir=state, clock_file=clock.path, env=ENV)
    upload(server, "a.png")
    server.stop()
    # A folder left by a crash between the unload's commit and the removal: not loaded.
    orphan = inbox_folder(state, "orphan")
    orphan.mkdir()
    (orphan / "left.png").write_bytes(image_bytes())
    os.utime(orphan, (1, 1))
    server_factory(state_dir=state, clock_file=clock.path, env=ENV)
    assert not orphan.exists()
    assert stored_files(state, "uploads") == ["a.png"]  # loaded: kept
