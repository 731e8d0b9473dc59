"""Video in, near-duplicates and facts over HTTP, against the real server (#23).

Recordings are made here with PyAV (`tests/support/recording.py`): screens that change at
known points, with a moving cursor and a ticking clock that must not count as changes.
"""

from __future__ import annotations

import pytest
from PIL import Image

from tests.conftest import Api
from tests.support import recording
from tests.support.cli import cli_env
from tests.support.cli import run_cli

SECONDS = 12.0
FPS = 10
SIZE = (640, 360)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, recording.Recording]:
    """A short H.264/MP4 and VP9/WebM recording of the same screens."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        kind: recording.make_recording(
            folder / f"talk.{kind}", seconds=SECONDS, fps=FPS, size=SIZE, seed=11
        )
        for kind in ("mp4", "webm")
    }


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> recording.Recording:
    """40 s at 5 fps: enough screens (about 7 changes) for precision and recall."""
    folder = tmp_path_factory.mktemp("long")
    return recording.make_recording(folder / "long.mp4", seconds=40, fps=5, size=SIZE, seed=21)


def frame_cache(api: Api) -> list[str]:
    """The entries of the server's frame cache, temporary folders included."""
    root = api.server.state_dir / "frames"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def listing(api: Api, dir_id: str, **query: object) -> dict:
    response = api.get(f"/api/directories/{dir_id}/images", params=query)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("kind", ["mp4", "webm"])
