"""Run the real server (granian) with a clock that tests can move.

The clock is read from IMAGE_SERVER_TEST_CLOCK_FILE (tests/support/clock.py): a frozen time the
test moves (`at <epoch>`), or real time plus an offset in seconds, so a test "waits" an hour by
writing to that file. Everything else is the production path:
the same Config, create_asgi_application and granian runner as `python server.py`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from imageserver.engines.asgi import create_asgi_application  # noqa: E402
from imageserver.engines.granian_runner import run  # noqa: E402
from imageserver.settings.config import Config  # noqa: E402
from imageserver.state.registry import Registry  # noqa: E402
from tests.support.clock import read_clock_file  # noqa: E402


class FileClock:
    """The time the clock file says (tests/support/clock.py): frozen, or real time + offset."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self) -> float:
        return read_clock_file(self.path, time.time())


def main() -> None:
    config = Config.from_env()
    clock = FileClock(os.environ["IMAGE_SERVER_TEST_CLOCK_FILE"])
    Registry.open(config, clock).initialise()  # as cli/serve.py: with the inboxes' root
    run(config, lambda: create_asgi_application(config, clock=clock))


if __name__ == "__main__":
    main()
