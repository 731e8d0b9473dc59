"""Decoding for extraction (#29): fps sampling that skips frames yet chooses exactly the frames
a full decode chooses, other containers, rotation, probing, and following a growing file."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import av
import pytest
from av.video.frame import PictureType
from PIL import Image

from imageserver.video import extract
from imageserver.video import growing
from imageserver.video import videoio
from imageserver.video.decoding import Decoded
from imageserver.video.sampling import Chooser
from imageserver.video.sampling import SkipPlan
from tests.support import recording
from tests.support import video_files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bframe_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """8 s of 30 fps H.264 with B-frames, in MP4 and in Matroska, and an MP4 with an IDR
    frame every 1.3 s (so frames before IDRs are left undecoded)."""
    d = tmp_path_factory.mktemp("bframes")
    made = {s: video_files.make_bframe_video(d / f"b.{s}", 8.0) for s in ("mp4", "mkv")}
    made["idr"] = video_files.make_bframe_video(d / "idr.mp4", 8.0, gop=40)
    return made


def all_frame_times(path: Path) -> list[float]:
    """Every frame's time, decoding everything (the reference)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        return sorted(float((f.pts - start) * f.time_base) for f in container.decode(stream))


def first_at_or_after_targets(times: list[float], fps: float) -> list[float]:
    """For each target k/F the first frame at or after it (1 ms slack), without repeats."""
    chosen = []
    for k in range(math.ceil(times[-1] * fps) + 1):
        later = [t for t in times if t >= k / fps - 1e-3]
        if later and later[0] not in chosen:
            chosen.append(later[0])
    return chosen


def test_the_test_video_has_bframes(bframe_videos):
    with av.open(str(bframe_videos["mp4"])) as container:
        types = [f.pict_type for f in container.decode(video=0)]
    assert types.count(PictureType.B) > len(types) / 3


@pytest.mark.parametrize("kind", ["mp4", "mkv", "idr"])
@pytest.mark.parametrize("fps", [1.0, 2.5, 0.3, 7.0, 30.0])
def test_fps_sampling_chooses_what_a_full_decode_chooses(bframe_videos, tmp_path, kind, fps):
    video = bframe_videos[kind]
    expected = first_at_or_after_targets(all_frame_times(video), fps)
    got = extract.extract_into(video, tmp_path, extract.FrameSettings("fps", fps))
    assert list(got.values()) == pytest.approx(expected, abs=1e-6)
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == list(got)


@pytest.mark.parametrize("kind", ["mp4", "idr"])
def test_skipping_leaves_the_pictures_identical(bframe_videos, tmp_path, monkeypatch, kind):
    """The chosen frames' JPEG bytes equal those written when every frame is decoded."""
    video, settings = bframe_videos[kind], extract.FrameSettings("fps", 2.0)
    skipped, everything = tmp_path / "skipped", tmp_path / "everything"
    skipped.mkdir()
    everything.mkdir()
    names = list(extract.extract_into(video, skipped, settings))
    monkeypatch.setattr(SkipPlan, "droppable", lambda self, t: False)
    monkeypatch.setattr(Decoded, "_unneeded_until_idr", lambda *args: False)
    assert list(extract.extract_into(video, everything, settings)) == names
    for name in names:
        assert (skipped / name).read_bytes() == (everything / name).read_bytes(), name


def count_decoded(video: Path, mode: str, value: float) -> tuple[int, int]:
    """(frames the codec gave us, frames in the file)."""
    container, stream = videoio.open_video(video)
    with container:
        decoded = sum(1 for _ in Decoded(container, stream, Chooser(mode, value)))
    return decoded, len(all_frame_times(video))


def test_fps_sampling_lets_the_codec_drop_frames(bframe_videos):
    decoded, total = count_decoded(bframe_videos["mp4"], "fps", 1.0)
    assert decoded < total * 0.75, (decoded, total)


def test_frames_before_an_idr_are_not_decoded(bframe_videos, monkeypatch):
    video = bframe_videos["idr"]
    with av.open(str(video)) as container:
        idrs = sum(p.is_keyframe for p in container.demux(video=0) if p.size)
    assert idrs >= 5
    decoded, _ = count_decoded(video, "fps", 1.0)
    monkeypatch.setattr(Decoded, "_unneeded_until_idr", lambda *args: False)
    without, _ = count_decoded(video, "fps", 1.0)
    assert decoded < without


@pytest.mark.parametrize("mode,value", [("scene", 0.3), ("every", 2)])
def test_scene_and_every_modes_see_every_frame(bframe_videos, mode, value):
    decoded, total = count_decoded(bframe_videos["mp4"], mode, value)
    assert decoded == total


def test_vp9_webm_still_exact(tmp_path):
    video = recording.make_recording(tmp_path / "r.webm", seconds=5.0, fps=10).path
    out = tmp_path / "out"
    out.mkdir()
    got = extract.extract_into(video, out, extract.FrameSettings("fps", 2.0))
    assert list(got.values()) == pytest.approx(
        first_at_or_after_targets(all_frame_times(video), 2.0), abs=1e-6
    )


