"""A long screen recording made in minutes: Pillow draws a few dozen screens, ffmpeg does the rest.

Drawing and encoding every frame in Python costs about a second per second of 1080p video
here, so a day's recording (21 minutes or more) would take longer than the measurement. Here
Pillow draws `POOL` distinct screens (`tests/support/recording.py`: windows of text, a sidebar,
a task bar) and the few frames of each page scrolling in over the last one; ffmpeg's concat
demuxer holds each image for its time (a new screen every 4-7 s), `fps` makes it 30 fps, and
two filters add the noise that must not count as a change: a clock that ticks every second
(`drawtext`) and a pointer that drifts on every frame (`overlay`). libx264 writes it with
B-frames (3, with B-pyramid) as Debian's ffmpeg does, so the decoder sees what a real
recording gives it.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from PIL import ImageDraw

from tests.support.recording import draw_screen
from tests.support.recording import plan_changes

FFMPEG = "/usr/bin/ffmpeg"  # Debian's build: the one users have, with drawtext
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
POOL = 24  # distinct screens, about 2 minutes of changes
SCROLL_STEPS = 5  # frames of a page scrolling in, each held 2 video frames (1/3 s at 30 fps)
SEGMENT_SECONDS = 120  # longer videos repeat one segment of at most this (stream copy)
CLOCK_START = 9 * 3600 + 41 * 60  # the task bar clock starts at 09:41:00
ARROW = [(0, 0), (0, 17), (4, 13), (7, 20), (9, 19), (6, 12), (12, 12)]


def ffmpeg_binary() -> str:
    """Debian's ffmpeg, else the one on PATH; a clear error when there is none."""
    found = FFMPEG if Path(FFMPEG).exists() else shutil.which("ffmpeg")
    if found is None:
        raise SystemExit("error: this benchmark needs ffmpeg (apt-get install ffmpeg)")
    return found


def _scrolled(previous: Image.Image, current: Image.Image, progress: float) -> Image.Image:
    """`current` scrolling up over `previous` (progress between 0 and 1)."""
    offset = int(current.height * (1.0 - progress))
    out = previous.copy()
    out.paste(current.crop((0, 0, current.width, current.height - offset)), (0, offset))
    return out


def _pointer(folder: Path, scale: float) -> Path:
    """A classic arrow pointer (white, black outline) with a transparent background."""
    img = Image.new("RGBA", (int(14 * scale) + 2, int(22 * scale) + 2), (0, 0, 0, 0))
    points = [(x * scale, y * scale) for x, y in ARROW]
    ImageDraw.Draw(img).polygon(points, fill=(255, 255, 255, 255), outline=(0, 0, 0, 255))
    path = folder / "pointer.png"
    img.save(path)
    return path


