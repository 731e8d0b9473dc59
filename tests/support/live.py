"""Helpers for live-folder tests: frame writers and CPU readings."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from PIL import Image

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def jpeg_bytes(color: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """Return a real JPEG whose pixels depend on `color` (so frames differ)."""
    buffer = io.BytesIO()
    fill = ((color * 37) % 256, (color * 91) % 256, (color * 13) % 256)
    Image.new("RGB", size, fill).save(buffer, "JPEG")
    return buffer.getvalue()


def write_file(path: Path, data: bytes, chunks: int = 1, pause: float = 0.0) -> float:
    """Write `data` to `path` in `chunks` writes `pause` seconds apart; return the close time.

    The time is `time.monotonic()` just after `close()`: the moment the frame is complete.
    """
    step = max(1, -(-len(data) // chunks))
    with open(path, "wb") as handle:
        for start in range(0, len(data), step):
            if start and pause:
                time.sleep(pause)
            handle.write(data[start : start + step])
            handle.flush()
    return time.monotonic()


def process_group(pgid: int) -> list[int]:
    """Return the pids of every live process in a process group (the server and its workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
                pids.append(int(entry))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """Return the user + system CPU time the processes used so far, from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / _CLOCK_TICKS
