"""Frames for the pipeline: extracted from a video with ffmpeg, or drawn with Pillow.

Frames are named `frame_000001.jpg`, `frame_000002.jpg`, ... (ffmpeg's numbering, from 1),
so frame k was on screen at `(k - 1) / fps` seconds whichever way it was made.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PATTERN = "frame_%06d.jpg"
DEMO_SIZE = (1280, 720)


class FramesError(RuntimeError):
    """Frames could not be made; the message says why."""


def ffmpeg_path() -> str | None:
    """Return the ffmpeg executable on PATH, or None."""
    return shutil.which("ffmpeg")


def extract(video: Path, folder: Path, fps: float) -> list[Path]:
    """Write `fps` frames per second of `video` into `folder`. :raise FramesError: no ffmpeg."""
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        raise FramesError("ffmpeg is not installed; it is needed to read a video")
    folder.mkdir(parents=True, exist_ok=True)
    # -q:v 2 is near-lossless JPEG: the server makes smaller variants per model on request.
    _run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
          "-vf", f"fps={fps}", "-q:v", "2", str(folder / PATTERN)])  # fmt: skip
    return sorted(folder.glob("frame_*.jpg"))


def demo(folder: Path, count: int, fps: float, use_ffmpeg: bool = True) -> list[Path]:
    """Make `count` demo frames: ffmpeg's test pattern when ffmpeg is there, else Pillow."""
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg = ffmpeg_path() if use_ffmpeg else None
    if ffmpeg is not None:
        width, height = DEMO_SIZE
        source = f"testsrc2=size={width}x{height}:rate={fps}:duration={count / fps}"
        _run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
              "-frames:v", str(count), "-q:v", "2", str(folder / PATTERN)])  # fmt: skip
        return sorted(folder.glob("frame_*.jpg"))
    return [_draw(folder / (PATTERN % number), number, fps) for number in range(1, count + 1)]


def _draw(path: Path, number: int, fps: float) -> Path:
    from PIL import Image  # only this fallback needs Pillow
    from PIL import ImageDraw

    image = Image.new("RGB", DEMO_SIZE, ((number * 53) % 256, 96, (number * 29) % 256))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 600, 140), fill=(255, 255, 255))
    draw.text((60, 70), f"frame {number} at {(number - 1) / fps:.1f} s", fill=(0, 0, 0))
    image.save(path, "JPEG", quality=90)
    return path


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FramesError(f"ffmpeg failed: {result.stderr.strip()[-500:]}")


def timestamp(name: str, fps: float) -> float:
    """Seconds into the video of the frame called `name` (`frame_000001.jpg` is 0.0)."""
    number = int(Path(name).stem.rsplit("_", 1)[-1])
    return (number - 1) / fps
