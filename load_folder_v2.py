#!/usr/bin/env python3
"""Load a folder into the image server and write its stable image URLs as JSON.

Usage: python load_folder_v2.py --dir FOLDER [options]   (see --help; docs/CLI.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from any working directory: the package lives next to this script.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import imageserver.cli.load  # noqa: E402

if __name__ == "__main__":
    sys.exit(imageserver.cli.load.main(sys.argv[1:]))
