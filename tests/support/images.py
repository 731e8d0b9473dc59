"""Real image files made with Pillow (nothing binary is committed)."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from PIL import ImageDraw

_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".gif": "GIF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def make_image(path: Path, size: tuple[int, int] = (32, 24), color: int = 0) -> Path:
    """Write a real image at `path`; the format follows the extension (raw bytes otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        # Formats Pillow may not write here (avif, heic): a stand-in body is enough to test
        # routing and Content-Type; the server never decodes originals.
        path.write_bytes(b"\x00\x00\x00\x1cftyp" + path.suffix.encode() + bytes([color]) * 64)
        return path
    image = Image.new("RGB", size, ((color * 37) % 256, (color * 91) % 256, (color * 13) % 256))
    image.save(path, fmt)
    return path


def make_frames(folder: Path, count: int, prefix: str = "frame_", ext: str = ".jpg") -> list[str]:
    """Write `count` numbered frames and return their names, sorted."""
    names = [f"{prefix}{i:06d}{ext}" for i in range(count)]
    for i, name in enumerate(names):
        make_image(folder / name, color=i)
    return names


def make_frame(path: Path, size: tuple[int, int] = (1920, 1080), seed: int = 0) -> Path:
    """A screen-recording-like frame: gradient, panels, text-sized detail."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(12):
        x = (i * 157 + seed * 31) % max(1, size[0] - 200)
        y = (i * 89 + seed * 17) % max(1, size[1] - 120)
        draw.rectangle((x, y, x + 180, y + 100), fill=((i * 40 + seed) % 256, 90, 160))
        draw.text((x + 8, y + 8), f"frame {seed} panel {i}", fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def make_noise(path: Path, size: tuple[int, int], fmt: str | None = None, **options) -> Path:
    """Incompressible pixels: slow to decode, big to encode (for byte caps and concurrency)."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **options)
    return path
