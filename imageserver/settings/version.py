"""The package version, from the one file that declares it (`pyproject.toml`).

A checkout reads `pyproject.toml` itself (the package is not installed there, or an older
build may be); an installed wheel reads its own metadata, which the build copied from it.
"""

from __future__ import annotations

import tomllib
from importlib import metadata

from imageserver.settings.places import PROJECT_ROOT
from imageserver.settings.places import is_checkout

DISTRIBUTION = "lightweight-image-server"
UNKNOWN = "unknown"


def package_version() -> str:
    """Return the version string, or "unknown" when neither source can be read."""
    if is_checkout():
        try:
            with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
                return str(tomllib.load(file)["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return UNKNOWN
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN
