"""Large files on the ASGI path (issue 22): blocks from the page cache, the disk off the loop.

`_stream` reads each block on the loop with RWF_NOWAIT, which only the page cache answers,
and hands what would block to the executor; a file that shrinks mid-send is cut, not padded.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from imageserver.engines import asgi
from imageserver.hotpath.answer import STREAM_BLOCK_BYTES


def _send_all(path: Path, length: int, on_block: Any = None) -> tuple[list[dict], Any]:
    """Run `_stream` on `path`; return the body messages and the exception, if any."""
    messages: list[dict] = []

    async def send(message: dict) -> None:
        messages.append(message)
        if on_block is not None:
            on_block(len(messages))

    fd = os.open(path, os.O_RDONLY)
    try:
        asyncio.run(asgi._stream(fd, length, send))
    except asgi.ShortRead as exc:
        return messages, exc
    return messages, None


def test_a_cached_file_is_sent_whole_in_blocks(tmp_path):
    payload = os.urandom(STREAM_BLOCK_BYTES * 3 + 17)
    path = tmp_path / "frame.png"
    path.write_bytes(payload)

    messages, error = _send_all(path, len(payload))

    assert error is None
    assert b"".join(m["body"] for m in messages) == payload
    assert [m["more_body"] for m in messages] == [True, True, True, False]


def test_what_the_page_cache_cannot_answer_is_read_off_the_loop(tmp_path, monkeypatch):
    payload = os.urandom(STREAM_BLOCK_BYTES * 2 + 5)
    path = tmp_path / "frame.png"
    path.write_bytes(payload)
    loop_thread = threading.get_ident()
    readers: list[int] = []
    real_pread = os.pread

    def would_block(*args: Any) -> int:
        raise BlockingIOError("not in the page cache")

    def spy_pread(fd: int, size: int, offset: int) -> bytes:
        readers.append(threading.get_ident())
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "preadv", would_block)
    monkeypatch.setattr(os, "pread", spy_pread)
    messages, error = _send_all(path, len(payload))

    assert error is None
    assert b"".join(m["body"] for m in messages) == payload
    assert readers and loop_thread not in readers


def test_a_file_that_shrinks_mid_send_is_cut_not_padded(tmp_path):
    payload = os.urandom(STREAM_BLOCK_BYTES * 4)
    path = tmp_path / "frame.png"
    path.write_bytes(payload)

    def shrink(sent: int) -> None:
        if sent == 1:
            os.truncate(path, STREAM_BLOCK_BYTES + 10)

    messages, error = _send_all(path, len(payload), shrink)

    assert isinstance(error, asgi.ShortRead)
    sent = b"".join(m["body"] for m in messages)
    assert sent == payload[: STREAM_BLOCK_BYTES + 10]
    assert all(m["more_body"] for m in messages)  # never a finished, short answer


def test_without_rwf_nowait_every_block_goes_to_the_executor(tmp_path, monkeypatch):
    payload = os.urandom(STREAM_BLOCK_BYTES + 1)
    path = tmp_path / "frame.png"
    path.write_bytes(payload)
    monkeypatch.setattr(asgi, "_NOWAIT", None)

    messages, error = _send_all(path, len(payload))

    assert error is None
    assert b"".join(m["body"] for m in messages) == payload
