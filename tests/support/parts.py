"""The one rule for a real part a test needs (a binary, a browser, a database, a library).

A part the machine lacks fails the test in CI (`CI=true`, which `.ci/run` exports) and skips
it, with the reason, on a developer's machine. `tests/conftest.py` also turns any other skip
into a failure under CI, so a regression can never hide as a skip there.
"""

from __future__ import annotations

import os
import shutil
from typing import Any
from typing import NoReturn

import pytest

CI_ENV = "CI"


def in_ci() -> bool:
    """True when the suite runs in CI (`CI=true`, as `.ci/run` and most CI services set)."""
    return os.environ.get(CI_ENV, "").strip().lower() == "true"


def missing_part(reason: str) -> NoReturn:
    """Stop a test that cannot run here: fail in CI, skip elsewhere, saying what is missing."""
    if in_ci():
        pytest.fail(f"a real part is missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, hint: str) -> str:
    """Return the path of executable `name` on PATH, or stop the test (`missing_part`).

    :param hint: how to install it, e.g. "apt-get install -y ffmpeg".
    """
    found = shutil.which(name)
    if found is None:
        missing_part(f"{name} is not installed ({hint})")
    return found


def fail_a_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under CI, turn a skipped report into a failed one that keeps the skip's reason."""
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A skipped test fails under CI (this module is a plugin `tests/conftest.py` loads)."""
    outcome = yield
    fail_a_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """A module skipped while it is collected (`importorskip`) fails under CI too."""
    outcome = yield
    fail_a_skip_in_ci(outcome.get_result())
