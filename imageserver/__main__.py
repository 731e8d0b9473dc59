"""`python -m imageserver ...`: the same as the `imageserver` console command."""

from __future__ import annotations

import sys

from imageserver.cli.command import main

if __name__ == "__main__":
    sys.exit(main())
