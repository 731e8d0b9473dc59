"""The video and frame engines without a server: extraction, cache, hashes, facts, sheets (#23)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image
from PIL import ImageChops

from imageserver.frames import facts
from imageserver.frames import phash
from imageserver.frames import sheet
from imageserver.video import extract as frames
from imageserver.video import framecache
from tests.support import recording

SECONDS = 16.0
FPS = 10


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, recording.Recording]:
    """One short H.264/MP4 and one VP9/WebM recording with the same screens."""
    d = tmp_path_factory.mktemp("videos")
    return {
        s: recording.make_recording(d / f"rec.{s}", seconds=SECONDS, fps=FPS, seed=11)
        for s in ("mp4", "webm")
    }


def cache_entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("kind", ["mp4", "webm"])
@pytest.mark.parametrize("rate", [2.0, 0.25])  # 0.25: sparse targets, seeks on MP4 keyframes
def test_fps_mode_names_and_times(videos, tmp_path, kind, rate):
    rec = videos[kind]
    seen: list[tuple[int, int | None]] = []
    first: list[int] = []
    res = frames.extract_frames(
        rec.path,
        tmp_path,
        frames.FrameSettings("fps", rate),
        progress=lambda d, t: seen.append((d, t)),
        on_first_frames=lambda folder, e: first.append(len(e)),
    )
    names = list(res.frames)
    assert names == sorted(names) and names[0] == "frame_000001.jpg"
    assert len(names) == int(SECONDS * rate)
    # First frame at or after k/F s; the recording's frames sit exactly on tenths.
    assert [res.frames[n] for n in names] == pytest.approx([k / rate for k in range(len(names))])
    assert sorted(p.name for p in res.directory.glob("*.jpg")) == names
    assert seen[-1][0] == len(names) and first == [min(8, len(names))]
    with Image.open(res.directory / names[3]) as im:
        assert im.format == "JPEG" and im.size == (1280, 720)
    assert cache_entries(tmp_path) == [res.directory.name]  # no temp folder left behind


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_scene_mode_hits_change_points(videos, tmp_path, kind):
    rec = videos[kind]
    res = frames.extract_frames(
        rec.path, tmp_path, frames.FrameSettings("scene", frames.DEFAULT_SCENE)
    )
    times = list(res.frames.values())
    # Exactly the first frame plus one per change, kept once settled (one frame after the
    # change): cursor and clock never trigger.
    assert times == pytest.approx([0.0] + [c + 1 / FPS for c in rec.change_points])


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_every_mode(videos, tmp_path, kind):
    res = frames.extract_frames(videos[kind].path, tmp_path, frames.FrameSettings("every", 7))
    n = int(SECONDS * FPS)
    assert list(res.frames.values()) == pytest.approx([i / FPS for i in range(0, n, 7)])


def test_reextraction_is_cache_hit(videos, tmp_path):
    a = frames.extract_frames(videos["mp4"].path, tmp_path)
    mtime = (a.directory / framecache.MANIFEST).stat().st_mtime_ns
    b = frames.extract_frames(videos["mp4"].path, tmp_path)
    assert b.cached and not a.cached and b.directory == a.directory and b.frames == a.frames
    assert (a.directory / framecache.MANIFEST).stat().st_mtime_ns == mtime
    c = frames.extract_frames(videos["mp4"].path, tmp_path, frames.FrameSettings("fps", 0.5))
    assert c.directory != a.directory  # settings are part of the key


def test_touched_video_gets_new_folder(videos, tmp_path):
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(videos["mp4"].path.read_bytes())
    a = framecache.cache_dir_for(copy, tmp_path / "c", ["fps", 1.0])
    os.utime(copy, ns=(1, 1))
    assert framecache.cache_dir_for(copy, tmp_path / "c", ["fps", 1.0]) != a


def test_stale_temp_folders_are_cleaned(tmp_path):
    (tmp_path / ".tmp-x-1").mkdir()
    (tmp_path / "kept-0123").mkdir()
    os.utime(tmp_path / ".tmp-x-1", (0, 0))
    assert framecache.clean_stale_temps(tmp_path) == 1
    assert cache_entries(tmp_path) == ["kept-0123"]


def test_first_frames_hook_sees_files(videos, tmp_path):
    seen = []

    def hook(folder: Path, entries: list[tuple[str, float]]) -> None:
        seen.extend((folder / name).is_file() for name, _ in entries)

    frames.extract_frames(videos["mp4"].path, tmp_path, on_first_frames=hook, first_count=3)
    assert seen == [True, True, True]


@pytest.mark.parametrize("kind,faststart", [("mp4", False), ("mp4", True), ("webm", False)])
def test_truncated_video_leaves_nothing(tmp_path, kind, faststart):
    rec = recording.make_recording(
        tmp_path / f"v.{kind}", seconds=6, fps=10, seed=3, faststart=faststart
    )
    bad = recording.truncated_copy(rec.path, tmp_path / f"cut.{kind}", 0.5)
    cache = tmp_path / "cache"
    with pytest.raises(frames.TruncatedVideoError):
        frames.extract_frames(bad, cache)
    assert cache_entries(cache) == []


@pytest.mark.parametrize(
    "maker,exc",
    [
        (lambda p: recording.not_a_video(p / "x.mp4"), frames.NotAVideoError),
        (
            lambda p: Image.new("RGB", (64, 64)).save(p / "x.jpg") or p / "x.jpg",
            frames.NotAVideoError,
        ),
        (lambda p: recording.audio_only(p / "a.mp4"), frames.NoVideoStreamError),
    ],
)
def test_bad_inputs(tmp_path, maker, exc):
    path = maker(tmp_path)
    with pytest.raises(exc):
        frames.extract_frames(path, tmp_path / "cache")
    assert cache_entries(tmp_path / "cache") == []


def test_options_validation():
    assert frames.FrameSettings.from_options() == frames.FrameSettings("fps", 1.0)
    assert frames.FrameSettings.from_options(every=5).mode == "every"
    for bad in ({"fps": 1, "every": 2}, {"scene": 2.0}, {"every": 0}, {"fps": -1}):
        with pytest.raises(ValueError):
            frames.FrameSettings.from_options(**bad)


@pytest.fixture(scope="session")
def long_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, recording.Recording]:
    """45 s at 5 fps: enough screens (about 7 changes) for precision/recall."""
    d = tmp_path_factory.mktemp("long")
    return {
        s: recording.make_recording(d / f"long.{s}", seconds=45, fps=5, seed=21)
        for s in ("mp4", "webm")
    }


def precision_recall(
    rec: recording.Recording, times: dict[str, float], kept: list[dict]
) -> tuple[float, float]:
    """Precision: kept frames that show a new screen; recall: sampled screens that are kept."""
    scenes = [rec.scene_at(e["t"]) for e in kept]
    true_pos = sum(1 for i, s in enumerate(scenes) if i == 0 or s != scenes[i - 1])
    sampled = {rec.scene_at(t) for t in times.values()}
    return true_pos / len(kept), len(set(scenes)) / len(sampled)


@pytest.mark.parametrize("kind", ["mp4", "webm"])
def test_collapse_precision_recall(long_videos, tmp_path, kind):
    rec = long_videos[kind]
    res = frames.extract_frames(rec.path, tmp_path, frames.FrameSettings("fps", 1.0))
    paths = [res.directory / n for n in res.frames]
    entries = [
        {"name": n, "t": t, "hash": h}
        for (n, t), h in zip(res.frames.items(), phash.hash_many(paths), strict=True)
    ]
    kept = phash.collapse(entries)
    precision, recall = precision_recall(rec, res.frames, kept)
    print(
        f"\n{kind} edge256 d={phash.DEFAULT_DISTANCE}: {len(entries)} frames -> {len(kept)}"
        f" kept, precision={precision:.2f} recall={recall:.2f}, kinds={rec.kinds}"
    )
    # For comparison only: the classic 64-bit dHash at a few distances.
    for d in (0, 2, 4, 6):
        plain = [dict(e, hash=phash.dhash_file(p)) for e, p in zip(entries, paths, strict=True)]
        p64, r64 = precision_recall(rec, res.frames, phash.collapse(plain, d))
        print(f"{kind} dhash64 d={d}: precision={p64:.2f} recall={r64:.2f}")
    assert precision == 1.0 and recall == 1.0
    assert sum(e["duplicates"] + 1 for e in kept) == len(entries)
    assert all(e["t_from"] <= e["t_to"] for e in kept)


def test_collapse_semantics():
    entries = [{"name": f"f{i}", "hash": h} for i, h in enumerate([0, 1, 3, 7, 0xFF, 0])]
    kept = phash.collapse(reversed(entries), distance=2)  # sorted by name internally
    # 0 keeps; 1, 3 within 2 bits of 0; 7 (3 bits) kept; 0xFF (5 bits from 7) kept; 0 kept.
    assert [(e["name"], e["duplicates"]) for e in kept] == [
        ("f0", 2),
        ("f3", 0),
        ("f4", 0),
        ("f5", 0),
    ]
    assert phash.collapse([]) == []


def test_hashes_are_stable_and_sensitive(tmp_path):
    img = recording.draw_screen((1280, 720), 1, 2)
    img.save(tmp_path / "a.jpg", quality=90)
    img.save(tmp_path / "a.png")
    recording.draw_screen((1280, 720), 5, 6).save(tmp_path / "b.jpg", quality=90)
    a, a_png, b = (phash.edge_hash_file(tmp_path / n) for n in ("a.jpg", "a.png", "b.jpg"))
    assert 0 <= a < 2**phash.HASH_BITS and 0 <= phash.dhash_file(tmp_path / "a.jpg") < 2**64
    assert phash.hamming(a, a_png) <= 2  # draft-decoded JPEG ~ full PNG
    assert phash.hamming(a, b) > phash.DEFAULT_DISTANCE
    assert phash.hash_file_or_none(tmp_path / "missing.jpg") is None


def test_facts(tmp_path):
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")):
        Image.new("RGB", (123, 45)).save(tmp_path / f"x.{ext}", fmt)
        assert facts.image_facts(tmp_path / f"x.{ext}") == (123, 45, fmt)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "text.png").write_text("hello")
    assert facts.image_facts(tmp_path / "bad.jpg") is None
    assert facts.image_facts(tmp_path / "text.png") is None
    assert facts.image_facts(tmp_path / "missing.png") is None
    assert facts.facts_dict(tmp_path / "x.png") == {"width": 123, "height": 45, "format": "PNG"}


def test_format_time_and_grid():
    assert sheet.format_time(83.42) == "00:01:23.4"
    assert sheet.format_time(3600 * 2 + 59.96) == "02:01:00.0"
    assert sheet.grid_shape(36) == (6, 6) and sheet.grid_shape(10) == (4, 3)
    assert sheet.grid_shape(3, cols=5) == (3, 1)


@pytest.mark.parametrize("count,cols", [(1, None), (7, None), (36, None), (12, 6)])
def test_sheet(tmp_path, count, cols):
    items = []
    for i in range(count):
        p = tmp_path / f"frame_{i + 1:06d}.jpg"
        recording.draw_screen((1280, 720), i, i).save(p, quality=85)
        items.append((p, sheet.format_time(i * 1.5)))
    img = sheet.render_sheet(items, cols=cols, max_side=1568)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    decoded = Image.open(io.BytesIO(buf.getvalue()))
    assert decoded.mode == "RGB" and max(decoded.size) <= 1568
    c, r, tw, th, band = sheet.layout(count, cols, 1568, 9 / 16)
    assert (c, r) == sheet.grid_shape(count, cols)
    assert decoded.size == (c * tw + (c + 1) * sheet.GAP, r * (th + band + sheet.GAP) + sheet.GAP)
    # Every label band holds drawn text: it differs from a blank band of the same size.
    for i in range(count):
        x = sheet.GAP + (i % c) * (tw + sheet.GAP)
        y = sheet.GAP + (i // c) * (th + band + sheet.GAP) + th
        region = decoded.crop((x, y, x + tw, y + band))
        blank = Image.new("RGB", region.size, sheet.BAND)
        assert ImageChops.difference(region, blank).getbbox() is not None


def test_sheet_limits_and_unreadable(tmp_path):
    with pytest.raises(ValueError):
        sheet.render_sheet([(tmp_path / "x.jpg", "x")] * 37)
    img = sheet.render_sheet([(tmp_path / "missing.jpg", "missing.jpg")], max_side=400)
    assert max(img.size) <= 400
