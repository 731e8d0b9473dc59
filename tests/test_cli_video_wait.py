"""`load_folder_v2.py --dir VIDEO` waits for the extraction, on a stand-in of the server's API.

The stand-in (tests/support/fake_server.py) answers a video load with the pinned
`"extraction": {"state", "frames", "seconds_done", "duration", "detail"?}` object
(docs/API.md#video-in) and moves it one step on each `GET /api/directories/<id>`, so these
tests see the loader poll, draw its bar of seconds on stderr, list only once the state is
`done`, and stop with exit 1 and the `detail` on one line when it is `failed`. The last
tests run the same against the real server.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.support import recording
from tests.support.cli import CliResult
from tests.support.cli import cli_env
from tests.support.cli import run_cli
from tests.support.fake_server import DIR_ID
from tests.support.fake_server import FakeImageServer
from tests.support.fake_server import FakeState

NAMES = [f"frame_{i:06d}.jpg" for i in range(1, 7)]
DESCRIBE = ("GET", f"/api/directories/{DIR_ID}")
LOAD = ("POST", "/load-directory")


def running(seconds: float, frames: int) -> dict:
    return {"state": "running", "frames": frames, "seconds_done": seconds, "duration": 6.0}


DONE = {"state": "done", "frames": 6, "seconds_done": 6.0, "duration": 6.0}


@pytest.fixture
def fake() -> Iterator[FakeImageServer]:
    server = FakeImageServer(FakeState(names=list(NAMES), page_size=100)).start()
    yield server
    server.stop()


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp4"  # the stand-in never reads it; the loader sends its path
    path.write_bytes(b"\0")
    return path


@pytest.fixture
def cli(fake: FakeImageServer, video: Path, tmp_path: Path) -> Callable[..., CliResult]:
    def invoke(*args: str) -> CliResult:
        base = ["--dir", video, "--server", fake.base_url, "--output", tmp_path / "out"]
        return run_cli(*base, *args, cwd=tmp_path, timeout=60)

    return invoke


def polls_after_load(fake: FakeImageServer) -> list[tuple[str, str]]:
    """The control requests between the load and the first listing page."""
    control = fake.state.control()
    start = control.index(LOAD) + 1
    end = next(i for i, r in enumerate(control) if r[1].startswith(f"{DESCRIBE[1]}/images"))
    return control[start:end]


def test_the_loader_asks_for_an_early_answer_then_polls_until_done(cli, fake, video):
    fake.state.extraction = [running(0.0, 0), running(2.0, 2), running(4.5, 4), DONE]
    result = cli()
    assert result.returncode == 0, result.stderr
    assert fake.state.load_bodies == [{"path": str(video), "wait": False}]
    assert polls_after_load(fake) == [DESCRIBE] * 3  # until the third poll said done
    document = result.document()
    assert document["count"] == len(NAMES)
    bar = result.stderr
    assert "Extracting" in bar and "6.0/6.0 s" in bar and "6 frames" in bar, bar


def test_a_failed_extraction_exits_1_with_the_detail_on_one_line(cli, fake, video, tmp_path):
    detail = "talk.mp4: corrupt data at 4.20s\n(the frames before it stay served)"
    failed = {**running(4.2, 4), "state": "failed", "detail": detail}
    fake.state.extraction = [running(0.0, 0), running(2.0, 2), failed]
    result = cli("--quiet")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"load_folder_v2.py: error: extracting the frames of {video} failed: "
        "talk.mp4: corrupt data at 4.20s (the frames before it stay served)"
    ]
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()  # no JSON that lists half a video


def test_a_failure_in_the_first_answer_needs_no_poll(cli, fake):
    fake.state.extraction = [{**running(0.0, 0), "state": "failed", "detail": "disk full"}]
    result = cli("--quiet")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("failed: disk full")
    assert DESCRIBE not in fake.state.control()


def test_done_in_the_load_answer_lists_at_once(cli, fake):
    fake.state.extraction = [DONE]
    result = cli()
    assert result.returncode == 0, result.stderr
    assert polls_after_load(fake) == []
    assert "Extracting" not in result.stderr


def test_quiet_shows_no_bar(cli, fake):
    fake.state.extraction = [running(1.0, 1), DONE]
    result = cli("--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_an_unknown_duration_counts_seconds(cli, fake):
    unknown = {"state": "running", "frames": 3, "seconds_done": 3.0, "duration": None}
    fake.state.extraction = [unknown, {**DONE, "duration": None}]
    result = cli()
    assert result.returncode == 0, result.stderr
    assert "Extracting: 3.0 s" in result.stderr


# -- the same against the real server ---------------------------------------------------------


@pytest.fixture(scope="module")
def real_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s at 5 fps: long enough that the load answers while the extraction runs."""
    folder = tmp_path_factory.mktemp("cli-video")
    return recording.make_recording(folder / "long.mp4", seconds=40, fps=5, size=(320, 180)).path


def real_cli(server, video: Path, tmp_path: Path, *args: str) -> CliResult:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    common = ("--server", server.base_url, "--output", tmp_path / "out")
    return run_cli("--dir", video, *common, *args, cwd=home, env=cli_env(home), timeout=120)


def test_the_real_server_extraction_is_followed_to_the_end(server_factory, real_video, tmp_path):
    server = server_factory()
    result = real_cli(server, real_video, tmp_path)
    assert result.returncode == 0, result.stderr
    document = result.document()
    assert document["count"] == 40  # 1 frame per second: every frame, not those so far
    assert "Extracting" in result.stderr and "40 frames" in result.stderr, result.stderr
    listed = Api(server).get(f"/api/directories/{document['id']}").json()
    assert listed["extraction"]["state"] == "done"


def test_a_real_failure_exits_1_with_the_detail(server_factory, real_video, tmp_path):
    server = server_factory(env={"IMAGE_SERVER_TEST_DISK_FULL_AFTER": "5"})
    result = real_cli(server, real_video, tmp_path, "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"load_folder_v2.py: error: extracting the frames of {real_video} failed: "
        "cannot write frames: No space left on device"
    ]
    assert not (tmp_path / "out").exists()
