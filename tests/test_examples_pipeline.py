"""examples/pipeline/frames_to_chunks.py, run as a subprocess against the real server.

Frames are drawn with Pillow, or cut by the real (Debian) ffmpeg from a real video encoded
with PyAV; the load goes through `load_folder_v2.py` or the HTTP API; the chunk file's URLs
are fetched back from the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.environment import clean_env
from tests.support.parts import require_binary
from tests.support.server import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "examples" / "pipeline" / "frames_to_chunks.py"

FFMPEG_HINT = "apt-get install -y ffmpeg; .ci/run does"
# One colour per second of the test video: which frame shows which colour proves the rate.
SECONDS = [(200, 30, 30), (30, 30, 200)]
VIDEO_FPS = 10


def colour_video(path: Path, colours: list[tuple[int, int, int]], fps: int = VIDEO_FPS) -> Path:
    """Encode an H.264 MP4 with PyAV that shows each colour for one second."""
    import av  # heavy: only this test pays for it

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for index in range(len(colours) * fps):
            frame = av.VideoFrame.from_image(Image.new("RGB", (160, 96), colours[index // fps]))
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def colour_of(path: Path) -> tuple[int, int, int]:
    """The colour at the centre of a frame file."""
    with Image.open(path) as image:
        return image.convert("RGB").getpixel((80, 48))


def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    """True when two colours differ by little per channel (JPEG and YUV round them)."""
    return all(abs(a - b) < 24 for a, b in zip(colour, expected, strict=True))


def run_pipeline(api, work: Path, *args: str, path: str | None = None):
    """Run the script against the shared server; return the finished process."""
    env = clean_env()
    if path is not None:
        env["PATH"] = path
    command = [sys.executable, str(SCRIPT), "--server", api.base_url, "--work", str(work)]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)


def read_chunks(result, work: Path) -> list[dict]:
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(work / "chunks.jsonl")
    lines = (work / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def assert_urls_serve_the_frames(api, chunk_list: list[dict], work: Path) -> None:
    for chunk in chunk_list:
        assert chunk["frame_urls"], chunk
        for name, url in zip(chunk["frames"], chunk["frame_urls"], strict=True):
            assert "/d/" in url and url.endswith("/" + name)  # the stable URL, not /images/
            response = api.session.get(url, timeout=10)
            assert response.status_code == 200
            assert response.content == (work / "frames" / name).read_bytes()


@pytest.mark.parametrize("via", ["cli", "api"])
def test_demo_run_joins_each_chunk_with_its_frames(api, tmp_path: Path, via: str) -> None:
    work = tmp_path / "work"
    result = run_pipeline(api, work, "--no-ffmpeg", "--via", via)
    chunk_list = read_chunks(result, work)
    # The sample transcript has four 3-second chunks; 12 frames at 1 fps: 3 each.
    assert [chunk["chunk_id"] for chunk in chunk_list] == [f"demo-000{i}" for i in range(1, 5)]
    assert [chunk["frames"] for chunk in chunk_list] == [
        [f"frame_{n:06d}.jpg" for n in range(first, first + 3)] for first in (1, 4, 7, 10)
    ]
    assert_urls_serve_the_frames(api, chunk_list, work)
    urls = json.loads((work / "json" / "demo.json").read_text(encoding="utf-8"))
    assert len(urls["image_urls"]) == 12
    if via == "cli":
        assert urls["success"] is True and urls["count"] == 12


def test_chunks_without_times_share_the_video_and_never_lack_a_frame(api, tmp_path: Path) -> None:
    transcript = tmp_path / "talk.txt"
    transcript.write_text("\n\n".join(f"Chunk number {i}." for i in range(5)) + "\n")
    work = tmp_path / "work"
    args = ("--no-ffmpeg", "--count", "3", "--transcript", str(transcript), "--name", "talk")
    chunk_list = read_chunks(run_pipeline(api, work, *args), work)
    assert [chunk["text"] for chunk in chunk_list] == [f"Chunk number {i}." for i in range(5)]
    spans = [bound for chunk in chunk_list for bound in (chunk["start"], chunk["end"])]
    assert spans == pytest.approx([bound for i in range(5) for bound in (i * 0.6, (i + 1) * 0.6)])
    assert all(len(chunk["frames"]) == 1 for chunk in chunk_list)
    assert_urls_serve_the_frames(api, chunk_list, work)


def test_a_video_is_cut_with_ffmpeg_at_the_given_rate(api, tmp_path: Path) -> None:
    ffmpeg = require_binary("ffmpeg", FFMPEG_HINT)
    video = colour_video(tmp_path / "talk.mp4", SECONDS)
    work = tmp_path / "work"
    # ffmpeg's own folder first: the script finds the real ffmpeg, nothing else.
    path = f"{Path(ffmpeg).parent}:{clean_env()['PATH']}"
    result = run_pipeline(api, work, "--video", str(video), "--fps", "2", path=path)
    chunk_list = read_chunks(result, work)
    # 2 s at 2 fps: 4 frames, the first two red (second 0), the last two blue (second 1).
    cut = sorted((work / "frames").glob("frame_*.jpg"))
    assert [frame.name for frame in cut] == [f"frame_{n:06d}.jpg" for n in range(1, 5)]
    colours = [colour_of(frame) for frame in cut]
    expected = [SECONDS[0], SECONDS[0], SECONDS[1], SECONDS[1]]
    assert all(map(near, colours, expected)), colours
    # All 4 frames lie inside the sample's first chunk [0-3]; the later chunks are past
    # the end of this video and get its nearest (last) frame.
    assert chunk_list[0]["frames"] == [f"frame_{n:06d}.jpg" for n in range(1, 5)]
    assert [chunk["frames"] for chunk in chunk_list[1:]] == [["frame_000004.jpg"]] * 3
    assert chunk_list[0]["chunk_id"] == "talk-0001"  # named after the video
    assert_urls_serve_the_frames(api, chunk_list, work)


def test_demo_frames_come_from_real_ffmpeg(api, tmp_path: Path) -> None:
    require_binary("ffmpeg", FFMPEG_HINT)
    work = tmp_path / "work"
    chunk_list = read_chunks(run_pipeline(api, work, "--count", "4"), work)
    # Four frames made by ffmpeg; chunks past the 2 s of video reuse the last one (as above).
    used = {name for chunk in chunk_list for name in chunk["frames"]}
    assert used == {f"frame_{n:06d}.jpg" for n in range(1, 5)}
    assert_urls_serve_the_frames(api, chunk_list, work)


def test_a_video_without_ffmpeg_is_one_clear_error(api, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"")
    result = run_pipeline(api, tmp_path / "work", "--video", str(video), path=str(empty))
    assert result.returncode == 1
    assert result.stderr == "error: ffmpeg is not installed; it is needed to read a video\n"
