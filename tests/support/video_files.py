"""Small videos for the decoding tests: B-frame H.264 in MP4/MKV, rotated phone clips, and a
Matroska (or fragmented MP4) file written in steps by a separate process (test support only).

``python -m tests.support.video_files PATH STEPS FRAMES`` is that writer: it muxes FRAMES
frames per step into PATH (fragmented MP4 for ``.mp4``, else Matroska), flushing each step
to disk, prints ``step N`` after each and waits for a line on stdin before the next; after
the last step it finishes the file (cues, header) and prints ``done``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from PIL import ImageDraw

GROW_SIZE = (160, 96)
GROW_FPS = 10


def moving_frame(i: int, size: tuple[int, int]) -> Image.Image:
    """Frame ``i``: a bar that moves every frame over a tint that drifts (so every frame
    differs and the encoder makes P- and B-frames)."""
    w, h = size
    img = Image.new("RGB", size, (i * 7 % 256, 90, 160))
    draw = ImageDraw.Draw(img)
    x = i * 5 % w
    draw.rectangle((x, 0, x + w // 8, h), fill=(250, 250, 250))
    draw.text((4, 4), f"{i:05d}", fill=(0, 0, 0))
    return img


def make_bframe_video(
    path: Path, seconds: float, fps: int = 30, size: tuple[int, int] = (320, 180), gop: int = 250
) -> Path:
    """H.264 with B-frames and B-pyramid (libx264's default preset), MP4 or MKV by suffix;
    an IDR frame at least every ``gop`` frames."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "medium", "bframes": "3", "b-pyramid": "normal"}
        stream.options["x264-params"] = f"keyint={gop}:min-keyint={min(gop, 25)}"
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_image(moving_frame(i // 3, size))  # static for 3 frames
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_rotated_video(path: Path, degrees: int, size: tuple[int, int] = (64, 32)) -> Path:
    """A clip whose coded frames are ``size`` (left half blue, right half red) with a display
    matrix turning them ``degrees`` counter-clockwise (a portrait phone clip: -90)."""
    import av

    img = Image.new("RGB", size, (220, 0, 0))
    img.paste((0, 0, 220), (0, 0, size[0] // 2, size[1]))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(degrees)
        for i in range(10):
            frame = av.VideoFrame.from_image(img)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_growing(path: Path, steps: int, per_step: int) -> None:
    """The writer process's body (see the module docstring)."""
    import av

    # Short clusters (fragments) and flushed packets: each step reaches the disk as OBS's
    # writes do. A .mp4 is fragmented MP4, anything else Matroska.
    if path.suffix == ".mp4":
        fmt, options = "mp4", {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
        options["frag_duration"] = "100000"
    else:
        fmt, options = "matroska", {"cluster_time_limit": "100"}
    options["flush_packets"] = "1"
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream("libx264", rate=GROW_FPS)
        stream.width, stream.height = GROW_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "bframes": "2"}
        i = 0
        for step in range(steps):
            if step:
                sys.stdin.readline()
            for _ in range(per_step):
                frame = av.VideoFrame.from_image(moving_frame(i, GROW_SIZE))
                frame.pts = i
                i += 1
                out.mux(stream.encode(frame))
            print(f"step {step}", flush=True)
        out.mux(stream.encode(None))
    print("done", flush=True)


if __name__ == "__main__":
    write_growing(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
