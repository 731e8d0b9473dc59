"""The one way tests wait: poll a predicate until it holds, or fail naming what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_INTERVAL_SECONDS = 0.05


class WaitTimeout(AssertionError):
    """`wait_until` ran out of time (an AssertionError, so pytest reports a failure)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    message: str | Callable[[], str] | None = None,
) -> T:
    """Call `predicate` until it returns something truthy, and return that value.

    The predicate is called at least once, and once more after the deadline, so a slow
    machine never fails a wait whose condition holds by then. Whatever it raises propagates
    (a predicate may assert that a process it waits on is still alive).

    :param timeout: seconds before giving up; a failure bound, never a measurement.
    :param interval: seconds between calls.
    :param message: what is awaited, for the failure (a callable is called only on failure,
        to describe the state then); the predicate's name when omitted.
    :raise WaitTimeout: the predicate never returned a truthy value in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    if callable(message):
        what = message()
    else:
        what = message or getattr(predicate, "__qualname__", repr(predicate))
    raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})")
