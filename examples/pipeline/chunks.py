"""Join text chunks with the frames that were on screen while each chunk was spoken.

A transcript is plain text: chunks are separated by blank lines, and a chunk may start with
its time span in seconds, `[12.5-30]`. Chunks without a span share the video's duration
evenly, in order. Each chunk gets the stable URLs of the frames whose timestamp falls in its
span; a chunk too short to contain a frame gets the nearest one, so every chunk has the
picture that was on screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SPAN = re.compile(r"^\[(?P<start>\d+(?:\.\d+)?)\s*-\s*(?P<end>\d+(?:\.\d+)?)\]\s*")


@dataclass(frozen=True)
class Chunk:
    """One text chunk and its time span in seconds (`None`: not given)."""

    text: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Frame:
    """One frame: its name, its stable URL, and when it was on screen."""

    name: str
    url: str
    at: float


def parse_transcript(text: str) -> list[Chunk]:
    """Split a transcript into chunks, reading each optional `[start-end]` prefix."""
    chunks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        block = " ".join(block.split())
        if not block:
            continue
        match = _SPAN.match(block)
        if match:
            start, end = float(match["start"]), float(match["end"])
            chunks.append(Chunk(block[match.end() :], start, end))
        else:
            chunks.append(Chunk(block))
    return chunks


def with_spans(chunks: list[Chunk], duration: float) -> list[Chunk]:
    """Give every chunk without a span an equal share of `duration`, in order."""
    share = duration / len(chunks) if chunks else 0.0
    return [
        chunk if chunk.start is not None else Chunk(chunk.text, i * share, (i + 1) * share)
        for i, chunk in enumerate(chunks)
    ]


def frames_for(chunk: Chunk, frames: list[Frame]) -> list[Frame]:
    """Return the frames shown during `chunk`, or the one nearest to it."""
    inside = [frame for frame in frames if chunk.start <= frame.at < chunk.end]
    if inside or not frames:
        return inside
    middle = (chunk.start + chunk.end) / 2
    return [min(frames, key=lambda frame: abs(frame.at - middle))]


def chunk_records(name: str, chunks: Iterable[Chunk], frames: list[Frame]) -> list[dict]:
    """Build the chunk file's records: id, text, span, frame names and stable URLs."""
    records = []
    for number, chunk in enumerate(chunks, start=1):
        shown = frames_for(chunk, frames)
        records.append(
            {
                "chunk_id": f"{name}-{number:04d}",
                "text": chunk.text,
                "start": chunk.start,
                "end": chunk.end,
                "frames": [frame.name for frame in shown],
                "frame_urls": [frame.url for frame in shown],
            }
        )
    return records
