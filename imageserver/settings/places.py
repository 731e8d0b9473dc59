"""Where the server keeps its files: the checkout's `output/`, or the XDG directories.

Run from a checkout (the package sits next to `server.py` and `pyproject.toml`), state, logs,
JSON outputs and the variant cache live under `output/` in the project, and relative paths in
the settings are taken from the project folder, as they always were. Installed as a wheel
(`pip install`, `pipx`, `uv tool`), there is no project folder, so they go to the XDG base
directories instead:

- state, logs and JSON outputs: `$XDG_STATE_HOME/imageserver` (default `~/.local/state/...`)
- the variant cache: `$XDG_CACHE_HOME/imageserver` (default `~/.cache/imageserver`)
- the `.env` file: `$XDG_CONFIG_HOME/imageserver/env` (default `~/.config/imageserver/env`)

This module reads no environment itself: `settings.config` (the one reader) passes it in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = PACKAGE_DIR.parent
APP_NAME = "imageserver"
# Files that only a checkout has next to the package (a site-packages folder has neither).
CHECKOUT_MARKERS = ("server.py", "pyproject.toml")


def is_checkout(root: Path = PROJECT_ROOT) -> bool:
    """Tell whether `root` is the project's checkout (not an installed copy of the package)."""
    return (root / PACKAGE_DIR.name).is_dir() and all(
        (root / marker).is_file() for marker in CHECKOUT_MARKERS
    )


def _xdg_home(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    # The XDG spec: an unset, empty or relative value means the default, under $HOME.
    raw = environ.get(variable, "").strip()
    if raw and os.path.isabs(raw):
        return Path(raw)
    home = environ.get("HOME", "").strip()
    return (Path(home) if os.path.isabs(home) else Path.home()) / fallback


@dataclass(frozen=True)
class Places:
    """The folders the server writes to, and where relative paths in the settings start."""

    checkout: bool
    state_home: Path  # state, logs, JSON outputs
    cache_home: Path  # the variant cache
    state_base: Path  # relative state, log and output paths are taken from here
    cache_base: Path  # a relative variant cache path is taken from here
    env_file: Path  # the default `.env`

    @classmethod
    def find(cls, environ: Mapping[str, str], root: Path = PROJECT_ROOT) -> Places:
        """Return the places for a checkout at `root`, else the XDG places of `environ`."""
        if is_checkout(root):
            output = root / "output"
            return cls(True, output, output, root, root, root / ".env")
        state = _xdg_home(environ, "XDG_STATE_HOME", ".local/state") / APP_NAME
        cache = _xdg_home(environ, "XDG_CACHE_HOME", ".cache") / APP_NAME
        config = _xdg_home(environ, "XDG_CONFIG_HOME", ".config") / APP_NAME
        return cls(False, state, cache, state, cache, config / "env")

    def state_path(self, raw: str, default_name: str) -> str:
        """Return the state-like folder `raw` names (empty: `<state home>/<default_name>`)."""
        return _placed(raw, self.state_home / default_name, self.state_base)

    def cache_path(self, raw: str, default_name: str) -> str:
        """Return the cache folder `raw` names (empty: `<cache home>/<default_name>`)."""
        return _placed(raw, self.cache_home / default_name, self.cache_base)

    @property
    def json_dir(self) -> Path:
        """The default folder of the loader's JSON outputs."""
        return self.state_home / "json"


def _placed(raw: str, default: Path, base: Path) -> str:
    raw = os.path.expanduser(raw.strip())
    if not raw:
        return str(default)
    # The pathlib join keeps an absolute path as it is.
    return str(base / raw)