@pytest.mark.parametrize(
    "frames,expected",
    [({"fps": 2}, int(SECONDS * 2)), ({"every": 7}, len(range(0, int(SECONDS * FPS), 7)))],
)
def test_a_video_loads_its_frames_with_times(api, videos, kind, frames, expected):
    loaded = api.load(videos[kind].path, frames=frames)
    assert list(loaded)[:5] == ["status", "directory", "image_count", "message", "timeout"]
    assert loaded["image_count"] == expected
    assert loaded["directory"] == str(videos[kind].path)
    mode = next(iter(frames))
    assert loaded["id"].startswith(f"talk-{mode}")
    page = listing(api, loaded["id"])
    assert page["total"] == expected
    first = page["images"][0]
    assert list(first) == ["name", "url", "size", "mtime", "t"]
    times = [entry["t"] for entry in page["images"]]
    assert times == sorted(times) and times[0] == 0.0
    step = 0.5 if mode == "fps" else 0.7
    assert times[1] == pytest.approx(step)
    image = api.session.get(first["url"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_scene_mode_keeps_one_frame_per_screen(api, videos, kind):
    loaded = api.load(videos[kind].path, frames={"scene": 0.3})
    times = [e["t"] for e in listing(api, loaded["id"])["images"]]
    # The first frame, then each screen once it has settled: one frame after its change.
    starts = [0.0, *videos[kind].change_points]
    assert times == pytest.approx([0.0] + [c + 1 / FPS for c in starts[1:]])


def test_a_reload_is_a_cache_hit_with_the_same_id(api, videos):
    first = api.load(videos["mp4"].path)
    assert first["image_count"] == int(SECONDS)  # the default: 1 frame per second
    before = frame_cache(api)
    manifests = sorted((api.server.state_dir / "frames").glob("*/manifest.json"))
    written = [m.stat().st_mtime_ns for m in manifests]
    again = api.load(videos["mp4"].path)
    assert again["id"] == first["id"] and frame_cache(api) == before
    assert [m.stat().st_mtime_ns for m in manifests] == written  # nothing extracted again


@pytest.mark.parametrize(
    "body,loc",
    [({}, ["body", "frames"]), ({"fps": 1, "every": 2}, ["body", "frames"])]
    + [({"fps": -1}, ["body", "frames", "fps"]), ({"every": 1.5}, ["body", "frames", "every"])]
    + [({"scene": 2}, ["body", "frames", "scene"]), ({"bogus": 1}, ["body", "frames", "bogus"])],
)
def test_bad_frame_options_are_422(api, videos, body, loc):
    response = api.post("/load-directory", json={"path": str(videos["mp4"].path), "frames": body})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_frames_for_a_folder_is_400(api, frames):
    response = api.post("/load-directory", json={"path": str(frames), "frames": {"fps": 1}})
    assert response.status_code == 400
    assert response.json() == {"detail": f"Not a video file: {frames}"}


@pytest.mark.parametrize("maker", ["truncated", "text", "audio"])
def test_an_unusable_video_is_422_and_leaves_nothing(api, videos, tmp_path, maker):
    if maker == "truncated":  # an MP4 cut before its index (moov at the end): no video at all
        bad = recording.truncated_copy(videos["mp4"].path, tmp_path / "cut.mp4", 0.5)
    elif maker == "text":
        bad = recording.not_a_video(tmp_path / "notes.mp4")
    else:
        bad = recording.audio_only(tmp_path / "sound.mp4")
    before = frame_cache(api)
    response = api.post("/load-directory", json={"path": str(bad)})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["detail"].startswith(f"Not a usable video: {bad.name}")
    assert frame_cache(api) == before
    assert api.get("/").json()["current_directory"] is None


def test_a_video_that_breaks_part_way_fails_and_keeps_its_frames(api, videos, tmp_path):
    # A WebM cut in half opens and decodes until the cut: a failure part-way, not a 422.
    bad = recording.truncated_copy(videos["webm"].path, tmp_path / "cut.webm", 0.5)
    loaded = api.load(bad, wait=True)
    extraction = loaded["extraction"]
    assert extraction["state"] == "failed"
    assert extraction["detail"].startswith("cut.webm: ")
    assert 0 < extraction["frames"] == loaded["image_count"] < int(SECONDS)
    page = listing(api, loaded["id"])
    assert page["total"] == loaded["image_count"]
    for entry in page["images"]:
        image = api.session.get(entry["url"], timeout=10)
        assert image.status_code == 200 and len(image.content) == entry["size"]


def test_a_video_outside_the_allowed_roots_is_403(server_factory, videos, tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    server = server_factory(env={"IMAGE_SERVER_ALLOWED_ROOTS": str(root)})
    api = Api(server)
    path = str(videos["mp4"].path)
    response = api.post("/load-directory", json={"path": path})
    assert response.status_code == 403
    assert response.json() == {"detail": f"Directory not allowed: {path}"}
    missing = str(root / "gone.mp4")
    response = api.post("/load-directory", json={"path": missing})
    assert response.json() == {"detail": f"Directory not found: {missing}"}
    assert frame_cache(api) == []


def test_a_restart_keeps_serving_the_frames(server_factory, videos, tmp_path):
    state = tmp_path / "state"
    api = Api(server_factory(state_dir=state))
    loaded = api.load(videos["webm"].path, frames={"fps": 1})
    url = listing(api, loaded["id"])["images"][3]["url"].removeprefix(api.base_url)
    api.server.stop()
    again = Api(server_factory(state_dir=state))
    assert again.get(url).status_code == 200
    assert listing(again, loaded["id"])["images"][3]["t"] == 3.0
    assert again.load(videos["webm"].path, frames={"fps": 1})["id"] == loaded["id"]


def scene_changes(rec: recording.Recording, kept: list[dict]) -> tuple[float, float]:
    """Precision: kept frames that show a new screen; recall: sampled screens that are kept."""
    scenes = [rec.scene_at(e["t"]) for e in kept]
    new = sum(1 for i, s in enumerate(scenes) if i == 0 or s != scenes[i - 1])
    sampled = {rec.scene_at(float(t)) for t in range(int(rec.duration))}
    return new / len(kept), len(set(scenes)) / len(sampled)


def test_unique_keeps_every_change_and_drops_cursor_frames(api, long_video):
    loaded = api.load(long_video.path, frames={"fps": 1})
    full = listing(api, loaded["id"])
    page = listing(api, loaded["id"], unique="true")
    kept = page["images"]
    assert page["total"] == len(kept) < full["total"]
    assert scene_changes(long_video, kept) == (1.0, 1.0)
    assert sum(e["duplicates"] + 1 for e in kept) == full["total"]
    assert list(kept[0])[:6] == ["name", "url", "size", "mtime", "t", "duplicates"]
    assert all(e["t_from"] == e["t"] <= e["t_to"] for e in kept)
    # Paging walks the kept list; `next` carries the option over.
    first = listing(api, loaded["id"], unique="true", limit=2)
    assert [e["name"] for e in first["images"]] == [e["name"] for e in kept[:2]]
    assert "unique=true" in first["next"] and first["total"] == len(kept)
    assert listing(api, loaded["id"], unique="true", distance=256)["total"] == 1


def test_unique_rehashes_a_changed_file(api, tmp_path, image_maker):
    folder = tmp_path / "shots"
    folder.mkdir()
    screen = recording.draw_screen((640, 360), 1, 2)
    for name in ("a.png", "b.png", "c.png"):
        screen.save(folder / name)
    loaded = api.load(folder)
    page = listing(api, loaded["id"], unique="true")
    assert [(e["name"], e["duplicates"]) for e in page["images"]] == [("a.png", 2)]
    recording.draw_screen((640, 360), 5, 6).save(folder / "c.png")
    api.load(folder)  # re-index: c.png has a new size and mtime
    page = listing(api, loaded["id"], unique="true")
    assert [(e["name"], e["duplicates"]) for e in page["images"]] == [("a.png", 1), ("c.png", 0)]


def test_facts_add_width_height_and_format(api, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for fmt, ext, size in (("JPEG", "jpg", (40, 30)), ("PNG", "png", (12, 34))):
        Image.new("RGB", size, "red").save(folder / f"x.{ext}", fmt)
    Image.new("RGB", (7, 9)).save(folder / "y.webp", "WEBP")
    loaded = api.load(folder)
    images = listing(api, loaded["id"], facts="true")["images"]
    assert [(e["name"], e["width"], e["height"], e["format"]) for e in images] == [
        ("x.jpg", 40, 30, "JPEG"),
        ("x.png", 12, 34, "PNG"),
        ("y.webp", 7, 9, "WEBP"),
    ]
    assert list(images[0])[:4] == ["name", "url", "size", "mtime"]
    assert "width" not in listing(api, loaded["id"])["images"][0]


def test_the_cli_loads_a_video_with_fps_and_unique(api, long_video, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    common = ("--server", api.base_url, "--output", tmp_path / "out", "--quiet")
    every = run_cli("--dir", long_video.path, "--fps", "2", *common, cwd=home, env=cli_env(home))
    assert every.returncode == 0, every.stderr
    document = every.document()
    assert document["count"] == 80 and document["directory"] == str(long_video.path)
    assert document["image_urls"][0].endswith("/frame_000001.jpg")
    unique = run_cli(
        "--dir", long_video.path, "--fps", "2", "--unique", *common, cwd=home, env=cli_env(home)
    )
    assert unique.returncode == 0, unique.stderr
    kept = unique.document()["image_urls"]
    loaded = api.load(long_video.path, frames={"fps": 2})
    expected = listing(api, loaded["id"], unique="true")["images"]
    assert kept == [e["url"] for e in expected] and len(kept) < 80


def test_the_cli_refuses_two_frame_options(tmp_path):
    result = run_cli("--dir", tmp_path, "--fps", "1", "--every", "3", cwd=tmp_path)
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_flat_images_of_different_colours_are_not_duplicates(api: Api, tmp_path) -> None:
    # No edges in a flat image: the hash's tone bits must tell red from blue, while a small
    # square (a cursor) on the red one stays a near-duplicate of it.
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.new("RGB", (320, 200), "red").save(folder / "a_red.png")
    cursor = Image.new("RGB", (320, 200), "red")
    cursor.paste((255, 255, 255), (150, 90, 158, 100))
    cursor.save(folder / "b_red_cursor.png")
    Image.new("RGB", (320, 200), "blue").save(folder / "c_blue.png")
    Image.new("RGB", (320, 200), (0, 160, 0)).save(folder / "d_green.png")
    loaded = api.load(folder)
    kept = listing(api, loaded["id"], unique="true")
    assert [(i["name"], i["duplicates"]) for i in kept["images"]] == [
        ("a_red.png", 1),
        ("c_blue.png", 0),
        ("d_green.png", 0),
    ]
    assert kept["total"] == 3
