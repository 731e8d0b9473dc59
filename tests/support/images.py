"""Real image files made with Pillow (nothing binary is committed)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

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
