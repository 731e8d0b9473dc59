"""Check that a server serves the right bytes before it is measured; learn what it supports.

A fast wrong answer is worthless: every server must return each sampled frame byte for byte
as it is on disk, or the run stops. 304 and Range support are only recorded (http.server
has neither), and for servers that revalidate, the ETag of every frame is learnt here so the
304 workload can send the right `If-None-Match` for each file it rotates over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from bench.model import BenchError
from bench.targets import Target

RANGE_HEADER = "bytes=0-1023"
RANGE_LENGTH = 1024
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Capabilities:
    """What a server supports beyond a plain GET.

    :param etags: frame name -> ETag, when the server answers If-None-Match with 304.
    """

    etags: dict[str, str] | None
    ranges: bool
    revalidate_note: str = ""
    range_note: str = ""


def check_target(target: Target, frames: Path, names: list[str]) -> Capabilities:
    """Verify `target` serves the frames exactly, then probe its 304 and Range support.

    :raise BenchError: a sampled frame came back with another status or other bytes.
    """
    session = requests.Session()
    for name in (names[0], names[len(names) // 2], names[-1]):
        _check_bytes(session, target, name, (frames / name).read_bytes())
    first_url = target.base_url + target.path_for(names[0])
    first_bytes = (frames / names[0]).read_bytes()
    etag = session.get(first_url, timeout=TIMEOUT_SECONDS).headers.get("ETag")
    revalidates = etag is not None and _answers_304(session, first_url, etag)
    ranges = _answers_range(session, first_url, first_bytes)
    return Capabilities(
        etags=_learn_etags(session, target, names) if revalidates else None,
        ranges=ranges,
        revalidate_note="" if revalidates else ("no ETag" if etag is None else "no 304"),
        range_note="" if ranges else "no Range support",
    )


def _check_bytes(session: requests.Session, target: Target, name: str, expected: bytes) -> None:
    url = target.base_url + target.path_for(name)
    response = session.get(url, timeout=TIMEOUT_SECONDS)
    if response.status_code != 200 or response.content != expected:
        raise BenchError(
            f"{target.key} serves the wrong answer for {url}: status {response.status_code}, "
            f"{len(response.content)} bytes; expected 200 and the {len(expected)} bytes of "
            f"{name}. Not measuring a server that is wrong."
        )


def _answers_304(session: requests.Session, url: str, etag: str) -> bool:
    response = session.get(url, headers={"If-None-Match": etag}, timeout=TIMEOUT_SECONDS)
    return response.status_code == 304 and not response.content


def _answers_range(session: requests.Session, url: str, data: bytes) -> bool:
    response = session.get(url, headers={"Range": RANGE_HEADER}, timeout=TIMEOUT_SECONDS)
    return response.status_code == 206 and response.content == data[:RANGE_LENGTH]


def _learn_etags(session: requests.Session, target: Target, names: list[str]) -> dict[str, str]:
    """HEAD every frame and keep its ETag.

    :raise BenchError: a frame has no ETag (the 304 workload would then measure 200s).
    """
    etags: dict[str, str] = {}
    for name in names:
        response = session.head(target.base_url + target.path_for(name), timeout=TIMEOUT_SECONDS)
        etag = response.headers.get("ETag")
        if response.status_code != 200 or etag is None:
            raise BenchError(f"{target.key}: HEAD {name} gave {response.status_code}, no ETag")
        etags[name] = etag
    return etags
