"""What a publish is asked to do and what it reports; plain data, no boto3."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path

from imageserver.settings.publish_target import MAX_URL_TTL
from imageserver.settings.publish_target import Target


@dataclass(frozen=True)
class PublishSpec:
    """Everything one publish needs, checked by its caller."""

    root: str
    target: Target
    manifest_path: Path
    recursive: bool = False
    variant: tuple[tuple[str, str], ...] = ()
    url_ttl: int = MAX_URL_TTL
    public_base_url: str | None = None
    endpoint_url: str | None = None
    workers: int = 16
    cache_max_age: int = 3600
    max_pixels: int = 100_000_000


@dataclass
class Counts:
    """Progress of a publish: objects planned, uploaded, skipped, failed, bytes uploaded."""

    total: int = 0
    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0


@dataclass
class Published:
    """The outcome: URLs of the stored objects (by source name), counts, and the failures."""

    urls: list[str]
    counts: Counts
    failures: list[tuple[str, str]] = field(default_factory=list)
    expires_at: datetime | None = None
