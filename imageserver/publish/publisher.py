"""One publish of a folder to a target, without error handling at the edges.

Steps: scan the folder with the server's indexer, plan the objects, list the target once,
skip what the manifest and the listing agree is stored, hash/render and upload the rest
in a thread pool sharing one client, save the manifest as results arrive, and hand out a
URL per published object. Used by the CLI (`cli.publish`) and the API's jobs
(`publish.runner`), which report progress through `on_progress`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from datetime import datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from tqdm import tqdm

from imageserver.publish import s3
from imageserver.publish.manifest import Manifest
from imageserver.publish.objects import SourceObject
from imageserver.publish.objects import load_payload
from imageserver.publish.objects import plan_objects
from imageserver.publish.spec import Counts
from imageserver.publish.spec import Published
from imageserver.publish.spec import PublishSpec
from imageserver.settings.publish_target import variant_tag
from imageserver.state.indexer import scan_directory
from imageserver.variants.transform import TransformError

log = logging.getLogger(__name__)

MANIFEST_SAVE_SECONDS = 1.0
WAIT_SECONDS = 1.0  # how often the caller hears from us even while one upload is slow


ProgressCallback = Callable[[Counts], None]


def publish(
    spec: PublishSpec, on_progress: ProgressCallback | None = None, show_bar: bool = False
) -> Published:
    """Publish `spec.root` to `spec.target` and return the URLs and counts.

    :raise s3.TargetUnavailable: the store cannot be reached, or refuses the listing.
    :raise OSError: the folder cannot be listed.
    """
    entries = scan_directory(spec.root, spec.recursive)
    params = dict(spec.variant)
    objects, refused = plan_objects(spec.root, entries, spec.target, params)
    session = s3.make_session()
    client = s3.make_client(session, spec.endpoint_url, spec.workers)
    probe = s3.make_client(session, spec.endpoint_url, 1, attempts=s3.PROBE_ATTEMPTS)
    # Originals, or one variant's objects, all live in one folder: list only that one.
    folder = spec.target.list_prefix(variant_tag(params)) if params else spec.target.list_prefix()
    remote = s3.list_etags(probe, spec.target, folder)
    run = _Run(spec, client, remote, Manifest.load(spec.manifest_path), on_progress)
    run.counts.total = len(objects) + len(refused)
    with tqdm(
        total=run.counts.total, unit="obj", desc="Publishing", file=sys.stderr,
        disable=not show_bar,
    ) as run.bar:  # fmt: skip
        for name, reason in refused:
            run.fail(name, reason)
        pending = run.skip_known(objects)
        run.report()
        try:
            run.upload_all(pending)
        finally:
            run.manifest.save()
    run.report()
    urls = _urls(spec, session, client, [obj.key for obj in objects if obj.key in run.stored])
    expires = None if spec.public_base_url else datetime.fromtimestamp(time.time() + spec.url_ttl)
    return Published(urls, run.counts, run.failures, expires)


class _Run:
    """The state of one publish while its objects are stored; updated in the caller's thread."""

    def __init__(
        self,
        spec: PublishSpec,
        client: Any,
        remote: dict[str, str],
        manifest: Manifest,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.spec = spec
        self.client = client
        self.remote = remote
        self.manifest = manifest
        self.on_progress = on_progress
        self.counts = Counts()
        self.stored: set[str] = set()
        self.failures: list[tuple[str, str]] = []
        self.bar: tqdm | None = None
        self.cache_control = f"public, max-age={spec.cache_max_age}"

    def skip_known(self, objects: list[SourceObject]) -> list[SourceObject]:
        """Count as skipped what the manifest and the listing agree on; return the rest."""
        pending = []
        for obj in objects:
            known = self.manifest.known_etag(obj)
            if known is not None and self.remote.get(obj.key) == known:
                self._stored(obj.key)
                self.counts.skipped += 1
            else:
                pending.append(obj)
        return pending

    def upload_all(self, pending: list[SourceObject]) -> None:
        """Store every pending object in the pool, recording each result as it arrives."""
        saved_at = time.monotonic()
        with ThreadPoolExecutor(self.spec.workers, thread_name_prefix="publish") as pool:
            futures = {pool.submit(self._store_one, obj): obj for obj in pending}
            try:
                while futures:
                    done, _ = wait(futures, timeout=WAIT_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._record(futures.pop(future), future)
                    if time.monotonic() - saved_at >= MANIFEST_SAVE_SECONDS:
                        self.manifest.save()
                        saved_at = time.monotonic()
                    self.report()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _store_one(self, obj: SourceObject) -> tuple[str, int]:
        """Hash (or render) one object; upload it unless the store has the same bytes.

        Runs in the pool. Returns the ETag and the bytes sent (0 when skipped).
        """
        payload = load_payload(obj, self.spec.max_pixels)
        if payload.etag == self.remote.get(obj.key):
            return payload.etag, 0
        s3.put_object(
            self.client, self.spec.target, obj.key, payload, obj.content_type, self.cache_control
        )
        return payload.etag, payload.size

    def _record(self, obj: SourceObject, future: Future) -> None:
        try:
            etag, sent = future.result()
        except (OSError, TransformError, BotoCoreError, ClientError) as exc:
            self.fail(obj.key, s3.failure_reason(exc))
            return
        self.manifest.record(obj, etag)
        self._stored(obj.key)
        if sent:
            self.counts.uploaded += 1
            self.counts.bytes += sent
        else:
            self.counts.skipped += 1

    def _stored(self, key: str) -> None:
        self.stored.add(key)
        if self.bar is not None:
            self.bar.update(1)

    def fail(self, name: str, reason: str) -> None:
        """Count one object as failed, with the reason shown to the user."""
        self.counts.failed += 1
        self.failures.append((name, reason))
        log.debug("failed %s: %s", name, reason)
        if self.bar is not None:
            self.bar.update(1)

    def report(self) -> None:
        """Tell the caller how far we are."""
        if self.on_progress is not None:
            self.on_progress(self.counts)


def _urls(spec: PublishSpec, session: Any, client: Any, keys: list[str]) -> list[str]:
    """Hand out `public_base_url/<key>`, else a presigned URL per key (one signing instant)."""
    if spec.public_base_url:
        base = spec.public_base_url.rstrip("/")
        return [f"{base}/{quote(key, safe='/')}" for key in keys]
    signer = s3.presigner(session, client)
    return [signer.url(spec.target.bucket, key, spec.url_ttl) for key in keys]
