"""Check that every handed-out URL answers: real HEAD requests, bounded and retried.

At most `workers` requests are in flight (a semaphore, on top of the session connector's own
limit), URLs are taken in batches of `batch_size` (a batch finishes before the next starts,
so memory and open tasks stay bounded at any size), and a tqdm bar on stderr counts them.
Connection errors, timeouts and 5xx answers are retried with exponential backoff; any other
answer than 200 is a failure at once. No token is sent: image URLs need none (SECURITY.md).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

import aiohttp
from tqdm import tqdm

log = logging.getLogger(__name__)

HEAD_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
FAILURES_SHOWN = 100  # the rest are in the JSON file's `failed` list


@dataclass(frozen=True)
class Check:
    """One URL to check, with the size the listing gave (compared to Content-Length)."""

    url: str
    size: int | None = None


@dataclass(frozen=True)
class CheckFailure:
    """A URL that did not answer 200, and why."""

    url: str
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried."""

    attempts: int = 3
    base_delay: float = 0.25

    def delay(self, retry: int) -> float:
        """Return the pause before retry number `retry` (0-based): base, 2*base, 4*base..."""
        return self.base_delay * (2**retry)


class _Transient(Exception):
    """A failure worth retrying (no answer, timeout, 5xx)."""


async def check_urls(
    session: aiohttp.ClientSession,
    checks: Sequence[Check],
    workers: int,
    batch_size: int,
    progress: bool = True,
    policy: RetryPolicy | None = None,
) -> list[CheckFailure]:
    """HEAD every URL and return the failures, in the order of `checks`."""
    policy = policy or RetryPolicy()
    slots = asyncio.Semaphore(workers)
    failures: list[CheckFailure] = []
    with tqdm(
        total=len(checks), unit="img", desc="Checking", file=sys.stderr, disable=not progress
    ) as bar:
        for start in range(0, len(checks), batch_size):
            batch = checks[start : start + batch_size]
            results = await asyncio.gather(
                *(_check_in_slot(session, check, slots, policy, bar) for check in batch)
            )
            failures.extend(result for result in results if result is not None)
    return failures


async def _check_in_slot(
    session: aiohttp.ClientSession,
    check: Check,
    slots: asyncio.Semaphore,
    policy: RetryPolicy,
    bar: tqdm,
) -> CheckFailure | None:
    async with slots:
        result = await check_url(session, check, policy)
    bar.update(1)
    return result


async def check_url(
    session: aiohttp.ClientSession, check: Check, policy: RetryPolicy
) -> CheckFailure | None:
    """HEAD one URL, retrying transient failures; return None when it answers 200."""
    reason = ""
    for attempt in range(policy.attempts):
        if attempt:
            await asyncio.sleep(policy.delay(attempt - 1))
        try:
            return await _head_once(session, check)
        except _Transient as exc:
            reason = str(exc)
            log.debug("HEAD %s: %s (attempt %d)", check.url, reason, attempt + 1)
    return CheckFailure(check.url, f"{reason} after {policy.attempts} attempts")


async def _head_once(session: aiohttp.ClientSession, check: Check) -> CheckFailure | None:
    try:
        async with session.head(check.url, allow_redirects=False, timeout=HEAD_TIMEOUT) as resp:
            status, length = resp.status, resp.content_length
    except (TimeoutError, aiohttp.ClientConnectionError) as exc:
        raise _Transient(str(exc) or type(exc).__name__) from None
    except aiohttp.ClientError as exc:  # e.g. an invalid URL: retrying cannot help
        return CheckFailure(check.url, str(exc) or type(exc).__name__)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise _Transient(f"HTTP {status}")
    if status != HTTPStatus.OK:
        return CheckFailure(check.url, f"HTTP {status}")
    if check.size is not None and length is not None and length != check.size:
        return CheckFailure(check.url, f"Content-Length {length}, listed size {check.size}")
    return None


def report_failures(failures: Sequence[CheckFailure], total: int) -> None:
    """Write a summary of the failed checks to stderr (through the loader's logger)."""
    if not failures:
        return
    log.warning("%d of %d URLs failed their check:", len(failures), total)
    for failure in failures[:FAILURES_SHOWN]:
        log.warning("  %s: %s", failure.reason, failure.url)
    if len(failures) > FAILURES_SHOWN:
        log.warning(
            "  ... and %d more (see `failed` in the JSON file)", len(failures) - FAILURES_SHOWN
        )
