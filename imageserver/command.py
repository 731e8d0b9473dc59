"""Old import path kept for installed entry points: `imageserver.command:main`."""

from imageserver.cli.command import main as main
