"""Perceptual hashes and near-duplicate collapsing for frame listings.

Two hashes, both plain Python ints compared by Hamming distance:

* ``edge_hash`` (the default, 368 bits): edge density on a 16x16 grid, one bit per cell,
  set when the cell has more edges than the average cell. Screens are mostly flat areas
  with text; what changes between two screens is where the text and lines are, which is
  exactly what edge density encodes, while a cursor or a clock adds too few edges to push
  a cell across the average. Edges alone are blind to tone: two flat images of different
  colours have no edges and would hash alike, so 112 tone bits follow (`_tone_bits`).
* ``dhash`` (classic 64-bit difference hash, 9x8 grid): kept for photos and comparison. On
  screen recordings it is nearly blind: flat UI areas give equal neighbours (bit 0 whatever
  the text), so a different screen often differs by 1-3 bits, like cursor noise does.

Both need only Pillow (pHash needs a DCT: numpy/scipy; ``imagehash`` adds numpy, scipy and
PyWavelets and has the same 8x8 blindness). JPEGs are decoded at 1/8 scale with ``draft()``.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import compress
from operator import itemgetter
from operator import ne
from operator import not_
from pathlib import Path
from typing import Any

from PIL import Image
from PIL import ImageFilter

HASH_SIZE = 8  # dhash grid
EDGE_GRID = 16  # edge_hash grid: 256 bits
EDGE_WORK = (160, 90)  # fixed working size (1/8 of 720p), so 720p and 1080p hash alike
# Tone: mean luminance of 4x4 cells and mean R, G, B of 2x2 cells, each in 5 levels of 52,
# thermometer-coded (level k = k one-bits), so the Hamming distance of two cells is how many
# levels apart they are. A cursor or a clock moves a cell's mean by far less than a level.
TONE_LUMA_GRID = 4
TONE_RGB_GRID = 2
TONE_LEVEL_WIDTH = 52
TONE_BITS_PER_CELL = 4
HASH_BITS = EDGE_GRID * EDGE_GRID + (TONE_LUMA_GRID**2 + 3 * TONE_RGB_GRID**2) * TONE_BITS_PER_CELL
# Default Hamming distance for collapse() with edge_hash. Measured on synthetic screen
# recordings (720p/1080p, H.264/VP9, 3 x 90 s): cursor/clock-only frames differ by <= 2
# bits, a rewritten text panel by >= 16, a new window layout by >= 28. 8 leaves 4x headroom
# over the noise and 2x under the smallest real change.
DEFAULT_DISTANCE = 8


def dhash_image(img: Image.Image) -> int:
    """64-bit dHash of an already opened image."""
    # BOX averages every source pixel of a cell, so a small cursor moves a cell mean only a
    # little, unlike NEAREST/BILINEAR sampling that can hit or miss it entirely.
    small = img.convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.BOX)
    px = small.tobytes()
    value = 0
    for row in range(HASH_SIZE):
        base = row * (HASH_SIZE + 1)
        for col in range(HASH_SIZE):
            value = (value << 1) | (px[base + col] > px[base + col + 1])
    return value


def dhash_file(path: Path | str) -> int:
    """dHash of an image file; JPEGs are decoded at reduced size (grayscale, up to 1/8)."""
    with Image.open(path) as img:
        # draft() picks the largest DCT downscale that keeps the image >= the requested size,
        # and "L" skips chroma decoding. 64x64 keeps ~8x8 source pixels per hash cell.
        img.draft("L", (HASH_SIZE * 8, HASH_SIZE * 8))
        return dhash_image(img)


def edge_hash_image(img: Image.Image) -> int:
    """Edge-density hash of an opened image: 256 edge bits (row-major cells), then tone bits."""
    value = _edge_bits(img)
    for level in _tone_levels(img):
        value = (value << TONE_BITS_PER_CELL) | ((1 << level) - 1)
    return value


def _tone_levels(img: Image.Image) -> list[int]:
    """Coarse levels (0-4) of the mean luminance of 4x4 cells and mean R, G, B of 2x2 cells."""
    rgb = img.convert("RGB")
    luma = rgb.convert("L").resize((TONE_LUMA_GRID,) * 2, Image.Resampling.BOX).tobytes()
    colour = rgb.resize((TONE_RGB_GRID,) * 2, Image.Resampling.BOX).tobytes()
    top = TONE_BITS_PER_CELL
    return [min(top, v // TONE_LEVEL_WIDTH) for v in (*luma, *colour)]


def _edge_bits(img: Image.Image) -> int:
    gray = img.convert("L").resize(EDGE_WORK, Image.Resampling.BOX)
    edges = gray.filter(ImageFilter.FIND_EDGES).convert("F")
    # Float cells: 8-bit rounding would create ties between sparse cells.
    cells = edges.resize((EDGE_GRID, EDGE_GRID), Image.Resampling.BOX).tobytes()
    values = array("f", cells)
    mean = sum(values) / len(values)
    value = 0
    for v in values:
        value = (value << 1) | (v > mean)
    return value


def edge_hash_file(path: Path | str) -> int:
    """Edge hash of an image file; JPEGs are decoded at reduced size."""
    with Image.open(path) as img:
        img.draft("RGB", EDGE_WORK)  # colour too: the tone bits need it
        return edge_hash_image(img)


def hash_file_or_none(path: Path | str) -> int | None:
    """Default hash, or None for unreadable files (they are never treated as duplicates)."""
    try:
        return edge_hash_file(path)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def hash_many(paths: Sequence[Path | str], workers: int | None = None) -> list[int | None]:
    """Hash many files with threads: Pillow releases the GIL while decoding and resizing."""
    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(paths) < 4:
        return [hash_file_or_none(p) for p in paths]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(hash_file_or_none, paths, chunksize=16))


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def kept_indices(hashes: Sequence[int | None], distance: int = DEFAULT_DISTANCE) -> list[int]:
    """Positions of the entries `collapse` keeps, for hashes already in name order.

    The entries dropped for a kept one are the ones up to the next kept position. Works on
    plain ints, so a caller with 100,000 rows builds no dict per row.
    """
    kept: list[int] = []
    last: int | None = None
    for i, h in enumerate(hashes):
        if h is not None and last is not None and (h ^ last).bit_count() <= distance:
            continue
        kept.append(i)
        last = h
    return kept


def kept_indices_hex(hexes: Sequence[str], distance: int = DEFAULT_DISTANCE) -> list[int]:
    """`kept_indices` for hashes as hex text ("" for an unreadable file: None there).

    A screen recording's frames come in runs of identical hashes, and a frame equal to the
    one before it is kept exactly when that one is (equal hashes are 0 bits apart), unless
    both are unreadable (those are always kept). So only the first frame of each run and the
    unreadable ones are walked in Python; finding them is done in C.
    """
    count = len(hexes)
    if count == 0:
        return []
    changes = compress(range(1, count), map(ne, hexes[1:], hexes))
    unreadable = compress(range(count), map(not_, hexes))
    kept: list[int] = []
    last: int | None = None
    for i in sorted({0, *changes, *unreadable}):
        text = hexes[i]
        value = int(text, 16) if text else None
        if value is not None and last is not None and (value ^ last).bit_count() <= distance:
            continue
        kept.append(i)
        last = value
    return kept


def collapse(
    entries: Iterable[dict[str, Any]], distance: int = DEFAULT_DISTANCE
) -> list[dict[str, Any]]:
    """Keep an entry only if its ``hash`` differs by more than ``distance`` bits from the
    LAST KEPT entry, walking in ``name`` order.

    Each kept entry is a copy with ``duplicates`` (how many following entries were dropped for
    it) and, when entries carry ``t``, ``t_from``/``t_to`` (its own t and the last dropped
    one's). An entry whose hash is None is always kept and never absorbs others.
    """
    ordered = sorted(entries, key=itemgetter("name"))  # timsort: ~free if already sorted
    positions = kept_indices([entry.get("hash") for entry in ordered], distance)
    ends = positions[1:] + [len(ordered)] if positions else []
    kept: list[dict[str, Any]] = []
    for start, end in zip(positions, ends, strict=True):
        entry = ordered[start]
        current = dict(entry, duplicates=end - start - 1)
        if "t" in entry:
            current["t_from"] = current["t_to"] = entry["t"]
        for i in range(end - 1, start, -1):  # t_to: the last dropped entry's t, if any has one
            if "t" in ordered[i]:
                current["t_to"] = ordered[i]["t"]
                break
        kept.append(current)
    return kept
