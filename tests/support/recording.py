"""Synthetic screen recordings for tests and benchmarks (test support only).

A recording is a sequence of "screens" (windows of text lines and rectangles) that switch at
known change points, plus two kinds of noise that must NOT count as changes: a mouse cursor that
moves every frame and a clock in the task bar that ticks every second. Half of the changes
(``kind == "partial"``) keep the window layout and only rewrite the text panel, which is the
hard case for perceptual hashes; the others draw a new layout (``kind == "full"``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

WORDS = [
    "def",
    "class",
    "return",
    "import",
    "frame",
    "video",
    "image",
    "server",
    "cache",
    "hash",
    "index",
    "model",
    "token",
    "request",
    "response",
    "folder",
    "upload",
    "stable",
    "pipeline",
    "vision",
    "screen",
    "record",
    "lambda",
    "yield",
]


@dataclass
class Recording:
    """What was generated: the file and the ground truth for change detection."""

    path: Path
    duration: float
    fps: int
    size: tuple[int, int]
    change_points: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def scene_at(self, t: float) -> int:
        """Index of the screen visible at ``t`` (0 before the first change point)."""
        return sum(1 for c in self.change_points if c <= t + 1e-9)


def plan_changes(duration: float, rng: random.Random) -> tuple[list[float], list[str]]:
    """Change points every 4-7 s (on tenths of a second), alternating full/partial kinds."""
    points: list[float] = []
    kinds: list[str] = []
    t = rng.uniform(4.0, 7.0)
    while t < duration - 1.0:
        points.append(round(t, 1))
        kinds.append("partial" if len(points) % 2 == 0 else "full")
        t += rng.uniform(4.0, 7.0)
    return points, kinds


def _text_panel(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random, scale: float
) -> None:
    """Fill ``box`` with lines of random words (what changes in a 'partial' change)."""
    x0, y0, _, y1 = box
    draw.rectangle(box, fill=(250, 250, 248))
    font = ImageFont.load_default(size=max(10, int(16 * scale)))
    y = y0 + int(10 * scale)
    while y < y1 - int(24 * scale):
        indent = rng.choice((0, 0, 1, 2)) * int(24 * scale)
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
        color = rng.choice(((30, 30, 30), (20, 80, 160), (150, 40, 40), (30, 120, 60)))
        draw.text((x0 + int(12 * scale) + indent, y), line, fill=color, font=font)
        y += int(rng.choice((22, 22, 22, 44)) * scale)


def draw_screen(size: tuple[int, int], layout_seed: int, text_seed: int) -> Image.Image:
    """One static screen: desktop, a window with sidebar/blocks, a text panel, a task bar."""
    w, h = size
    scale = w / 1280
    lay = random.Random(layout_seed)
    img = Image.new("RGB", size, tuple(lay.randint(40, 120) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    wx0, wy0 = lay.randint(0, int(80 * scale)), lay.randint(0, int(60 * scale))
    wx1, wy1 = w - lay.randint(0, int(80 * scale)), h - int(40 * scale) - lay.randint(0, 30)
    draw.rectangle((wx0, wy0, wx1, wy1), fill=(235, 235, 235))
    draw.rectangle(
        (wx0, wy0, wx1, wy0 + int(30 * scale)), fill=tuple(lay.randint(0, 255) for _ in range(3))
    )
    side = wx0 + lay.randint(int(160 * scale), int(320 * scale))
    draw.rectangle((wx0, wy0 + int(30 * scale), side, wy1), fill=(210, 214, 220))
    for _ in range(lay.randint(3, 8)):
        bx = lay.randint(wx0 + 8, side - int(60 * scale))
        by = lay.randint(wy0 + int(40 * scale), wy1 - int(40 * scale))
        draw.rectangle(
            (bx, by, bx + int(50 * scale), by + int(20 * scale)),
            fill=tuple(lay.randint(60, 200) for _ in range(3)),
        )
    _text_panel(
        draw,
        (side + 10, wy0 + int(40 * scale), wx1 - 10, wy1 - 10),
        random.Random(text_seed),
        scale,
    )
    draw.rectangle((0, h - int(32 * scale), w, h), fill=(25, 25, 30))  # task bar
    return img


def _cursor(draw: ImageDraw.ImageDraw, x: int, y: int, scale: float) -> None:
    """A classic arrow cursor (white fill, black outline), ~12x20 px at 720p."""
    pts = [(0, 0), (0, 17), (4, 13), (7, 20), (9, 19), (6, 12), (12, 12)]
    poly = [(x + px * scale, y + py * scale) for px, py in pts]
    draw.polygon(poly, fill=(255, 255, 255), outline=(0, 0, 0))


def decorate(
    base: Image.Image, t: float, scale: float, clock_font: ImageFont.ImageFont
) -> Image.Image:
    """Add the per-frame noise: a cursor on a Lissajous path and an HH:MM:SS clock."""
    img = base.copy()
    draw = ImageDraw.Draw(img)
    w, h = img.size
    # Cursor position is a smooth function of t so it moves on every frame.
    x = int((0.5 + 0.4 * math.sin(t * 0.9)) * w)
    y = int((0.5 + 0.4 * math.sin(t * 1.3 + 1.0)) * (h - 60 * scale))
    secs = 9 * 3600 + 41 * 60 + int(t)
    clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    draw.text(
        (w - int(90 * scale), h - int(26 * scale)), clock, fill=(230, 230, 230), font=clock_font
    )
    _cursor(draw, x, y, scale)
    return img


def make_recording(
    path: Path,
    seconds: float = 12.0,
    fps: int = 10,
    size: tuple[int, int] = (1280, 720),
    codec: str | None = None,
    seed: int = 7,
    faststart: bool = False,
    preset: str = "veryfast",
) -> Recording:
    """Encode a synthetic screen recording; the codec follows the suffix (.mp4 H.264, .webm VP9).

    ``faststart`` moves the MP4 index to the front (so a truncated copy still opens).
    """
    import av

    rng = random.Random(seed)
    points, kinds = plan_changes(seconds, rng)
    codec = codec or ("libvpx-vp9" if path.suffix == ".webm" else "libx264")
    scale = size[0] / 1280
    clock_font = ImageFont.load_default(size=max(10, int(15 * scale)))
    options = {"movflags": "faststart"} if faststart and path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": preset, "tune": "stillimage", "crf": "23"}
        else:  # VP9: realtime + cpu-used 8 keeps test encoding under a second per few seconds
            stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}
        layout, text = seed * 1000, seed * 1000 + 1
        base = draw_screen(size, layout, text)
        scene = 0
        for i in range(int(round(seconds * fps))):
            t = i / fps
            while scene < len(points) and points[scene] <= t + 1e-9:
                scene += 1
                text += 1
                if kinds[scene - 1] == "full":
                    layout += 1
                base = draw_screen(size, layout, text)
            frame = av.VideoFrame.from_image(decorate(base, t, scale, clock_font))
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return Recording(path, seconds, fps, size, points, kinds)


def truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of the bytes, like an interrupted download or upload."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def not_a_video(dst: Path) -> Path:
    """A text file with a video suffix."""
    dst.write_text("this is not a video\n" * 100)
    return dst


def audio_only(dst: Path, seconds: float = 2.0) -> Path:
    """An MP4 with one AAC audio stream and no video stream."""
    import av

    rate = 44100
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        samples = 1024
        for i in range(int(seconds * rate / samples)):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
            frame.planes[0].update(bytes(samples * 4))
            frame.sample_rate = rate
            frame.pts = i * samples
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def huge_frames_video(dst: Path, width: int = 12000, height: int = 12000, frames: int = 2) -> Path:
    """A tiny MOV whose frames are `width` x `height` (PNG packets, muxed without encoding).

    A blank 1-bit PNG of 144 megapixels compresses to a few hundred KB, so the file is small
    while each frame would decode to hundreds of MB: the decompression bomb a limit stops.
    """
    import io
    from fractions import Fraction

    import av

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG")
    data = buffer.getvalue()
    with av.open(str(dst), "w", format="mov") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height = width, height
        stream.pix_fmt = "monob"
        stream.time_base = Fraction(1, 1)
        for i in range(frames):
            packet = av.Packet(data)
            packet.stream = stream
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, 1)
            out.mux(packet)
    return dst
