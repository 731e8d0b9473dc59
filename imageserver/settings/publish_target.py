"""Publish targets: `s3://BUCKET/PREFIX`, parsed and checked once, and where their keys go.

A target is a bucket and a key prefix without leading or trailing `/` (possibly empty).
The bucket follows the S3 naming rules that AWS, R2, MinIO and SeaweedFS all enforce, so a
typo is a usage error here rather than an obscure answer from the store. Nothing here
imports boto3.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass

SCHEME = "s3://"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# S3 keys are at most 1024 bytes; a prefix must leave room for the names under it.
MAX_PREFIX_BYTES = 512
# SigV4's limit on a presigned URL's lifetime: 7 days.
MAX_URL_TTL = 7 * 24 * 3600


class TargetError(ValueError):
    """A target that is not `s3://BUCKET[/PREFIX]` with a valid bucket name (one line)."""


@dataclass(frozen=True)
class Target:
    """Where objects go: a bucket and a key prefix (no leading or trailing `/`)."""

    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"

    def key(self, *parts: str) -> str:
        """Return the object key of `parts` (e.g. a variant tag and a name) under the prefix."""
        return "/".join(part for part in (self.prefix, *parts) if part)

    def list_prefix(self, *parts: str) -> str:
        """Return the prefix to list the keys of `parts` with (`''` for a whole bucket)."""
        key = self.key(*parts)
        return f"{key}/" if key else ""

    def is_under(self, allowed: Target) -> bool:
        """Tell whether this target lies inside `allowed` (same bucket, prefix at or below)."""
        if self.bucket != allowed.bucket:
            return False
        if not allowed.prefix:
            return True
        return self.prefix == allowed.prefix or self.prefix.startswith(allowed.prefix + "/")


def parse_target(raw: str) -> Target:
    """Parse `s3://BUCKET[/PREFIX]`; repeated or trailing slashes in the prefix are dropped.

    :raise TargetError: another scheme, no bucket, an invalid bucket name, `.`/`..` in the
        prefix, or a prefix too long to leave room for names.
    """
    text = raw.strip()
    if not text.lower().startswith(SCHEME):
        raise TargetError(f"a target must look like s3://BUCKET/PREFIX, got {raw!r}")
    bucket, _, rest = text[len(SCHEME) :].partition("/")
    check_bucket(bucket)
    segments = [segment for segment in rest.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise TargetError(f"a target's prefix cannot hold '.' or '..' segments, got {raw!r}")
    prefix = "/".join(segments)
    if len(prefix.encode("utf-8")) > MAX_PREFIX_BYTES:
        raise TargetError(f"a target's prefix must be at most {MAX_PREFIX_BYTES} bytes")
    return Target(bucket, prefix)


def check_bucket(bucket: str) -> str:
    """Return `bucket` when it is a valid S3 bucket name.

    :raise TargetError: 3-63 characters of lower-case letters, digits, `.` and `-`, starting
        and ending with a letter or digit, no `..`, not an IP address.
    """
    if not bucket:
        raise TargetError("a target must name a bucket: s3://BUCKET/PREFIX")
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_ADDRESS.match(bucket):
        raise TargetError(
            f"invalid bucket name {bucket!r}: 3-63 lower-case letters, digits, '.' or '-'"
        )
    return bucket


def parse_targets(raw: str) -> tuple[Target, ...]:
    """Parse a comma-separated list of targets (`IMAGE_SERVER_PUBLISH_TARGETS`).

    :raise TargetError: one of them is malformed.
    """
    return tuple(parse_target(part) for part in raw.split(",") if part.strip())


def allowed(target: Target, targets: Iterable[Target]) -> bool:
    """Tell whether `target` falls under one of `targets` (none given: nothing is allowed)."""
    return any(target.is_under(candidate) for candidate in targets)


def variant_tag(params: Mapping[str, str]) -> str:
    """Return the folder a variant's objects go under: `claude`, `max-1024_format-webp`...

    A lone preset is its name; otherwise each parameter is `key-value`, in the canonical
    order the caller gives (`checked_params`), joined with `_`, so the same parameters
    always land under the same folder.
    """
    if set(params) == {"preset"}:
        return params["preset"]
    items = (value if key == "preset" else f"{key}-{value}" for key, value in params.items())
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", item) for item in items)
