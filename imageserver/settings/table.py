"""The table of settings: every environment variable, its default, parser and help, once.

`settings/config.py` reads them into a `Config`; the flags of `python server.py` (and
`imageserver serve`) take their help from it. `tests/test_docs.py` checks the settings tables
of the README and docs/CONFIGURATION.md against it, and `tests/test_docs_commands.py` the
server's `--help`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imageserver.settings import parsers as parse

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
        "IMAGE_SERVER_URL",
        "server_url",
        "",
        parse.public_url,
        "Where clients on this machine (imageserver mcp) reach the server; default "
        "http://localhost:IMAGE_SERVER_PORT.",
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
        "IMAGE_SERVER_ALLOWED_HOSTS",
        "allowed_hosts",
        "",
        parse.host_patterns,
        "Host names the control API, gallery, /metrics and /mcp answer for (comma-separated;"
        " `*` any, `.example.com` a domain). Empty: localhost, *.localhost, IP literals,"
        " host.docker.internal, this machine's name and the host of IMAGE_SERVER_PUBLIC_URL.",
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
        "IMAGE_SERVER_FRAMES_CACHE_MB",
        "frames_cache_mb",
        "5120",
        parse.megabytes,
        "Most MB of video frames kept for videos no loaded directory uses (LRU; 0 = delete"
        " at unload; fractions allowed).",
    ),
    Setting(
        "IMAGE_SERVER_MAX_PIXELS",
        "max_pixels",
        "100000000",
        parse.int_in(1),
        "Largest source (width x height) decoded for a variant; bigger ones get 413.",
    ),
    Setting(
        "IMAGE_SERVER_VIDEO_WORKERS",
        "video_workers",
        "1",
        parse.int_in(1, 64),
        "Videos extracted at once (each in its own process); more loads wait in a queue.",
    ),
    Setting(
        "IMAGE_SERVER_VIDEO_MAX_FRAMES",
        "video_max_frames",
        "100000",
        parse.int_in(1),
        "Most frames one video load may give; a video that would give more gets 422.",
    ),
    Setting(
        "IMAGE_SERVER_VIDEO_FOLLOW_IDLE_S",
        "video_follow_idle_seconds",
        "10",
        parse.seconds(0.5),
        'A video loaded with "watch": true is followed as it grows; it ends after this '
        "many seconds without growth.",
    ),
    Setting(
        "IMAGE_SERVER_UPLOAD_MAX_MB",
        "upload_max_mb",
        "20",
        parse.int_in(1, 1024),
        "Largest file POST /api/uploads takes, in MB (20: OpenAI's per-image limit).",
    ),
    Setting(
        "IMAGE_SERVER_UPLOAD_QUOTA_MB",
        "upload_quota_mb",
        "1024",
        parse.int_in(1),
        "Most an upload inbox may hold, in MB; an upload past it gets 413.",
    ),
    Setting(
        "IMAGE_SERVER_UPLOAD_TOTAL_MB",
        "upload_total_mb",
        "5120",
        parse.int_in(1),
        "Most all upload inboxes together may hold, in MB; an upload past it gets 413.",
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
