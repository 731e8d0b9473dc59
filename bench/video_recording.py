"""The benchmark's screen recording: 1080p30 H.264 as a screen recorder or Debian's ffmpeg
writes it (libx264 with its default preset, so B-frames and B-pyramid), made once with PyAV.

Screens come from `tests/support/recording.py` (windows of text, a ticking clock, a moving
pointer); here each new screen also scrolls in over half a second, as a page does when a
person scrolls or switches, so the encoder sees motion as well as static stretches.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image
from PIL import ImageFont

from tests.support.recording import decorate
from tests.support.recording import draw_screen
from tests.support.recording import plan_changes

SIZE = (1920, 1080)
SCROLL_SECONDS = 0.5


def _scrolled(previous: Image.Image, current: Image.Image, progress: float) -> Image.Image:
    """`current` scrolling up over `previous` (progress 0..1)."""
    if progress >= 1.0:
        return current
    offset = int(SIZE[1] * (1.0 - progress))
    out = previous.copy()
    out.paste(current.crop((0, 0, SIZE[0], SIZE[1] - offset)), (0, offset))
    return out


def make_screen_recording(
    path: Path, seconds: float, fps: int = 30, preset: str = "medium"
) -> None:
    """Encode `seconds` of 1080p screen recording at `fps` into `path` (H.264 MP4, yuv420p)."""
    import av

    rng = random.Random(5)
    points, kinds = plan_changes(seconds, rng)
    scale = SIZE[0] / 1280
    clock_font = ImageFont.load_default(size=int(15 * scale))
    layout, text = 5000, 5001
    previous = current = draw_screen(SIZE, layout, text)
    changed_at, scene = 0.0, 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": preset, "crf": "23"}
        for i in range(int(round(seconds * fps))):
            t = i / fps
            while scene < len(points) and points[scene] <= t + 1e-9:
                scene, text = scene + 1, text + 1
                layout += kinds[scene - 1] == "full"
                previous, current = current, draw_screen(SIZE, layout, text)
                changed_at = t
            base = _scrolled(previous, current, (t - changed_at) / SCROLL_SECONDS)
            frame = av.VideoFrame.from_image(decorate(base, t, scale, clock_font))
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def cached_recording(folder: Path, minutes: float, fps: int) -> Path:
    """The recording for (minutes, fps), encoded once into `folder` and reused."""
    path = folder / f"screen_1080p{fps}_{minutes:g}min_x264.mp4"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} once (PyAV, libx264 medium) ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp.mp4")
        make_screen_recording(tmp, minutes * 60, fps)
        tmp.rename(path)  # a half-written file is never taken for the recording
    return path
