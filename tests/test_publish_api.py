"""The publish API against the real server and moto's S3 server (docs/PUBLISH.md).

`POST /api/directories/<id>/publish` answers 202 with a job; `GET /api/jobs/<job>` shows
it queued, running, then done with URLs that serve the files' bytes. The token applies,
targets must fall under `IMAGE_SERVER_PUBLISH_TARGETS` (unset: 403), and a server killed
mid-job leaves no job `running`: the next start resumes it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import assert_detail
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.s3 import MotoS3
from tests.support.s3 import aws_env
from tests.support.s3 import new_bucket
from tests.support.s3 import versions_per_key
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

TOKEN = "publish-token"
JOB_KEYS = ["job", "state", "total", "uploaded", "skipped", "failed"]
FINISHED = ("done", "failed")


@pytest.fixture
def bucket(s3: Any) -> str:
    return new_bucket(s3, versioned=True)


def server_env(moto: MotoS3, targets: str | None, **extra: str) -> dict[str, str]:
    env = {
        **aws_env(),
        "IMAGE_SERVER_TOKEN": TOKEN,
        "IMAGE_SERVER_PUBLISH_ENDPOINT_URL": moto.endpoint,
        "IMAGE_SERVER_CACHE_MAX_AGE": "90",
        **extra,
    }
    if targets is not None:
        env["IMAGE_SERVER_PUBLISH_TARGETS"] = targets
    return env


class Client:
    """Requests to one server with the bearer token."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def load(self, folder: Path) -> str:
        response = requests.post(self.server.url("/load-directory"), json={"path": str(folder),
                                 "recursive": True}, headers=self.headers, timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def publish(self, dir_id: str, **body: Any) -> requests.Response:
        url = self.server.url(f"/api/directories/{dir_id}/publish")
        return requests.post(url, json=body, headers=self.headers, timeout=10)

    def job(self, job_id: str) -> dict[str, Any]:
        response = requests.get(self.server.url(f"/api/jobs/{job_id}"), headers=self.headers,
                                timeout=10)  # fmt: skip
        assert response.status_code == 200, response.text
        assert list(response.json())[: len(JOB_KEYS)] == JOB_KEYS
        return response.json()

    def wait(self, job_id: str, until: Callable[[dict], bool], seconds: float = 30) -> list[dict]:
        """Poll the job until `until(job)`; return every answer seen."""
        seen: list[dict] = []

        def reached() -> bool:
            seen.append(self.job(job_id))
            return until(seen[-1])

        wait_until(reached, seconds, interval=0.02, message=lambda: f"job state, last {seen[-1]}")
        return seen


def test_job_runs_in_the_background_and_hands_out_urls(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, moto: MotoS3, bucket: str
) -> None:
    folder = tmp_path / "frames"
    names = sorted([*make_frames(folder, 40), "sub/ü b.png"])
    make_image(folder / "sub/ü b.png")
    client = Client(server_factory(env=server_env(moto, f"s3://{bucket}/allowed")))
    dir_id = client.load(folder)
    accepted = client.publish(dir_id, target=f"s3://{bucket}/allowed/run1")
    assert accepted.status_code == 202, accepted.text
    assert list(accepted.json()) == ["job", "status_url"]
    job_id = accepted.json()["job"]
    assert accepted.json()["status_url"] == client.server.url(f"/api/jobs/{job_id}")
    seen = client.wait(job_id, lambda job: job["state"] in FINISHED)
    done = seen[-1]
    assert done["state"] == "done", done
    assert {job["state"] for job in seen} <= {"queued", "running", "done"}
    assert [job["uploaded"] for job in seen] == sorted(job["uploaded"] for job in seen)
    assert (done["total"], done["uploaded"], done["skipped"], done["failed"]) == (41, 41, 0, 0)
    assert len(done["image_urls"]) == 41 and done["expires_at"]
    for name, url in zip(names, done["image_urls"], strict=True):
        response = requests.get(url, timeout=10)
        assert response.content == (folder / name).read_bytes()
        assert response.headers["Content-Type"].startswith("image/")
        assert response.headers["Cache-Control"] == "public, max-age=90"
    # The same publish again: the server's manifest and the listing agree, nothing is sent.
    again = client.publish(dir_id, target=f"s3://{bucket}/allowed/run1").json()["job"]
    rerun = client.wait(again, lambda job: job["state"] in FINISHED)[-1]
    assert (rerun["state"], rerun["uploaded"], rerun["skipped"]) == ("done", 0, 41)


def test_publish_refusals(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, moto: MotoS3, bucket: str
) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 2)
    client = Client(server_factory(env=server_env(moto, f"s3://{bucket}/allowed")))
    dir_id = client.load(folder)
    url = client.server.url(f"/api/directories/{dir_id}/publish")
    body = {"target": f"s3://{bucket}/allowed/x"}
    assert_detail(requests.post(url, json=body, timeout=10), 401, "Not authenticated")
    assert_detail(requests.get(client.server.url("/api/jobs/x"), timeout=10), 401,
                  "Not authenticated")  # fmt: skip
    for outside in (f"s3://{bucket}/allowedx", f"s3://{bucket}", "s3://other-bucket/allowed"):
        response = client.publish(dir_id, target=outside)
        assert_detail(response, 403, f"Target not allowed: {outside}")
    assert_detail(client.publish("unknown-id", **body), 404, "Directory not found: unknown-id")
    for bad in ({}, {"target": "http://x"}, {**body, "url_ttl": 604801}):
        response = client.publish(dir_id, **bad)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][0] == "body"
    missing = requests.get(client.server.url("/api/jobs/nope"), headers=client.headers, timeout=10)
    assert_detail(missing, 404, "Job not found: nope")


