"""The benchmark's own data: video-like JPEG frames, and a directory of very many files.

Frames are 1280x720 and land near 50 KB, like the frames our users extract from videos:
a gradient (smooth, so JPEG compresses it well) plus low-frequency noise (so every frame
differs and the size is realistic). Pure noise would be ~500 KB; a flat colour ~10 KB.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image
from PIL import ImageChops

FRAME_SIZE = (1280, 720)
JPEG_QUALITY = 75
NOISE_SIGMA = 10  # with the two settings below, frames come out at 50-52 KB
NOISE_CELL = 8  # noise is drawn at 1/8 resolution, then scaled up: blotches, not grain
TINY_JPEG_SIZE = (64, 36)


def frame_name(index: int) -> str:
    """Return the file name of frame `index`, as a frame extractor would write it."""
    return f"frame_{index:06d}.jpg"


def encode_frame(index: int) -> bytes:
    """Return one 1280x720 JPEG of about 50 KB; each index gives a different picture."""
    width, height = FRAME_SIZE
    gradient = Image.linear_gradient("L").resize(FRAME_SIZE)
    turned = gradient.rotate((index * 7) % 360)
    noise = Image.effect_noise((width // NOISE_CELL, height // NOISE_CELL), NOISE_SIGMA)
    noise = noise.resize(FRAME_SIZE, Image.Resampling.BILINEAR)
    picture = Image.merge("RGB", (gradient, noise, ImageChops.add(turned, noise, 2.0)))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _write_frame(folder: Path, index: int) -> None:
    (folder / frame_name(index)).write_bytes(encode_frame(index))


def make_frames(folder: Path, count: int) -> list[str]:
    """Write `count` frames into `folder` (created) and return their names, sorted.

    Encoding is CPU-bound (~5 ms a frame), so it is spread over every core.
    """
    folder.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(os.cpu_count() or 1, 4))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # list() re-raises the first failure instead of losing it in a future.
        list(pool.map(_write_frame, [folder] * count, range(count), chunksize=64))
    return [frame_name(i) for i in range(count)]


def make_many_files(folder: Path, count: int) -> None:
    """Write `count` small real JPEG files into `folder` (created), for indexing at scale.

    The index cares about the number of files, not their size, so one tiny JPEG is copied.
    """
    buffer = io.BytesIO()
    Image.new("RGB", TINY_JPEG_SIZE, (30, 60, 90)).save(buffer, "JPEG")
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / frame_name(index)).write_bytes(data)
