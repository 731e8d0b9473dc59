"""The kinds of job that run in their own process: the module that runs each, and its name.

A new kind is a module with `run(context)` (see `child.py`) and a line here; its limit of
processes at a time comes from the settings (`dispatch.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One kind of process job."""

    name: str
    module: str  # runs it: `run(context)`, and optionally `wanted(context) -> str | None`
    noun: str  # how details name its process: "the extraction process was killed ..."


VIDEO = Kind("video", "imageserver.jobs.video", "extraction")


def video_progress(frames: int, seconds_done: float, duration: float | None) -> dict:
    """A video job's progress object (the API's `extraction` takes its times from it)."""
    return {"frames": frames, "seconds_done": round(seconds_done, 3), "duration": duration}


KINDS: dict[str, Kind] = {kind.name: kind for kind in (VIDEO,)}
