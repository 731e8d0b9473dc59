"""`load_directory`: one load through the HTTP API, with progress for a long video.

A video's frames are extracted in the background (docs/API.md#video-in); the load answers
with its `extraction` state. Without a progress token the tool hands `wait_seconds` to the
API as `"wait"` and returns what it answers. With one, the tool asks the API not to wait,
then follows the extraction through `GET /api/directories/<id>` for up to `wait_seconds`,
reporting seconds done as MCP progress notifications: a client that times out after 60 s
without news (n8n's MCP Client Tool, Claude Code) sees the load move meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from .client import ImageServerApi
from .schemas import DEFAULT_LOAD_WAIT_SECONDS

# progress, total, message (the SDK's `report_progress`)
Progress = Callable[[float, float | None, str | None], Awaitable[None]]
POLL_SECONDS = 0.5
LOAD_OPTIONS = ("recursive", "timeout_minutes", "watch", "frames")


async def load(api: ImageServerApi, args: dict[str, Any], progress: Progress | None) -> dict:
    """Load `args["path"]`; follow a video's extraction while reporting progress, if asked."""
    options = {key: args.get(key) for key in LOAD_OPTIONS}
    wait = float(args.get("wait_seconds", DEFAULT_LOAD_WAIT_SECONDS))
    if progress is None:
        return await api.load_directory(args["path"], **options, wait=wait)
    loaded = await api.load_directory(args["path"], **options, wait=False)
    return await follow(api, loaded, wait, progress)


async def follow(api: ImageServerApi, loaded: dict, wait: float, progress: Progress) -> dict:
    """Poll the directory until its extraction ends or `wait` seconds pass; report each step.

    :return: the load answer with the latest `image_count` and `extraction`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    reported = -1.0
    while True:
        extraction = loaded.get("extraction")
        if not isinstance(extraction, dict):
            return loaded  # a folder, or a server that extracts before it answers
        reported = await _report(progress, extraction, reported)
        if extraction.get("state") != "running" or loop.time() >= deadline:
            return loaded
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - loop.time())))
        latest = await api.directory(loaded["id"])
        loaded = {**loaded, **{k: latest[k] for k in ("image_count", "extraction") if k in latest}}


async def _report(progress: Progress, extraction: dict, reported: float) -> float:
    """Send one notification when the extraction moved (progress must only increase)."""
    done = float(extraction.get("seconds_done") or 0.0)
    duration = extraction.get("duration")
    total = float(duration) if duration else None
    state = extraction.get("state")
    if state == "done" and total is not None:
        done = max(done, total)
    if done <= reported:  # nothing new to count
        return reported
    of = f" of {total:.1f}" if total is not None else ""
    message = f"{state}: {extraction.get('frames', 0)} frames, {done:.1f}{of} s of video"
    await progress(done, total, message)
    return done