def test_job_publishes_a_preset_with_public_urls(
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
    moto: MotoS3,
    s3: Any,
    bucket: str,
) -> None:
    folder = tmp_path / "frames"
    make_image(folder / "wide.png", size=(600, 300))
    client = Client(server_factory(env=server_env(moto, f"s3://{bucket}")))
    base = f"{moto.endpoint}/{bucket}"
    job_id = client.publish(client.load(folder), target=f"s3://{bucket}/cdn", preset="thumb",
                            public_base_url=base).json()["job"]  # fmt: skip
    done = client.wait(job_id, lambda job: job["state"] in FINISHED)[-1]
    assert done["state"] == "done", done
    assert done["image_urls"] == [f"{base}/cdn/thumb/wide.jpg"] and done["expires_at"] is None
    stored = s3.head_object(Bucket=bucket, Key="cdn/thumb/wide.jpg")
    assert stored["ContentType"] == "image/jpeg"


def test_publish_api_is_403_without_allowed_targets(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, moto: MotoS3, bucket: str
) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 1)
    client = Client(server_factory(env=server_env(moto, None)))
    response = client.publish(client.load(folder), target=f"s3://{bucket}/any")
    assert_detail(response, 403, "Publishing is disabled (IMAGE_SERVER_PUBLISH_TARGETS is unset)")


def test_unknown_bucket_fails_the_job_with_a_detail(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, moto: MotoS3
) -> None:
    folder = tmp_path / "frames"
    make_frames(folder, 1)
    client = Client(server_factory(env=server_env(moto, "s3://no-such-bucket")))
    job_id = client.publish(client.load(folder), target="s3://no-such-bucket/x").json()["job"]
    failed = client.wait(job_id, lambda job: job["state"] in FINISHED)[-1]
    assert failed["state"] == "failed"
    assert "bucket 'no-such-bucket' does not exist" in failed["detail"]
    assert "image_urls" not in failed


def test_server_killed_mid_job_resumes_it_at_restart(
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
    moto: MotoS3,
    s3: Any,
    bucket: str,
) -> None:
    folder = tmp_path / "many"
    make_frames(folder, 150)
    state = tmp_path / "state"
    # One upload at a time, so the job is surely mid-way when the server dies.
    env = server_env(moto, f"s3://{bucket}", IMAGE_SERVER_PUBLISH_WORKERS="1")
    first = Client(server_factory(state_dir=state, env=env))
    job_id = first.publish(first.load(folder), target=f"s3://{bucket}/many").json()["job"]
    mid = first.wait(job_id, lambda job: job["uploaded"] >= 15)[-1]
    assert (mid["state"], mid["total"]) == ("running", 150) and mid["uploaded"] < 150  # progress
    first.server.kill9()
    second = Client(server_factory(state_dir=state, env=env))
    seen = second.wait(job_id, lambda job: job["state"] in FINISHED)
    done = seen[-1]
    assert done["state"] == "done", done
    assert done["attempts"] == 2 and "resumed" in done["detail"]
    assert done["uploaded"] + done["skipped"] == 150 and done["skipped"] >= 15
    assert len(done["image_urls"]) == 150
    versions = versions_per_key(s3, bucket)
    assert len(versions) == 150 and set(versions.values()) == {1}  # nothing uploaded twice


def test_a_job_whose_target_is_no_longer_allowed_is_not_resumed(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, moto: MotoS3, s3: Any
) -> None:
    # IMAGE_SERVER_PUBLISH_TARGETS narrowed while the server was down (issue 21).
    bucket = new_bucket(s3, versioned=True)
    folder = tmp_path / "many"
    make_frames(folder, 150)
    state = tmp_path / "state"
    env = server_env(moto, f"s3://{bucket}", IMAGE_SERVER_PUBLISH_WORKERS="1")
    first = Client(server_factory(state_dir=state, env=env))
    job_id = first.publish(first.load(folder), target=f"s3://{bucket}/many").json()["job"]
    first.wait(job_id, lambda job: job["uploaded"] >= 5)
    first.server.kill9()
    uploaded_before = sum(1 for _ in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    narrowed = server_env(moto, f"s3://{bucket}/elsewhere", IMAGE_SERVER_PUBLISH_WORKERS="1")
    second = Client(server_factory(state_dir=state, env=narrowed))
    done = second.wait(job_id, lambda job: job["state"] in FINISHED)[-1]

    assert done["state"] == "failed", done
    assert "not allowed" in done["detail"] and "IMAGE_SERVER_PUBLISH_TARGETS" in done["detail"]
    after = sum(1 for _ in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert after == uploaded_before  # nothing more was published
