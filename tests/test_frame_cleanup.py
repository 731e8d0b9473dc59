"""Frames that clean up, against the real server (docs/API.md#video-frames-on-disk).

Real videos made with PyAV, loaded over HTTP; the frame folders are looked at on disk under
the server's state directory. `IMAGE_SERVER_FRAMES_CACHE_MB` takes fractions, so a bound of
a few frames' worth is set in MB.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.support import recording
from tests.support.waiting import wait_until

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s H.264 recording: 4 frames at the default 1 fps."""
    folder = tmp_path_factory.mktemp("clips")
    made = recording.make_recording(folder / "clip.mp4", seconds=4, fps=5, size=(320, 180))
    return made.path


def copies(video: Path, folder: Path, count: int) -> list[Path]:
    """Same bytes under other names: each is its own video (own frame folder, same size)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(video, folder / f"clip{n}.mp4")) for n in range(count)]


def frame_folders(api: Api) -> dict[str, int]:
    """Frame folder name -> bytes, for every frame folder on disk (hidden ones excluded)."""
    root = api.server.state_dir / "frames"
    if not root.is_dir():
        return {}
    return {
        folder.name: sum(f.stat().st_size for f in folder.iterdir())
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
    }


def load_video(api: Api, path: Path, **body: object) -> dict:
    """Load a video and wait for its extraction to end (`wait` is ignored where unknown)."""
    loaded = api.load(path, wait=True, **body)
    assert loaded["image_count"] >= 4, loaded
    return loaded


def owner(folders: dict[str, int] | list[str], clip: int) -> str:
    """The frame folder of `clipN.mp4`: folders are named `<video stem>-<hash>`."""
    found = [name for name in folders if name.startswith(f"clip{clip}-")]
    assert len(found) == 1, (clip, folders)
    return found[0]


def served(api: Api, dir_id: str) -> bool:
    names = [i["name"] for i in api.get(f"/api/directories/{dir_id}/images").json()["images"]]
    return bool(names) and all(api.get(f"/d/{dir_id}/{n}").status_code == 200 for n in names)


def test_at_zero_frames_go_at_unload_and_loaded_ones_are_never_touched(
    server_factory, video, tmp_path
):
    server = server_factory(env={"IMAGE_SERVER_FRAMES_CACHE_MB": "0"})
    api = Api(server)
    first, second = copies(video, tmp_path / "videos", 2)
    one = load_video(api, first)["id"]
    assert len(frame_folders(api)) == 1
    two = load_video(api, second)["id"]  # now the current directory
    folders = frame_folders(api)
    assert len(folders) == 2

    response = api.delete(f"/api/directories/{one}")
    assert response.status_code == 200, response.text
    assert len(frame_folders(api)) == 1  # deleted by the time the unload answered
    assert served(api, two)  # the loaded video's frames: all there, all served

    response = api.post("/unload")
    assert response.json()["message"] == "Directory unloaded successfully"
    assert frame_folders(api) == {}
    assert api.get(f"/d/{two}/frame_000001.jpg").status_code == 404

    again = load_video(api, first)  # nothing lost for the user: extracted again
    assert served(api, again["id"])


def test_frames_of_an_expired_directory_go_at_zero(server_factory, video, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    server = server_factory(env={"IMAGE_SERVER_FRAMES_CACHE_MB": "0"}, clock_file=clock)
    api = Api(server)
    loaded = load_video(api, video, timeout_minutes=1)
    assert len(frame_folders(api)) == 1
    clock.write_text("120")  # two minutes later: the deadline has passed
    wait_until(lambda: api.get(f"/api/directories/{loaded['id']}").status_code == 404)
    wait_until(lambda: frame_folders(api) == {}, message="the expired video's frames to go")


def test_beyond_the_bound_the_least_recently_unloaded_go_first(server_factory, video, tmp_path):
    state = tmp_path / "state"
    clips = copies(video, tmp_path / "videos", 4)
    first = server_factory(state_dir=state)
    api = Api(first)
    ids = [load_video(api, clip)["id"] for clip in clips]
    sizes = frame_folders(api)
    assert len(sizes) == 4
    first.stop()

    # Room for two released folders and a half, in MB: the third one released pushes out
    # the first; a loaded folder (clip 3's) never counts and is never touched.
    bound = 2.5 * max(sizes.values()) / MIB
    server = server_factory(state_dir=state, env={"IMAGE_SERVER_FRAMES_CACHE_MB": f"{bound:.6f}"})
    api = Api(server)
    assert frame_folders(api) == sizes  # a start with everything loaded removes nothing
    folder = [owner(sizes, n) for n in range(4)]

    for dir_id in ids[:2]:
        assert api.delete(f"/api/directories/{dir_id}").status_code == 200
    assert set(frame_folders(api)) == set(folder)  # two released: within the bound
    assert api.delete(f"/api/directories/{ids[2]}").status_code == 200
    assert set(frame_folders(api)) == set(folder[1:])  # clip 0 went first

    modified = (state / "frames" / folder[1] / "manifest.json").stat().st_mtime_ns
    reloaded = load_video(api, clips[1])  # used again: its folder is reused, not re-made
    assert (state / "frames" / folder[1] / "manifest.json").stat().st_mtime_ns == modified
    assert served(api, reloaded["id"])
    assert api.delete(f"/api/directories/{reloaded['id']}").status_code == 200
    assert api.delete(f"/api/directories/{ids[3]}").status_code == 200
    assert set(frame_folders(api)) == {folder[1], folder[3]}  # clip 2 was the oldest


def test_a_start_clears_what_a_crash_left(server_factory, video, tmp_path):
    state = tmp_path / "state"
    clips = copies(video, tmp_path / "videos", 2)
    first = server_factory(state_dir=state)
    api = Api(first)
    kept = load_video(api, clips[0])
    gone = load_video(api, clips[1])
    assert api.delete(f"/api/directories/{gone['id']}").status_code == 200
    first.kill9()  # a crash; then the leftovers of the work it was doing, just now:

    root = state / "frames"
    loaded, unloaded = owner(frame_folders(api), 0), owner(frame_folders(api), 1)
    (root / unloaded / "manifest.json").unlink()  # an extraction that never finished
    temp = root / ".tmp-clip-0123456789abcdef-x1y2"  # a killed extraction's temp folder
    temp.mkdir()
    (temp / "frame_000001.jpg").write_bytes(b"\xff\xd8 half")
    half = root / loaded / ".tmp-frame_000009.jpg"  # a writer killed mid-frame
    half.write_bytes(b"\xff\xd8 half")
    trash = root / ".trash-old-0001"  # an eviction cut short
    trash.mkdir()
    frames_before = sorted(p.name for p in (root / loaded).iterdir() if p != half)

    server = server_factory(state_dir=state, env={"IMAGE_SERVER_FRAMES_CACHE_MB": "5120"})
    api = Api(server)
    assert sorted(p.name for p in root.iterdir()) == [loaded]
    assert sorted(p.name for p in (root / loaded).iterdir()) == frames_before
    assert served(api, kept["id"])


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 s at 5 fps: still extracting (every frame) while the test acts."""
    folder = tmp_path_factory.mktemp("long-clip")
    return recording.make_recording(folder / "long.mp4", seconds=120, fps=5, size=(320, 180)).path