@pytest.mark.parametrize("degrees", [-90, 90, 180])
def test_rotated_video_comes_out_upright(tmp_path, degrees):
    video = video_files.make_rotated_video(tmp_path / "phone.mp4", degrees)
    out = tmp_path / "out"
    out.mkdir()
    names = list(extract.extract_into(video, out))
    with Image.open(out / names[0]) as image:
        rgb = image.convert("RGB")
    w, h = rgb.size
    # Coded: 64x32, blue left half, red right half. Turned counter-clockwise by `degrees`:
    # -90 (a portrait phone clip) puts the left half on top, 90 at the bottom, 180 right.
    assert (w, h) == ((32, 64) if degrees in (90, -90) else (64, 32))
    blue_at = {-90: (w // 2, 4), 90: (w // 2, h - 5), 180: (w - 5, h // 2)}[degrees]
    red_at = {-90: (w // 2, h - 5), 90: (w // 2, 4), 180: (4, h // 2)}[degrees]
    assert rgb.getpixel(blue_at)[2] > 150 > rgb.getpixel(blue_at)[0]
    assert rgb.getpixel(red_at)[0] > 150 > rgb.getpixel(red_at)[2]


def test_probe(tmp_path, bframe_videos):
    info = videoio.probe(bframe_videos["mp4"])
    assert (info.width, info.height, info.rotation) == (320, 180, 0)
    assert info.duration == pytest.approx(8.0, abs=0.1)
    assert info.rate == pytest.approx(30.0)
    assert info.frame_count == 240
    phone = videoio.probe(video_files.make_rotated_video(tmp_path / "p.mp4", -90))
    assert (phone.width, phone.height, phone.rotation) == (32, 64, 270)
    with pytest.raises(videoio.NotAVideoError):
        videoio.probe(recording.not_a_video(tmp_path / "x.mp4"))


class FakeTime:
    """A clock that moves only when slept on; each sleep first runs ``on_sleep``."""

    def __init__(self, on_sleep=lambda: None) -> None:
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.on_sleep()
        self.now += seconds


def test_growing_file_ends_after_idle_seconds(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    fake = FakeTime()
    just_written = path.stat().st_mtime
    with growing.GrowingFile(path, 3.0, fake.clock, fake.sleep, wall=lambda: just_written) as f:
        assert f.read(10) == b"abc"
        assert f.read(10) == b""  # no growth for 3 s of the fake clock
    assert fake.now == pytest.approx(3.0)
    assert fake.sleeps == math.ceil(3.0 / growing.POLL_SECONDS)


def test_growing_file_written_long_ago_ends_at_once(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    fake = FakeTime()
    long_after = path.stat().st_mtime + 60
    with growing.GrowingFile(path, 3.0, fake.clock, fake.sleep, wall=lambda: long_after) as f:
        assert f.read(10) == b"abc"
        assert f.read(10) == b""
    assert fake.sleeps == 0


def test_growing_file_reads_what_is_appended(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")

    def append() -> None:
        if fake.sleeps == 2:
            with open(path, "ab") as f:
                f.write(b"def")

    fake = FakeTime(append)
    with growing.GrowingFile(path, 10.0, fake.clock, fake.sleep) as f:
        assert f.read(10) == b"abc"
        assert f.read(10) == b"def"


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_following_a_growing_recording(tmp_path, suffix, monkeypatch):
    """A separate process writes an MKV (or a fragmented MP4) in 4 steps; extraction follows it
    as it grows and ends `idle` seconds after the writer stopped, with the frames of the
    finished file."""
    video = tmp_path / f"live{suffix}"
    # On the fake clock the writer has always just written: however slow this machine is,
    # its real seconds between steps do not count as idle.
    monkeypatch.setattr(growing, "wall_clock", lambda: video.stat().st_mtime)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.video_files", str(video), "4", "30"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen_while_writing: list[int] = []
    written: list[str] = []
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "step 0"

        def next_step() -> None:  # the extraction waits for data: let the writer go on
            if writer.poll() is None:
                seen_while_writing.append(len(written))
                writer.stdin.write("\n")
                writer.stdin.flush()
                writer.stdout.readline()

        fake = FakeTime(next_step)
        out = tmp_path / "out"
        out.mkdir()
        got = extract.extract_into(
            video,
            out,
            extract.FrameSettings("fps", 1.0),
            on_frame=lambda name, t: written.append(name),
            follow_idle_seconds=5.0,
            clock=fake.clock,
            sleep=fake.sleep,
        )
        assert writer.wait(timeout=30) == 0
    finally:
        writer.kill()
        writer.wait()
    assert max(seen_while_writing) > 0  # frames appeared before the file was finished
    assert list(got) == written
    assert list(got.values()) == pytest.approx([float(s) for s in range(12)])
    finished = tmp_path / "again"
    finished.mkdir()
    assert extract.extract_into(video, finished, extract.FrameSettings("fps", 1.0)) == got
