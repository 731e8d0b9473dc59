"""What a request handler needs, attached to the app instead of module globals."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from flask import current_app

from imageserver.settings.config import Config
from imageserver.state.registry import Directory
from imageserver.state.registry import Registry
from imageserver.state.timers import Clock
from imageserver.variants.service import VariantService
from imageserver.web.errors import ApiError

EXTENSION_KEY = "imageserver"


@dataclass(frozen=True)
class Services:
    """The configuration, the shared-state registry and the clock of one app."""

    config: Config
    registry: Registry
    clock: Clock
    # One per worker process, shared by the native image path and the Flask routes.
    variants: VariantService
    # The Host names allowed when IMAGE_SERVER_ALLOWED_HOSTS is unset (security/hosts.py),
    # worked out once: the machine's name and the public URL do not change at run time.
    default_hosts: tuple[str, ...] = ()

    def directory_or_404(self, dir_id: str) -> Directory:
        """Return a loaded directory by id. :raise ApiError 404: it is not loaded."""
        directory = self.registry.get(dir_id)
        if directory is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"Directory not found: {dir_id}")
        return directory


def services() -> Services:
    """Return the services of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
