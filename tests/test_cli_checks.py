"""The loader's HTTP behaviour, observed on a fake server that records every request.

The fake (tests/support/fake_server.py) pages its listing 3 images at a time and can make
chosen images answer 404, 500 or a few 503s, so these tests see the exact request sequence,
that checks are HEADs without the token, the bound on concurrent checks, the batches, the
retries and exit status 3.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import CliResult
from tests.support.cli import run_cli
from tests.support.fake_server import DIR_ID
from tests.support.fake_server import FakeImageServer
from tests.support.fake_server import FakeState

NAMES = [f"img_{i:03d}.jpg" for i in range(24)]
LISTING = f"/api/directories/{DIR_ID}/images"


@pytest.fixture
def fake() -> Iterator[FakeImageServer]:
    server = FakeImageServer(FakeState(names=list(NAMES))).start()
    yield server
    server.stop()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "frames"
    path.mkdir()
    return path


@pytest.fixture
def cli(fake: FakeImageServer, folder: Path, tmp_path: Path) -> Callable[..., CliResult]:
    def invoke(*args: str) -> CliResult:
        base = ["--dir", folder, "--server", fake.base_url, "--output", tmp_path / "out"]
        return run_cli(*base, *args, cwd=tmp_path)

    return invoke


def test_http_sequence_follows_the_contract(cli, fake, folder):
    result = cli("--unload-first", "--timeout", "7", "--unload", "--quiet")
    assert result.returncode == 0, result.stderr
    pages = [f"{LISTING}?offset={n}&limit=" for n in range(0, len(NAMES), 3)]
    control = fake.state.control()
    assert control[:5] == [
        ("GET", "/healthz"),
        ("POST", "/unload"),
        ("GET", "/"),
        ("POST", "/timeout/7"),
        ("POST", "/load-directory"),
    ]
    listing = [path for _, path in control[5 : 5 + len(pages)]]
    assert [path.rsplit("=", 1)[0] + "=" for path in listing] == pages
    assert control[5 + len(pages) :] == [
        ("GET", f"/api/directories/{DIR_ID}"),
        ("GET", "/"),  # the timer keys, from GET / as the first version took them
        ("GET", "/api/directories"),
        ("POST", "/unload"),
    ]
    assert fake.state.load_bodies == [{"path": str(folder), "timeout_minutes": 7}]


def test_checks_are_head_requests_of_every_listed_url(cli, fake):
    result = cli("--quiet")
    assert result.returncode == 0, result.stderr
    images = [(m, p) for m, p in fake.state.requests if p.startswith("/d/")]
    assert sorted(images) == [("HEAD", f"/d/{DIR_ID}/{name}") for name in NAMES]
    assert result.document()["image_urls"] == [f"{fake.base_url}/d/{DIR_ID}/{n}" for n in NAMES]


def test_no_verify_sends_no_check(cli, fake):
    result = cli("--no-verify", "--quiet")
    assert result.returncode == 0
    assert not [p for _, p in fake.state.requests if p.startswith("/d/")]
    assert result.document()["verified"] is False


def test_failed_checks_exit_3_and_the_file_is_still_written(cli, fake):
    fake.state.missing = {NAMES[2], NAMES[5]}
    result = cli("--quiet")
    assert result.returncode == 3
    document = result.document()
    assert document["count"] == len(NAMES)
    failed = [f"{fake.base_url}/d/{DIR_ID}/{NAMES[i]}" for i in (2, 5)]
    assert document["failed"] == failed
    assert "2 of 24 URLs failed their check" in result.stderr
    assert all(f"HTTP 404: {url}" in result.stderr for url in failed)


def test_5xx_is_retried_with_backoff(cli, fake):
    fake.state.flaky = {NAMES[0]: 2}
    fake.state.broken = {NAMES[1]}
    result = cli("--quiet")
    assert result.returncode == 3
    heads = [p.rsplit("/", 1)[1] for m, p in fake.state.requests if m == "HEAD"]
    assert heads.count(NAMES[0]) == 3  # two 503s, then 200
    assert heads.count(NAMES[1]) == 3  # 500 every time: given up after 3 attempts
    assert result.document()["failed"] == [f"{fake.base_url}/d/{DIR_ID}/{NAMES[1]}"]
    assert "HTTP 500 after 3 attempts" in result.stderr


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_workers_bound_the_checks_in_flight(cli, fake, workers):
    fake.state.head_delay = 0.08
    result = cli("--workers", str(workers), "--batch-size", "100", "--quiet")
    assert result.returncode == 0, result.stderr
    assert fake.state.max_in_flight == workers


def test_batches_finish_before_the_next_starts(cli, fake):
    result = cli("--workers", "8", "--batch-size", "5", "--quiet")
    assert result.returncode == 0, result.stderr
    spans = {span.name: span for span in fake.state.head_spans}
    batches = [NAMES[i : i + 5] for i in range(0, len(NAMES), 5)]
    for earlier, later in zip(batches, batches[1:], strict=False):
        assert max(spans[n].end for n in earlier) <= min(spans[n].start for n in later)
    assert fake.state.max_in_flight <= 5


def test_token_goes_to_control_calls_but_not_to_image_checks(cli, fake):
    fake.state.token = "t0ken"
    assert cli("--quiet").returncode == 1
    result = cli("--token", "t0ken", "--quiet")
    assert result.returncode == 0, result.stderr
    assert fake.state.head_auth and set(fake.state.head_auth) == {None}


def test_already_current_skips_the_load_and_finds_the_id(cli, fake, folder):
    fake.state.current = str(folder)
    result = cli("--quiet")
    assert result.returncode == 0, result.stderr
    assert ("POST", "/load-directory") not in fake.state.requests
    assert result.document()["id"] == DIR_ID
    assert cli("--force-reload", "--quiet").returncode == 0
    assert ("POST", "/load-directory") in fake.state.requests


def test_progress_bar_counts_images_on_stderr(cli, fake):
    result = cli()
    assert result.returncode == 0, result.stderr
    assert f"{len(NAMES)}/{len(NAMES)}" in result.stderr
    assert "img/s" in result.stderr
    assert result.stdout.strip() == str(result.output_file)


def test_quiet_hides_the_progress_bar(cli, fake):
    result = cli("--quiet")
    assert result.returncode == 0
    assert result.stderr == ""
