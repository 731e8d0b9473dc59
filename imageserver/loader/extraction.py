"""Wait for a video's frames: poll the directory's `extraction` until it ends, with a tqdm bar.

A video load answers with `"extraction": {"state", "frames", "seconds_done", "duration",
"detail"?}` (docs/API.md#video-in) while the server extracts in the background; `GET
/api/directories/<id>` carries the same object. The loader sends `"wait": false`, shows the
seconds done on stderr, and goes on to the listing only once the state is `done`: the JSON
then lists every frame. `failed` stops the run with the server's `detail` on one line (exit 1).
A folder, or a server that extracts before it answers, has no `extraction`: nothing to wait.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from imageserver.loader.client import ServerClient
from imageserver.loader.errors import LoaderError
from imageserver.loader.errors import one_line

# Often enough for a smooth bar, rarely enough to cost the server nothing (one indexed read).
POLL_SECONDS = 0.5
RUNNING = "running"
FAILED = "failed"

Sleep = Callable[[float], Awaitable[None]]


class ExtractionFailed(LoaderError):
    """The server could not extract the video's frames (exit 1); the frames so far stay."""


async def wait_for_frames(
    client: ServerClient,
    answer: dict[str, Any],
    shown: str,
    progress: bool = True,
    poll_seconds: float = POLL_SECONDS,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any] | None:
    """Follow the extraction the load `answer` reports until it is no longer running.

    While it runs, `GET /api/directories/<id>` is polled every `poll_seconds`; a folder (or a
    server that extracts before answering) has no `extraction` and costs no request.
    Returns the last `extraction` object, or None.

    :raise ExtractionFailed: the extraction ended `failed` (the message carries `detail`).
    :raise ServerError: the directory went away meanwhile (unloaded by someone else).
    """
    dir_id, extraction = answer["id"], answer.get("extraction")
    if not isinstance(extraction, dict):
        return None
    if extraction.get("state") == RUNNING:
        with _bar(extraction, progress) as bar:
            while extraction.get("state") == RUNNING:
                await sleep(poll_seconds)
                extraction = (await client.directory(dir_id)).get("extraction") or {}
                _show(bar, extraction)
    if extraction.get("state") == FAILED:
        detail = one_line(extraction.get("detail") or "no detail given")
        raise ExtractionFailed(f"extracting the frames of {shown} failed: {detail}")
    return extraction


def _bar(extraction: dict[str, Any], progress: bool) -> tqdm:
    """A bar of seconds of video done (a plain counter while the duration is unknown)."""
    total = _number(extraction.get("duration"))
    bar = tqdm(
        total=total,
        unit="s",
        desc="Extracting",
        file=sys.stderr,
        disable=not progress,
        bar_format=_layout(total),
    )
    _show(bar, extraction)
    return bar


def _layout(total: float | None) -> str:
    """Seconds with one decimal (tqdm's default would print the raw float)."""
    if total is None:
        return "{desc}: {n:.1f} s [{elapsed}]{postfix}"
    return (
        "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]{postfix}"
    )


def _show(bar: tqdm, extraction: dict[str, Any]) -> None:
    """Move the bar to the seconds done; the frame count goes after it."""
    duration = _number(extraction.get("duration"))
    if duration is not None and bar.total != duration:
        bar.total, bar.bar_format = duration, _layout(duration)
    done = _number(extraction.get("seconds_done")) or 0.0
    if duration is not None:
        done = min(done, duration)
    bar.set_postfix_str(f"{extraction.get('frames', 0)} frames", refresh=False)
    bar.n = done
    bar.refresh()  # one line per poll, also when only the frame count moved


def _number(value: Any) -> float | None:
    """A JSON number as float; None for null, absent or not a number (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
