"""Run the real server (granian) with a clock that tests can move.

The clock is real time plus an offset in seconds read from IMAGE_SERVER_TEST_CLOCK_FILE, so a
test "waits" an hour by writing 3600 to that file. Everything else is the production path:
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


class FileClock:
    """Real time plus the offset stored in a file (missing or empty file: no offset)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self) -> float:
        try:
            offset = float(Path(self.path).read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return time.time() + offset


def main() -> None:
    config = Config.from_env()
    clock = FileClock(os.environ["IMAGE_SERVER_TEST_CLOCK_FILE"])
    Registry.open(config, clock).initialise()  # as cli/serve.py: with the inboxes' root
    run(config, lambda: create_asgi_application(config, clock=clock))


if __name__ == "__main__":
    main()
