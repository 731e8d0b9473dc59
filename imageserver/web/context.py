"""What a request handler needs, attached to the app instead of module globals."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from imageserver.settings.config import Config
from imageserver.state.registry import Registry
from imageserver.state.timers import Clock

EXTENSION_KEY = "imageserver"


@dataclass(frozen=True)
class Services:
    """The configuration, the shared-state registry and the clock of one app."""

    config: Config
    registry: Registry
    clock: Clock


def services() -> Services:
    """Return the services of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
