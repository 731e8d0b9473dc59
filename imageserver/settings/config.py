"""The one place that reads the environment and `.env`.

Every setting is declared once in `SETTINGS` (name, default, parser, help). `Config.from_env()`
merges `.env` under the real environment (the real environment wins), parses each value and
returns a frozen `Config`. A bad value raises `ConfigError` with one readable line, which the
entry points print instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from imageserver.settings.parsers import ConfigError  # noqa: F401 - callers catch it from here
from imageserver.settings.places import Places
from imageserver.settings.publish_target import Target
from imageserver.settings.table import SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_ENV_FILE = PROJECT_ROOT / ".env"


def _placed_paths(values: Mapping[str, Any], places: Places) -> dict[str, Any]:
    """Anchor the path settings: under the project in a checkout, else the XDG folders."""
    log_file = values["access_log_file"]
    return {
        "state_dir": places.state_path(values["state_dir"], "state"),
        "variant_cache_dir": places.cache_path(values["variant_cache_dir"], "variants"),
        "access_log_file": places.state_path(log_file, "") if log_file else None,
        "output_dir": str(places.state_home),
    }


@dataclass(frozen=True)
class Config:
    """The server's settings, parsed and checked. Build it with `Config.from_env()`."""

    host: str = "0.0.0.0"
    port: int = 7779
    default_timeout_minutes: int = 0
    timeout_mode: str = "fixed"
    frame_base_dir: str | None = None
    state_dir: str = str(PROJECT_ROOT / "output" / "state")
    # Not a setting: output/ in a checkout, else $XDG_STATE_HOME/imageserver (places.py).
    output_dir: str = str(PROJECT_ROOT / "output")
    workers: int = 2
    threads: int = 8
    public_url: str | None = None
    server_url: str | None = None
    trusted_proxies: int = 0
    allowed_roots: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    signing_key: str | None = None
    signing_key_previous: str | None = None
    url_ttl_seconds: int = 604800
    cache_max_age: int = 3600
    hide_paths: bool = False
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    log_level: str = "info"
    metrics: bool = True
    access_log: str = "off"
    access_log_file: str | None = None
    max_body_bytes: int = 1024 * 1024
    variant_cache_dir: str = str(PROJECT_ROOT / "output" / "variants")
    variant_cache_mb: int = 1024
    frames_cache_mb: float = 5120.0
    max_pixels: int = 100_000_000
    video_workers: int = 1
    video_max_frames: int = 100_000
    video_follow_idle_seconds: float = 10.0
    upload_max_mb: int = 20
    upload_quota_mb: int = 1024
    upload_total_mb: int = 5120
    publish_targets: tuple[Target, ...] = ()
    publish_endpoint_url: str | None = None
    publish_workers: int = 8
    watch_poll_seconds: float = 2.0
    watch_mode: str = "auto"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
        **overrides: Any,
    ) -> Config:
        """Read settings from `.env` and the environment; `overrides` win over both.

        :raise ConfigError: a value does not parse (the message names the variable).
        """
        source = os.environ if environ is None else environ
        places = Places.find(source)
        if env_file == DEFAULT_ENV_FILE:
            env_file = places.env_file  # installed: $XDG_CONFIG_HOME/imageserver/env
        # IMAGE_SERVER_ENV_FILE points at another .env (tests use it to ignore a developer's).
        env_file = source.get("IMAGE_SERVER_ENV_FILE", env_file)
        merged: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        merged.update(source)
        values = {s.field: s.parse(s.env, merged.get(s.env, s.default)) for s in SETTINGS}
        values.update(_placed_paths(values, places))
        values.update(overrides)
        return cls(**values)

    @property
    def effective_allowed_roots(self) -> tuple[str, ...]:
        """The real paths a loaded directory must live under; empty means anywhere."""
        if self.allowed_roots:
            return self.allowed_roots
        if self.frame_base_dir:
            return (os.path.realpath(self.frame_base_dir),)
        return ()

    @property
    def database_path(self) -> str:
        """The SQLite file that holds the shared state."""
        return os.path.join(self.state_dir, "state.sqlite3")

    @property
    def signing_keys(self) -> tuple[str, ...]:
        """The keys a URL signature verifies against: the current one, then the previous."""
        return tuple(key for key in (self.signing_key, self.signing_key_previous) if key)
