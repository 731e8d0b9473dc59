#!/usr/bin/env python3
"""Start the Lightweight Image Server under granian (or Flask's dev server with --dev)."""

from __future__ import annotations

import sys

from imageserver.cli.serve import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
