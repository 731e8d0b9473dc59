"""boto3, configured for every S3-compatible store, and what its failures mean to us.

Why this configuration:
- Since botocore 1.36 every request carries a CRC32 checksum by default, which several
  S3-compatible stores (older MinIO, R2 on some operations, SeaweedFS, Ceph) reject:
  checksums are computed and validated only `when_required`; a single PUT sends
  Content-MD5 instead, which every store checks.
- Path-style addressing (`endpoint/bucket/key`): a local store has no wildcard DNS for
  virtual-hosted buckets, and AWS still answers path-style requests.
- SigV4 presigning: its URLs live up to 7 days; boto3 otherwise presigns some endpoints
  with SigV2.
- `standard` retries: exponential backoff with jitter on throttling, 5xx and dropped
  connections. One client is shared by all threads (boto3 clients are thread-safe), with a
  connection pool as large as the thread pool.

Credentials, region and endpoint come from boto3's standard chain (`AWS_*` variables,
profiles); an explicit endpoint URL wins.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectTimeoutError
from botocore.exceptions import EndpointConnectionError
from botocore.exceptions import NoCredentialsError
from botocore.exceptions import PartialCredentialsError

from imageserver.publish.objects import MULTIPART_CHUNK
from imageserver.publish.objects import MULTIPART_THRESHOLD
from imageserver.publish.objects import Payload
from imageserver.publish.presign import Presigner
from imageserver.settings.publish_target import Target

ATTEMPTS = 5
PROBE_ATTEMPTS = 2  # the first listing: an endpoint that does not answer is reported fast
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
)
_TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, use_threads=False
)


NO_CREDENTIALS = "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile"


class TargetUnavailable(Exception):
    """The store cannot be reached, or refuses us (credentials, bucket); one line (exit 1)."""


def make_session() -> Any:
    """Return a boto3 session: the standard chain of credentials, region and profile.

    :raise TargetUnavailable: the configuration is unusable (e.g. an unknown AWS_PROFILE).

    Its clients keep timestamps as text: parsing every LastModified with dateutil is most
    of the time a listing of thousands of keys takes, and we never read them.
    """
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    try:
        return boto3.session.Session(botocore_session=core)
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
        raise TargetUnavailable(f"cannot set up the S3 client: {exc}") from None


def make_client(
    session: Any, endpoint_url: str | None, pool_size: int, attempts: int = ATTEMPTS
) -> Any:
    """Return an S3 client for `endpoint_url` (None: boto3's own chain decides).

    :raise TargetUnavailable: the configuration is unusable (e.g. an unknown AWS_PROFILE).
    """
    config = BotoConfig(
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
        retries={"max_attempts": attempts, "mode": "standard"},
        max_pool_connections=max(pool_size, 10),
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    try:
        return session.client("s3", endpoint_url=endpoint_url, config=config)
    except BotoCoreError as exc:
        raise TargetUnavailable(f"cannot set up the S3 client: {exc}") from None


def list_etags(client: Any, target: Target, prefix: str) -> dict[str, str]:
    """Return the ETag (unquoted) of every object under `prefix`: one paged ListObjectsV2.

    :raise TargetUnavailable: the store does not answer or refuses the request.
    """
    etags: dict[str, str] = {}
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=target.bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            for item in page.get("Contents", ()):
                etags[item["Key"]] = item["ETag"].strip('"')
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(exc, client, target) from None
    return etags


def put_object(
    client: Any, target: Target, key: str, payload: Payload, content_type: str, cache_control: str
) -> None:
    """Store one object with its type and caching; multipart only for a large file.

    :raise BotoCoreError, ClientError: the store refused it after the retries.
    """
    extra = {"ContentType": content_type, "CacheControl": cache_control}
    if payload.data is not None:
        client.put_object(
            Bucket=target.bucket,
            Key=key,
            Body=payload.data,
            ContentMD5=payload.md5_base64,
            **extra,
        )
    else:
        client.upload_file(payload.path, target.bucket, key, ExtraArgs=extra, Config=_TRANSFER)


def presigner(session: Any, client: Any) -> Presigner:
    """Return a presigner with the client's endpoint and region and the session's credentials.

    :raise TargetUnavailable: no credentials (an anonymous client cannot presign).
    """
    credentials = session.get_credentials()
    if credentials is None:
        raise TargetUnavailable(NO_CREDENTIALS)
    frozen = credentials.get_frozen_credentials()
    return Presigner(
        client.meta.endpoint_url,
        client.meta.region_name or "us-east-1",
        frozen.access_key,
        frozen.secret_key,
        frozen.token,
    )


def unavailable(exc: Exception, client: Any, target: Target) -> TargetUnavailable:
    """Turn a failure of the first request into the one line that says what to fix."""
    endpoint = client.meta.endpoint_url
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return TargetUnavailable(f"cannot reach the S3 endpoint {endpoint}: {exc}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return TargetUnavailable(NO_CREDENTIALS)
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code == "NoSuchBucket":
            return TargetUnavailable(f"bucket {target.bucket!r} does not exist at {endpoint}")
        if code in _CREDENTIAL_CODES or _status(exc) in (401, 403):
            return TargetUnavailable(
                f"{endpoint} refused the credentials for bucket {target.bucket!r}: "
                f"{code}: {message}"
            )
        return TargetUnavailable(f"{endpoint} refused to list {target}: {code}: {message}")
    return TargetUnavailable(f"S3 request to {endpoint} failed: {exc}")


def failure_reason(exc: Exception) -> str:
    """Return one line describing why an object could not be stored."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', _status(exc))}: {error.get('Message', '')}".strip(": ")
    return str(exc) or type(exc).__name__


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
