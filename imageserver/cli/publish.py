"""`load_folder_v2.py --dir D --publish s3://BUCKET/PREFIX` (docs/PUBLISH.md).

The flags are added to the loader's parser by `add_flags`; `cli/load.py` dispatches here
when `--publish` is given and maps the outcome to its exit statuses. No server is needed:
the folder is read directly, and the JSON document is the loader's (docs/CLI.md#output-json)
with `image_urls` the published URLs, then the `publish` key.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imageserver.cli.common import http_url
from imageserver.loader import output
from imageserver.loader.errors import LoaderError
from imageserver.loader.errors import UsageError
from imageserver.loader.run import resolve_directory
from imageserver.publish.manifest import manifest_path
from imageserver.publish.spec import Published
from imageserver.publish.spec import PublishSpec
from imageserver.settings.config import Config
from imageserver.settings.publish_target import MAX_URL_TTL
from imageserver.settings.publish_target import TargetError
from imageserver.settings.publish_target import parse_target

FAILURES_SHOWN = 100
# Loader flags that only mean something with a server; refused with --publish.
SERVER_ONLY_FLAGS = {
    "timeout": "--timeout",
    "unload": "--unload",
    "unload_first": "--unload-first",
    "force_reload": "--force-reload",
    "no_verify": "--no-verify",
    "dimensions": "--dimensions",
}
PUBLISH_ONLY_FLAGS = {
    "endpoint_url": "--endpoint-url",
    "url_ttl": "--url-ttl",
    "public_base_url": "--public-base-url",
}


class PublishFailed(LoaderError):
    """The target cannot be reached or refuses us (exit 1)."""


@dataclass(frozen=True)
class Outcome:
    """What a publish run wrote and whether every object was published."""

    output_file: Path
    complete: bool


def _target(raw: str) -> Any:
    try:
        return parse_target(raw)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _url_ttl(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {raw!r}") from None
    if not 1 <= value <= MAX_URL_TTL:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {MAX_URL_TTL} seconds (7 days, the most a presigned "
            f"URL can live), got {value}"
        )
    return value


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--publish` and the flags that only apply with it."""
    group = parser.add_argument_group("publishing to S3-compatible storage (no server needed)")
    add = group.add_argument
    add("--publish", type=_target, metavar="s3://BUCKET/PREFIX", help="upload the folder there")
    add("--endpoint-url", type=http_url, help="S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS)")
    add(
        "--url-ttl",
        type=_url_ttl,
        metavar="SECONDS",
        help=f"lifetime of the presigned URLs (default and most: {MAX_URL_TTL}, 7 days)",
    )
    add("--public-base-url", type=http_url, help="hand out URL/<key> instead of presigned URLs")


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that do not go with the mode chosen (`--publish` or a server).

    :raise UsageError: a server-only flag with `--publish`, or a publish flag without it.
    """
    if args.publish is not None:
        given = [flag for name, flag in SERVER_ONLY_FLAGS.items() if getattr(args, name)]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be used with --publish")
    else:
        given = [flag for name, flag in PUBLISH_ONLY_FLAGS.items() if getattr(args, name)]
        if given:
            raise UsageError(f"{', '.join(given)} needs --publish s3://BUCKET/PREFIX")


def spec_from_args(
    args: argparse.Namespace, config: Config, variant: Mapping[str, str]
) -> PublishSpec:
    """Build the publish of `--dir` to `--publish` from the flags and the configuration.

    :raise UsageError: `--dir` is not a directory.
    """
    root = os.path.realpath(resolve_directory(args.dir, config.frame_base_dir))
    if not os.path.isdir(root):
        raise UsageError(f"not a directory: {args.dir}")
    return PublishSpec(
        root=root,
        target=args.publish,
        manifest_path=manifest_path(config.state_dir, args.endpoint_url, args.publish, root),
        recursive=args.recursive,
        variant=tuple(variant.items()),
        url_ttl=args.url_ttl or MAX_URL_TTL,
        public_base_url=args.public_base_url,
        endpoint_url=args.endpoint_url,
        workers=args.workers,
        cache_max_age=config.cache_max_age,
        max_pixels=config.max_pixels,
    )


def run(args: argparse.Namespace, config: Config, variant: Mapping[str, str]) -> Outcome:
    """Publish, write the JSON document, print its path; report failed objects on stderr.

    :raise UsageError: bad `--dir`. :raise PublishFailed: the target is unusable.
    :raise OutputError: the document cannot be written.
    """
    from imageserver.publish.publisher import publish  # boto3 loads only when publishing
    from imageserver.publish.s3 import TargetUnavailable

    spec = spec_from_args(args, config, variant)
    try:
        published = publish(spec, show_bar=not args.quiet)
    except TargetUnavailable as exc:
        raise PublishFailed(str(exc)) from None
    now = datetime.now()
    document = build_document(spec, published, now)
    written = output.write_outputs(args.output.expanduser().absolute(), spec.root, args.name,
                                   document, now)  # fmt: skip
    print(written, flush=True)  # stdout carries only this path, as without --publish
    report_failures(published)
    return Outcome(written, not published.failures)


def build_document(spec: PublishSpec, published: Published, now: datetime) -> dict[str, Any]:
    """Return the loader's document for a publish, with the `publish` key (docs/PUBLISH.md)."""
    counts = published.counts
    expires_at = published.expires_at
    extras: dict[str, Any] = {
        "publish": {
            "target": str(spec.target),
            "uploaded": counts.uploaded,
            "skipped": counts.skipped,
            "failed": counts.failed,
            "bytes": counts.bytes,
            "expires_at": expires_at.strftime(output.TIMESTAMP_FORMAT) if expires_at else None,
        }
    }
    if spec.variant:
        extras["variant"] = dict(spec.variant)
    return output.build_document(spec.root, published.urls, {}, extras, now)


def report_failures(published: Published) -> None:
    """List the objects that could not be published on stderr (the first hundred)."""
    failures = published.failures
    if not failures:
        return
    print(f"{len(failures)} of {published.counts.total} objects failed:", file=sys.stderr)
    for key, reason in failures[:FAILURES_SHOWN]:
        print(f"  {key}: {reason}", file=sys.stderr)
    if len(failures) > FAILURES_SHOWN:
        print(f"  ... and {len(failures) - FAILURES_SHOWN} more", file=sys.stderr)
