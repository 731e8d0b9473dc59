"""`load_folder_v2.py --publish s3://BUCKET/PREFIX` against a real S3 API (docs/PUBLISH.md).

The CLI runs as a subprocess; the store is moto's S3 server on 127.0.0.1 (no mock of
boto3 anywhere; `test_publish_seaweed.py` runs against a real storage server). Published
URLs are fetched with plain `requests`.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image

from tests.support.cli import SCRIPT
from tests.support.cli import cli_env
from tests.support.cli import run_cli
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.publishing import CACHE_MAX_AGE
from tests.support.publishing import assert_one_error_line
from tests.support.publishing import assert_published
from tests.support.publishing import fetch
from tests.support.publishing import publish
from tests.support.s3 import MotoS3
from tests.support.s3 import aws_env
from tests.support.s3 import new_bucket
from tests.support.s3 import stored_keys
from tests.support.s3 import versions_per_key
from tests.support.waiting import wait_until

PUBLISH_KEYS = ["target", "uploaded", "skipped", "failed", "bytes", "expires_at"]
DOCUMENT_KEYS = ["success", "directory", "timestamp", "message", "count", "image_urls"]
NESTED_NAMES = ["a b.png", "sub/ünï cödé.jpg", "sub/deeper/frame 1.webp"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_presigned_urls_serve_the_same_bytes_with_image_type_and_cache_control(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "recording"
    for i, name in enumerate(NESTED_NAMES):
        make_image(folder / name, color=i)
    bucket = new_bucket(s3)
    result = publish(home, folder, f"s3://{bucket}/run/1/", "--recursive", "--quiet",
                     endpoint=moto.endpoint)  # fmt: skip
    document = assert_published(result, uploaded=3, skipped=0)
    assert list(document)[: len(DOCUMENT_KEYS)] == DOCUMENT_KEYS
    assert list(document["publish"]) == PUBLISH_KEYS
    assert document["publish"]["target"] == f"s3://{bucket}/run/1"
    assert document["publish"]["bytes"] == sum((folder / n).stat().st_size for n in NESTED_NAMES)
    assert document["count"] == 3 and document["message"] == "Generated URLs for 3 images"
    assert document["directory"] == str(folder.resolve())
    assert document["publish"]["expires_at"]
    assert set(stored_keys(s3, bucket)) == {f"run/1/{name}" for name in NESTED_NAMES}
    for name, url in zip(sorted(NESTED_NAMES), document["image_urls"], strict=True):
        assert f"/{bucket}/run/1/{quote(name)}?" in url and "X-Amz-Signature=" in url
        response = fetch(url)
        assert response.content == (folder / name).read_bytes()
        assert response.headers["Content-Type"].startswith("image/")
        assert response.headers["Cache-Control"] == f"public, max-age={CACHE_MAX_AGE}"
    latest = home / "out" / "recording_latest.json"
    assert latest.read_text() == result.output_file.read_text()
    assert result.stderr == ""  # --quiet: no progress bar


def test_rerun_uploads_nothing_and_a_touched_file_is_uploaded_again(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 6)
    bucket = new_bucket(s3, versioned=True)
    target = f"s3://{bucket}/frames"
    assert_published(publish(home, folder, target, endpoint=moto.endpoint), 6, 0)
    rerun = publish(home, folder, target, endpoint=moto.endpoint)
    assert assert_published(rerun, 0, 6)["count"] == 6
    assert "Publishing" in rerun.stderr  # the tqdm bar, on stderr only
    changed = folder / "frame_000002.jpg"
    make_image(changed, color=99)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert_published(publish(home, folder, target, endpoint=moto.endpoint), 1, 5)
    versions = versions_per_key(s3, bucket)
    assert versions.pop("frames/frame_000002.jpg") == 2
    assert set(versions.values()) == {1}


def test_lost_manifest_costs_hashing_not_uploads(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 4)
    bucket = new_bucket(s3)
    assert_published(publish(home, folder, f"s3://{bucket}", endpoint=moto.endpoint), 4, 0)
    for manifest in (home / "state" / "publish").iterdir():
        manifest.write_text("{not json")
    # The listing's ETags (MD5s) match the files' bytes: nothing is sent again.
    assert_published(publish(home, folder, f"s3://{bucket}", endpoint=moto.endpoint), 0, 4)


def test_killed_run_rerun_completes_without_uploading_anything_twice(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "many"
    names = make_frames(folder, 200)
    bucket = new_bucket(s3, versioned=True)
    target = f"s3://{bucket}/many"
    env = cli_env(home, **aws_env(), IMAGE_SERVER_STATE_DIR=str(home / "state"))
    command = [sys.executable, str(SCRIPT), "--dir", str(folder), "--publish", target,
               "--endpoint-url", moto.endpoint, "--workers", "1", "--quiet",
               "--output", str(home / "out")]  # fmt: skip
    process = subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:

        def thirty_stored() -> bool:
            assert process.poll() is None, "the run ended before it could be killed"
            return len(stored_keys(s3, bucket)) >= 30

        wait_until(thirty_stored, timeout=30, interval=0.02, message="30 uploaded objects")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    before = len(stored_keys(s3, bucket))
    assert 30 <= before < 200
    document = assert_published(publish(home, folder, target, endpoint=moto.endpoint),
                                uploaded=200 - before, skipped=before)  # fmt: skip
    assert document["count"] == 200
    versions = versions_per_key(s3, bucket)
    assert set(versions) == {f"many/{name}" for name in names}
    assert set(versions.values()) == {1}  # nothing was uploaded twice


def test_variants_are_rendered_locally_and_stored_under_their_tag(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "big"
    make_image(folder / "wide.png", size=(800, 400))
    make_image(folder / "sub/tall.jpg", size=(300, 900), color=3)
    bucket = new_bucket(s3)
    thumb = publish(home, folder, f"s3://{bucket}/v", "--recursive", "--preset", "thumb",
                    "--quiet", endpoint=moto.endpoint)  # fmt: skip
    document = assert_published(thumb, uploaded=2, skipped=0)
    assert document["variant"] == {"preset": "thumb"}
    assert set(stored_keys(s3, bucket)) == {
        "v/thumb/sub/tall.jpg",
        "v/thumb/wide.jpg",
    }  # the preset is JPEG
    for url in document["image_urls"]:
        response = fetch(url)
        assert max(Image.open(io.BytesIO(response.content)).size) == 256
    webp = publish(home, folder, f"s3://{bucket}/v", "--variant", "max=64,format=webp",
                   "--quiet", endpoint=moto.endpoint)  # fmt: skip
    (url,) = assert_published(webp, uploaded=1, skipped=0)["image_urls"]
    assert "/v/max-64_format-webp/wide.webp?" in url
    response = fetch(url)
    assert response.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(response.content)).size == (64, 32)
    # Re-run: the manifest knows the rendered bytes' MD5, nothing is rendered or sent.
    again = publish(home, folder, f"s3://{bucket}/v", "--recursive", "--preset", "thumb",
                    "--quiet", endpoint=moto.endpoint)  # fmt: skip
    assert_published(again, uploaded=0, skipped=2)


def test_public_base_url_hands_out_plain_urls(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "cdn"
    make_image(folder / "a b.jpg")
    bucket = new_bucket(s3)
    base = f"{moto.endpoint}/{bucket}"
    result = publish(home, folder, f"s3://{bucket}/p", "--public-base-url", base + "/",
                     "--name", "cdn-run", "--quiet", endpoint=moto.endpoint)  # fmt: skip
    document = assert_published(result, uploaded=1, skipped=0)
    assert result.output_file == home / "out" / "cdn-run.json"
    assert document["image_urls"] == [f"{base}/p/a%20b.jpg"]
    assert document["publish"]["expires_at"] is None


def test_objects_that_fail_exit_3_and_the_rest_is_still_written(
    tmp_path: Path, home: Path, moto: MotoS3, s3: Any
) -> None:
    folder = tmp_path / "mixed"
    make_frames(folder, 2)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    bucket = new_bucket(s3)
    result = publish(home, folder, f"s3://{bucket}/m", "--preset", "thumb", "--quiet",
                     endpoint=moto.endpoint)  # fmt: skip
    document = assert_published(result, uploaded=2, skipped=0, failed=1)
    assert document["count"] == 2
    assert "1 of 3 objects failed" in result.stderr and "m/thumb/broken.jpg" in result.stderr


@pytest.mark.parametrize(
    ("args", "status", "fragment"),
    [
        (("--publish", "s3://"), 2, "must name a bucket"),
        (("--publish", "https://bucket/prefix"), 2, "must look like s3://BUCKET/PREFIX"),
        (("--publish", "s3://frames/x", "--url-ttl", "604801"), 2, "between 1 and 604800 seconds"),
        (("--publish", "s3://frames/x", "--unload"), 2, "--unload cannot be used with --publish"),
        (("--url-ttl", "60"), 2, "--url-ttl needs --publish"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, home: Path, args: tuple[str, ...], status: int, fragment: str
) -> None:
    folder = tmp_path / "f"
    make_frames(folder, 1)
    env = cli_env(home, **aws_env(), IMAGE_SERVER_STATE_DIR=str(home / "state"))
    result = run_cli("--dir", folder, *args, cwd=home, env=env)
    assert_one_error_line(result, status, fragment)


def test_unknown_bucket_and_unreachable_endpoint_exit_1(
    tmp_path: Path, home: Path, moto: MotoS3
) -> None:
    folder = tmp_path / "f"
    make_frames(folder, 1)
    missing = publish(home, folder, "s3://no-such-bucket/x", "--quiet", endpoint=moto.endpoint)
    assert_one_error_line(missing, 1, "bucket 'no-such-bucket' does not exist")
    with socket_closed_port() as port:
        endpoint = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        unreachable = publish(home, folder, "s3://frames/x", "--quiet", endpoint=endpoint)
        assert time.monotonic() - started < 15
    assert_one_error_line(unreachable, 1, f"cannot reach the S3 endpoint {endpoint}")
    assert not (home / "out").exists()  # nothing was published: no document


@contextmanager
def socket_closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound without listen, so no one else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
