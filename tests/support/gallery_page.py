"""What the gallery's browser tests read in the page, and the folders they make.

The snippets read `window.galleryState` (the grid's state, which the page's script exposes
for these tests) and the DOM.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.support.browser import wait_for
from tests.support.images import make_image

DECODED = "return Array.from(document.querySelectorAll('#grid img'))" + (
    ".filter(i => i.complete && i.naturalWidth > 0).length"
)
GRID_SOURCES = "return Array.from(document.querySelectorAll('#grid img')).map(i => i.src)"
DOM_NODES = "return document.getElementsByTagName('*').length"
SCROLL_THROUGH = """
const [until, done] = arguments;
let largest = 0, steps = 0, last = -1;
function step() {
  const keys = Array.from(galleryState.tiles.keys());
  const first = keys.length ? Math.min(...keys) : 0;
  const filled = Array.from(galleryState.tiles.values()).every(t => t.dataset.name);
  if (first === last || !filled) { setTimeout(step, 10); return; }
  largest = Math.max(largest, document.getElementsByTagName("*").length);
  if (first >= until) { done([largest, steps]); return; }
  last = first;
  steps += 1;
  window.scrollBy(0, 3 * window.innerHeight);
  setTimeout(step, 10);
}
step();
"""


def linked_frames(folder: Path, count: int) -> list[str]:
    """Make `count` frames fast: hard links to one small JPEG kept beside the folder."""
    folder.mkdir(parents=True)
    source = make_image(folder.parent / f"{folder.name}-source.jpg", size=(48, 36), color=7)
    names = [f"frame_{i:06d}.jpg" for i in range(count)]
    source_dir = os.open(source.parent, os.O_RDONLY)
    target_dir = os.open(folder, os.O_RDONLY)
    try:
        for name in names:  # relative to open directories: no path walk per link
            os.link(source.name, name, src_dir_fd=source_dir, dst_dir_fd=target_dir)
    finally:
        os.close(source_dir)
        os.close(target_dir)
    return names


def open_grid(driver: Any, base_url: str, dir_id: str, decoded: int = 6) -> float:
    """Open a directory's page and wait for `decoded` thumbnails; return the seconds it took."""
    started = time.monotonic()
    driver.get(f"{base_url}/gallery/{dir_id}")
    wait_for(lambda: driver.execute_script(DECODED) >= decoded, "thumbnails to decode")
    return time.monotonic() - started


def tile_names(driver: Any) -> list[str]:
    """Return the names of the filled tiles, in the grid's order."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#grid .tile[data-name]'))"
        ".map(t => t.dataset.name)"
    )
