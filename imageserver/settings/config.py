"""The one place that reads the environment and `.env`.

Every setting is declared once in `SETTINGS` (name, default, parser, help). `Config.from_env()`
merges `.env` under the real environment (the real environment wins), parses each value and
returns a frozen `Config`. A bad value raises `ConfigError` with one readable line, which the
entry points print instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from imageserver.publish.target import Target
from imageserver.settings import parsers as parse
from imageserver.settings.parsers import ConfigError  # noqa: F401 - callers catch it from here
from imageserver.settings.places import Places

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_ENV_FILE = PROJECT_ROOT / ".env"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
ACCESS_LOG_FORMATS = ("off", "json")


@dataclass(frozen=True)
class Setting:
    """One environment variable: the field it fills, its default and how it is parsed."""

    env: str
    field: str
    default: str
    parse: Callable[[str, str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("IMAGE_SERVER_HOST", "host", "0.0.0.0", parse.text, "Address to bind."),
    Setting("IMAGE_SERVER_PORT", "port", "7779", parse.int_in(1, 65535), "Port to bind."),
    Setting(
        "IMAGE_SERVER_TIMEOUT",
        "default_timeout_minutes",
        "0",
        parse.int_in(0),
        "Default auto-unload timeout in minutes (0 = off).",
    ),
    Setting(
        "IMAGE_SERVER_TIMEOUT_MODE",
        "timeout_mode",
        "fixed",
        parse.choice("fixed", "idle", default="fixed"),
        "fixed: deadline set at load; idle: the deadline slides on each image access.",
    ),
    Setting(
        "FRAME_BASE_DIR",
        "frame_base_dir",
        "",
        parse.optional_dir,
        "Base for relative directory paths; the default allowed root.",
    ),
    Setting(
        "IMAGE_SERVER_STATE_DIR",
        "state_dir",
        "",
        parse.text,
        "Where the SQLite state lives (default output/state, installed "
        "$XDG_STATE_HOME/imageserver/state; relative to the project).",
    ),
    Setting(
        "IMAGE_SERVER_WORKERS", "workers", "2", parse.int_in(1, 64), "Server worker processes."
    ),
    Setting(
        "IMAGE_SERVER_THREADS",
        "threads",
        "8",
        parse.int_in(1, 256),
        "Flask threads per worker (the control API and refusals).",
    ),
    Setting(
        "IMAGE_SERVER_PUBLIC_URL",
        "public_url",
        "",
        parse.public_url,
        "Base of the absolute URLs handed out (e.g. the ngrok URL).",
    ),
    Setting(
        "IMAGE_SERVER_TRUSTED_PROXIES",
        "trusted_proxies",
        "0",
        parse.int_in(0, 10),
        "How many proxy hops may set X-Forwarded-* headers.",
    ),
    Setting(
        "IMAGE_SERVER_ALLOWED_ROOTS",
        "allowed_roots",
        "",
        parse.path_list,
        "Directories (':'-separated) that may be loaded; default FRAME_BASE_DIR when set.",
    ),
    Setting(
        "IMAGE_SERVER_TOKEN",
        "tokens",
        "",
        parse.tokens,
        "Bearer token(s), comma-separated, required on the control API when set.",
    ),
    Setting(
        "IMAGE_SERVER_SIGNING_KEY",
        "signing_key",
        "",
        parse.optional_text,
        "When set, image URLs need ?exp=&sig= (HMAC-SHA256).",
    ),
    Setting(
        "IMAGE_SERVER_SIGNING_KEY_PREVIOUS",
        "signing_key_previous",
        "",
        parse.optional_text,
        "A previous signing key that still verifies during a rotation.",
    ),
    Setting(
        "IMAGE_SERVER_URL_TTL",
        "url_ttl_seconds",
        "604800",
        parse.int_in(1),
        "Lifetime in seconds of the signed URLs the server hands out.",
    ),
    Setting(
        "IMAGE_SERVER_CACHE_MAX_AGE",
        "cache_max_age",
        "3600",
        parse.int_in(0),
        "Cache-Control max-age in seconds for images.",
    ),
    Setting(
        "IMAGE_SERVER_HIDE_PATHS",
        "hide_paths",
        "false",
        parse.flag,
        "Show directory ids instead of absolute server paths in responses.",
    ),
    Setting(
        "IMAGE_SERVER_CORS_ORIGINS",
        "cors_origins",
        "",
        parse.origins,
        "Web origins (comma-separated) allowed to call the control API from a browser.",
    ),
    Setting(
        "IMAGE_SERVER_LOG_LEVEL",
        "log_level",
        "info",
        parse.choice(*LOG_LEVELS),
        "Server log level: critical, error, warning, info, debug.",
    ),
    Setting(
        "IMAGE_SERVER_METRICS",
        "metrics",
        "true",
        parse.flag,
        "Count requests for GET /metrics (Prometheus); false skips the counting entirely.",
    ),
    Setting(
        "IMAGE_SERVER_ACCESS_LOG",
        "access_log",
        "off",
        parse.choice(*ACCESS_LOG_FORMATS, default="off"),
        "json: one JSON line per request (never a token or a signature).",
    ),
    Setting(
        "IMAGE_SERVER_ACCESS_LOG_FILE",
        "access_log_file",
        "",
        parse.optional_text,
        "Append the access log to this file (relative to the project) instead of stderr.",
    ),
    Setting(
        "IMAGE_SERVER_VARIANT_CACHE_DIR",
        "variant_cache_dir",
        "",
        # Anchored by `_placed_paths`, like the state dir.
        parse.text,
        "Where resized/converted image variants are cached (default output/variants, "
        "installed $XDG_CACHE_HOME/imageserver/variants; relative to the project).",
    ),
    Setting(
        "IMAGE_SERVER_VARIANT_CACHE_MB",
        "variant_cache_mb",
        "1024",
        parse.int_in(1),
        "Size bound of the variant cache in MB; least recently used variants go first.",
    ),
    Setting(
        "IMAGE_SERVER_MAX_PIXELS",
        "max_pixels",
        "100000000",
        parse.int_in(1),
        "Largest source (width x height) decoded for a variant; bigger ones get 413.",
    ),
    Setting(
        "IMAGE_SERVER_PUBLISH_TARGETS",
        "publish_targets",
        "",
        parse.publish_targets,
        "s3://bucket/prefix targets (comma-separated) the publish API may write under.",
    ),
    Setting(
        "IMAGE_SERVER_PUBLISH_ENDPOINT_URL",
        "publish_endpoint_url",
        "",
        parse.public_url,
        "S3 endpoint of the publish API (default: boto3's AWS_ENDPOINT_URL_S3, else AWS).",
    ),
    Setting(
        "IMAGE_SERVER_PUBLISH_WORKERS",
        "publish_workers",
        "8",
        parse.int_in(1, 64),
        "Concurrent uploads of one publish job.",
    ),
    Setting(
        "IMAGE_SERVER_WATCH_POLL_S",
        "watch_poll_seconds",
        "2",
        parse.seconds(0.1),
        "Live folders: seconds between rescans where inotify cannot be used.",
    ),
    Setting(
        "IMAGE_SERVER_WATCH_MODE",
        "watch_mode",
        "auto",
        parse.choice("auto", "poll", default="auto"),
        "Live folders: auto (inotify, else polling) or poll (e.g. network file systems).",
    ),
)


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
    trusted_proxies: int = 0
    allowed_roots: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    signing_key: str | None = None
    signing_key_previous: str | None = None
    url_ttl_seconds: int = 604800
    cache_max_age: int = 3600
    hide_paths: bool = False
    cors_origins: tuple[str, ...] = ()
    log_level: str = "info"
    metrics: bool = True
    access_log: str = "off"
    access_log_file: str | None = None
    max_body_bytes: int = 1024 * 1024
    variant_cache_dir: str = str(PROJECT_ROOT / "output" / "variants")
    variant_cache_mb: int = 1024
    max_pixels: int = 100_000_000
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

    def replace(self, **changes: Any) -> Config:
        """Return a copy with some fields changed (used by tests and the CLI flags)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(changes)
        return Config(**current)
