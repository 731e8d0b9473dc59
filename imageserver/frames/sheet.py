"""Contact sheets: one RGB image with a labelled grid of up to 36 thumbnails.

Each cell is a thumbnail (aspect kept, letterboxed) above a dark label band with light text,
so labels never cover content and stay readable at any thumbnail brightness. The whole sheet
fits within ``max_side`` on its long side (1568 px matches the ``claude`` preset).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
from PIL import ImageOps

MAX_FRAMES = 36
GAP = 4
BACKGROUND = (12, 12, 12)
BAND = (32, 32, 32)
TEXT = (245, 245, 245)
PLACEHOLDER = (70, 40, 40)


def format_time(t: float) -> str:
    """Seconds -> ``HH:MM:SS.d`` (tenths), e.g. 83.42 -> ``00:01:23.4``."""
    tenths = int(round(max(t, 0.0) * 10))
    secs, tenth = divmod(tenths, 10)
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{tenth}"


def grid_shape(count: int, cols: int | None = None) -> tuple[int, int]:
    """(cols, rows); the default is near-square, wider than tall (3 -> 2x2, 10 -> 4x3)."""
    if count < 1:
        raise ValueError("a contact sheet needs at least one image")
    cols = cols or math.ceil(math.sqrt(count))
    cols = max(1, min(cols, count))
    return cols, math.ceil(count / cols)


def cell_aspect(path: Path | str) -> float:
    """height/width of the first readable image (frames of one video share it); else 9/16."""
    try:
        with Image.open(path) as img:
            w, h = img.size
        return h / w if w and h else 9 / 16
    except (OSError, ValueError, Image.DecompressionBombError):
        return 9 / 16


def layout(
    count: int, cols: int | None, max_side: int, aspect: float
) -> tuple[int, int, int, int, int]:
    """Choose (cols, rows, thumb_w, thumb_h, band_h) so the sheet fits in max_side."""
    cols, rows = grid_shape(count, cols)
    band = 20
    for _ in range(3):  # the band scales with the thumbnail; a few rounds converge
        by_width = (max_side - (cols + 1) * GAP) / cols
        by_height = (max_side - (rows + 1) * GAP - rows * band) / (rows * aspect)
        thumb_w = max(16, int(min(by_width, by_height)))
        band = max(14, min(32, thumb_w // 15))
    thumb_h = max(9, int(thumb_w * aspect))
    return cols, rows, thumb_w, thumb_h, band


def load_thumb(path: Path | str, size: tuple[int, int]) -> Image.Image | None:
    """Decode at reduced size (JPEG draft), apply EXIF rotation, fit into ``size``."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", size)  # JPEG DCT scaling: decode big frames at 1/2..1/8 size
            img = ImageOps.exif_transpose(img).convert("RGB")
            return ImageOps.contain(img, size, Image.Resampling.LANCZOS)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def fit_label(
    draw: ImageDraw.ImageDraw,
    label: str,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    width: int,
) -> str:
    """Shorten ``label`` from the left (keeps the distinctive end of names) to fit ``width``."""
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength("…" + label, font=font) > width:
        label = label[1:]
    return "…" + label


def render_sheet(
    items: Sequence[tuple[Path | str, str]], cols: int | None = None, max_side: int = 1568
) -> Image.Image:
    """Render (image path, label) pairs into one RGB image (labels drawn under each cell)."""
    if len(items) > MAX_FRAMES:
        raise ValueError(f"at most {MAX_FRAMES} images per sheet")
    cols, rows, tw, th, band = layout(len(items), cols, max_side, cell_aspect(items[0][0]))
    sheet = Image.new(
        "RGB", (cols * tw + (cols + 1) * GAP, rows * (th + band) + (rows + 1) * GAP), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=band - 6)
    for i, (path, label) in enumerate(items):
        x = GAP + (i % cols) * (tw + GAP)
        y = GAP + (i // cols) * (th + band + GAP)
        paste_cell(sheet, draw, load_thumb(path, (tw, th)), (x, y, tw, th))
        draw.rectangle((x, y + th, x + tw - 1, y + th + band - 1), fill=BAND)
        text = fit_label(draw, label, font, tw - 8)
        draw.text((x + 4, y + th + band // 2), text, fill=TEXT, font=font, anchor="lm")
    return sheet


def paste_cell(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    thumb: Image.Image | None,
    box: tuple[int, int, int, int],
) -> None:
    """Centre the thumbnail in its cell, or draw a crossed placeholder for unreadable files."""
    x, y, w, h = box
    if thumb is None:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=PLACEHOLDER)
        draw.line((x, y, x + w - 1, y + h - 1), fill=TEXT, width=2)
        draw.line((x, y + h - 1, x + w - 1, y), fill=TEXT, width=2)
        return
    sheet.paste(thumb, (x + (w - thumb.width) // 2, y + (h - thumb.height) // 2))
