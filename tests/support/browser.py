"""Headless Debian Chromium driven by selenium, for the gallery's browser tests.

Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them) put the browser
at /usr/bin/chromium and its driver at /usr/bin/chromedriver. Without them the browser tests
fail in CI (`CI=true`) and are skipped, with the reason, on a developer's machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from tests.support.parts import missing_part
from tests.support.waiting import wait_until

CHROMIUM = os.environ.get("GALLERY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GALLERY_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_SECONDS = 15
T = TypeVar("T")


def missing_browser_reason() -> str | None:
    """Say what is missing to run the browser tests, or None when everything is there."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make install)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)) and not shutil.which(path):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    return None


def require_browser() -> None:
    """Stop the test when Chromium or selenium is missing (`missing_part`: fails in CI)."""
    reason = missing_browser_reason()
    if reason is not None:
        missing_part(f"browser tests need Chromium: {reason}")


def start_chromium(width: int = 1200, height: int = 900) -> Any:
    """Start headless Chromium with its console log readable through `get_log("browser")`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def wait_for(condition: Callable[[], T], what: str, timeout: float = WAIT_SECONDS) -> T:
    """`wait_until` with a browser's patience: poll `condition`, fail naming `what`."""
    return wait_until(condition, timeout=timeout, message=what)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Return (and drain) the browser console's errors since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
