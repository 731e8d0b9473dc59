"""Helpers of the upload tests: image bytes made with Pillow, and where an inbox lives."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

TOKEN = "upload-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (40, 30), color: int = 0, text: str | None = None
) -> bytes:
    """Return a real image of `fmt`, its colour picked by `color` (so contents differ).

    :param text: a PNG comment (a tEXt chunk near the start of the file).
    """
    image = Image.new("RGB", size, ((color * 37) % 256, (color * 91) % 256, (color * 13) % 256))
    buffer = io.BytesIO()
    extra = {}
    if text is not None:
        extra["pnginfo"] = PngInfo()
        extra["pnginfo"].add_text("Comment", text)
    image.save(buffer, fmt, **extra)
    return buffer.getvalue()


def inbox_folder(state_dir: Path, inbox: str) -> Path:
    """Return the folder of an inbox under a server's state directory."""
    return state_dir / "inboxes" / inbox


def stored_files(state_dir: Path, inbox: str) -> list[str]:
    """Return the names stored in an inbox (none when the folder does not exist)."""
    folder = inbox_folder(state_dir, inbox)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def temp_files(state_dir: Path) -> list[str]:
    """Return what is left in the spool folder (an upload in progress, or a leak)."""
    folder = state_dir / "inboxes" / ".tmp"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
