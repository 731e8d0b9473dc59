"""`python -m bench`: measure our server against nginx, caddy, Flask and http.server; print tables.

This file is only the error boundary: Ctrl-C and SIGTERM unwind through the `finally`
blocks that stop every server, and a BenchError is one line, not a traceback.
"""

from __future__ import annotations

import signal
import sys
import time

from bench import options
from bench import run
from bench.model import BenchError

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _raise_interrupt(signum: int, frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`) must stop the servers too, as Ctrl-C does.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Run the benchmark; return the exit status."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    began = time.monotonic()
    try:
        report = run.run(options.parse(argv))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: every server was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(report)
    print(f"(benchmark wall time {time.monotonic() - began:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
