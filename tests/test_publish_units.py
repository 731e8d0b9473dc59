"""The publish package's pure parts: targets, variant tags, presigned URLs, multipart ETags."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig

from imageserver.publish.objects import MiB
from imageserver.publish.objects import in_memory
from imageserver.publish.objects import multipart_etag
from imageserver.publish.presign import Presigner
from imageserver.settings.publish_target import Target
from imageserver.settings.publish_target import TargetError
from imageserver.settings.publish_target import allowed
from imageserver.settings.publish_target import parse_target
from imageserver.settings.publish_target import variant_tag
from tests.support.s3 import MotoS3
from tests.support.s3 import new_bucket
from tests.support.s3 import s3_client


@pytest.mark.parametrize(
    ("raw", "bucket", "prefix"),
    [
        ("s3://frames", "frames", ""),
        ("s3://frames/", "frames", ""),
        ("S3://frames//run/1/", "frames", "run/1"),
        (" s3://my.bucket-2/a b/ü ", "my.bucket-2", "a b/ü"),
    ],
)
def test_targets_parse_to_bucket_and_clean_prefix(raw: str, bucket: str, prefix: str) -> None:
    assert parse_target(raw) == Target(bucket, prefix)


@pytest.mark.parametrize(
    "raw",
    ["frames/x", "https://frames/x", "s3://", "s3:///x", "s3://ab", "s3://Frames", "s3://a_b/x",
     "s3://-ab/x", "s3://a..b", "s3://10.0.0.1/x", "s3://frames/../x", "s3://frames/a/./b",
     "s3://frames/" + "x" * 600],
)  # fmt: skip
def test_malformed_targets_are_refused(raw: str) -> None:
    with pytest.raises(TargetError):
        parse_target(raw)


def test_a_target_is_allowed_only_at_or_below_an_allowed_prefix() -> None:
    targets = (Target("frames", "team/a"), Target("open"))
    assert allowed(Target("frames", "team/a"), targets)
    assert allowed(Target("frames", "team/a/run/1"), targets)
    assert allowed(Target("open", "anything"), targets)
    assert not allowed(Target("frames", "team/ab"), targets)
    assert not allowed(Target("frames", "team"), targets)
    assert not allowed(Target("frames"), targets)
    assert not allowed(Target("other", "team/a"), targets)
    assert not allowed(Target("frames", "team/a"), ())


def test_variant_tags_are_stable_folder_names() -> None:
    assert variant_tag({"preset": "claude"}) == "claude"
    assert variant_tag({"preset": "thumb", "format": "webp"}) == "thumb_format-webp"
    assert variant_tag({"max": "1024", "format": "webp"}) == "max-1024_format-webp"
    assert Target("b", "p").key(variant_tag({"w": "512"}), "sub/a.jpg") == "p/w-512/sub/a.jpg"


@pytest.mark.parametrize(
    ("endpoint", "region", "token"),
    [
        ("http://127.0.0.1:9000", "us-east-1", None),
        ("https://s3.eu-west-1.amazonaws.com", "eu-west-1", "session/token+=="),
        ("https://account.r2.cloudflarestorage.com", "auto", None),
        ("http://localhost:80/", "us-east-1", None),
    ],
)
def test_presigned_urls_equal_botocores(endpoint: str, region: str, token: str | None) -> None:
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="AKID",
        aws_secret_access_key="se/cret", aws_session_token=token,
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
    )  # fmt: skip
    for key in ("p/frame 1.jpg", "sub/ünï cödé.png", "a+b(1)!'*~.jpg", "x%&=#"):
        theirs = client.generate_presigned_url(
            "get_object", Params={"Bucket": "my.bucket-1", "Key": key}, ExpiresIn=3600
        )
        when = parse_qs(urlsplit(theirs).query)["X-Amz-Date"][0]
        now = datetime.strptime(when, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        signer = Presigner(endpoint, region, "AKID", "se/cret", token, now)
        ours = signer.url("my.bucket-1", key, 3600)
        assert urlsplit(ours)._replace(query="") == urlsplit(theirs)._replace(query=""), key
        assert parse_qs(urlsplit(ours).query) == parse_qs(urlsplit(theirs).query), key


def test_single_put_etag_is_the_md5() -> None:
    payload = in_memory(b"frame bytes")
    assert payload.etag == hashlib.md5(b"frame bytes").hexdigest()


def test_multipart_etag_matches_what_the_store_reports(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(5 * MiB) + b"tail")
    server = MotoS3().start()
    try:
        client = s3_client(server.endpoint)
        bucket = new_bucket(client)
        config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
        client.upload_file(str(path), bucket, "big.bin", Config=config)
        stored = client.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"')
    finally:
        server.stop()
    assert stored.endswith("-2")
    assert multipart_etag(str(path), chunk=5 * MiB) == stored