def jobs_running(api: Api) -> bool:
    with sqlite3.connect(f"file:{api.server.state_dir / 'state.sqlite3'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
        return row.fetchone()[0] > 0


def test_a_running_extraction_is_never_touched_and_goes_at_its_unload(
    server_factory, video, long_video, tmp_path
):
    server = server_factory(env={"IMAGE_SERVER_FRAMES_CACHE_MB": "0"})
    api = Api(server)
    short = load_video(api, copies(video, tmp_path / "videos", 1)[0])
    running = api.load(long_video, frames={"every": 1}, wait=False)
    assert running["extraction"]["state"] == "running"
    wait_until(lambda: api.get(f"/api/directories/{running['id']}").json()["image_count"] >= 3)
    # Another video's unload trims the cache at 0 while this one is being written.
    assert api.delete(f"/api/directories/{short['id']}").status_code == 200
    assert len(frame_folders(api)) == 1
    described = api.get(f"/api/directories/{running['id']}").json()
    assert described["extraction"]["state"] == "running", described
    assert served(api, running["id"])

    assert api.delete(f"/api/directories/{running['id']}").status_code == 200
    wait_until(lambda: not jobs_running(api), message="the stopped extraction to end")
    assert frame_folders(api) == {}  # nothing left behind by the stopped extraction