def draw_pool(folder: Path, size: tuple[int, int]) -> list[tuple[Path, list[Path]]]:
    """Each screen of the pool and the frames of it scrolling in over the one before.

    Half of the changes keep the window layout and rewrite the text (the hard case for a
    change detector), half draw a new layout, as in `tests/support/recording.py`.
    """
    screens = [
        draw_screen(size, 7000 + (i + 1) // 2, 9000 + i) for i in range(POOL)
    ]  # (i + 1) // 2: the layout changes on every other screen
    pool = []
    for i, screen in enumerate(screens):
        path = folder / f"screen_{i:03d}.jpg"
        screen.save(path, quality=95)  # JPEG: 5x quicker to write than PNG, and x264 is lossy
        steps = []
        for step in range(1, SCROLL_STEPS + 1):
            frame = _scrolled(screens[i - 1], screen, step / (SCROLL_STEPS + 1))
            steps.append(folder / f"scroll_{i:03d}_{step}.jpg")
            frame.save(steps[-1], quality=95)
        pool.append((path, steps))
    return pool


def concat_list(
    pool: list[tuple[Path, list[Path]]], seconds: float, fps: int, seed: int = 5
) -> tuple[str, int]:
    """The concat demuxer's script for `seconds` of video; also how many screen changes."""
    points, _ = plan_changes(seconds, random.Random(seed))
    step_seconds = 2 / fps
    lines = ["ffconcat version 1.0"]
    starts = [0.0, *points]
    for k, start in enumerate(starts):
        screen, steps = pool[k % len(pool)]
        end = starts[k + 1] if k + 1 < len(starts) else seconds
        held = end - start
        if k > 0:  # the page scrolls in, then stays
            for step in steps:
                lines += [f"file '{step}'", f"duration {step_seconds:.6f}"]
            held -= len(steps) * step_seconds
        lines += [f"file '{screen}'", f"duration {held:.6f}"]
    lines.append(f"file '{pool[(len(starts) - 1) % len(pool)][0]}'")  # concat needs a last entry
    return "\n".join(lines) + "\n", len(points)


def _filters(scale: float, fps: int) -> str:
    """Constant 30 fps, the ticking clock, then the drifting pointer (a Lissajous path)."""
    clock = (
        f"drawtext=fontfile={FONT}:fontsize={int(15 * scale)}:fontcolor=0xE6E6E6"
        f":x=W-{int(90 * scale)}:y=H-{int(26 * scale)}"
        f":text='%{{pts\\:gmtime\\:{CLOCK_START}\\:%H\\\\\\:%M\\\\\\:%S}}'"
    )
    path_x = "(0.5+0.4*sin(t*0.9))*main_w"
    path_y = f"(0.5+0.4*sin(t*1.3+1))*(main_h-{int(60 * scale)})"
    return (
        f"[0:v]format=yuv420p,fps={fps},{clock}[bg];"  # convert each image once
        f"[bg][1:v]overlay=x='{path_x}':y='{path_y}':eval=frame:format=yuv420[out]"
    )


def segments(seconds: float, fps: int) -> tuple[int, int]:
    """(count, frames each): the fewest segments of at most `SEGMENT_SECONDS` whose frames
    add up to exactly `seconds` of video."""
    total = max(1, round(seconds * fps))
    count = -(-total // (SEGMENT_SECONDS * fps))
    while total % count:
        count += 1
    return count, total // count


def _encode(folder: Path, out: Path, seconds: float, size: tuple[int, int], fps: int) -> int:
    """Encode `seconds` of screens into `out`; return the number of screen changes."""
    scale = size[0] / 1280
    script, changes = concat_list(draw_pool(folder, size), seconds, fps)
    (folder / "list.ffconcat").write_text(script)
    command = [ffmpeg_binary(), "-v", "error", "-y", "-f", "concat", "-safe", "0"]
    command += ["-i", str(folder / "list.ffconcat"), "-i", str(_pointer(folder, scale))]
    command += ["-filter_complex", _filters(scale, fps), "-map", "[out]", "-t", f"{seconds}"]
    # veryfast keeps what the default medium gives the decoder (3 B-frames, B-pyramid) at a
    # fraction of the time; stillimage is the tune for screens.
    command += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-crf", "23"]
    command += ["-r", str(fps), str(out)]
    subprocess.run(command, check=True)
    return changes


def make_screen_video(
    path: Path, seconds: float, size: tuple[int, int] = (1920, 1080), fps: int = 30
) -> int:
    """Write `seconds` of H.264 screen recording to `path`; return the number of screen changes.

    Beyond `SEGMENT_SECONDS`, one segment is encoded and repeated by stream copy (x264 costs
    about 20 ms of CPU per 1080p frame here, so 21 minutes would take longer than measuring
    them): the decoder sees the same GOPs and B-frames; the clock starts again each segment.
    """
    count, frames = segments(seconds, fps)
    with tempfile.TemporaryDirectory(prefix="screen-video-") as tmp:
        folder = Path(tmp)
        segment = folder / "segment.mp4"
        changes = _encode(folder, segment, frames / fps, size, fps)
        script = "ffconcat version 1.0\n" + f"file '{segment}'\n" * count
        (folder / "segments.ffconcat").write_text(script)
        command = [ffmpeg_binary(), "-v", "error", "-y", "-f", "concat", "-safe", "0"]
        command += ["-i", str(folder / "segments.ffconcat"), "-c", "copy"]
        command += ["-movflags", "+faststart", str(path)]
        subprocess.run(command, check=True)
    return changes * count


def cached_screen_video(folder: Path, seconds: float, size: tuple[int, int], fps: int) -> Path:
    """The recording for these parameters, made once into `folder` and reused."""
    name = f"screen_{size[0]}x{size[1]}p{fps}_{seconds:g}s_x264.mp4"
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"making {name} once (Pillow screens, ffmpeg libx264) ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp.mp4")
        make_screen_video(tmp, seconds, size, fps)
        tmp.rename(path)  # a half-written file is never taken for the recording
    return path
