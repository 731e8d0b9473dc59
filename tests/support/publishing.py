"""Running the CLI's publish (`load_folder_v2.py --publish`) and checking what it printed."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.cli import CliResult
from tests.support.cli import cli_env
from tests.support.cli import run_cli
from tests.support.s3 import SECRET_KEY
from tests.support.s3 import aws_env

CACHE_MAX_AGE = "120"


def publish(
    home: Path,
    folder: Path,
    target: str,
    *args: str,
    endpoint: str | None,
    secret: str = SECRET_KEY,
) -> CliResult:
    """Run the CLI's publish of `folder` to `target` with a clean environment."""
    endpoint_args = ("--endpoint-url", endpoint) if endpoint else ()
    env = cli_env(
        home,
        **aws_env(secret=secret),
        IMAGE_SERVER_STATE_DIR=str(home / "state"),
        IMAGE_SERVER_CACHE_MAX_AGE=CACHE_MAX_AGE,
    )
    return run_cli(
        "--dir", folder, "--publish", target, *endpoint_args, "--output", home / "out", *args,
        cwd=home, env=env,
    )  # fmt: skip


def assert_published(result: CliResult, uploaded: int, skipped: int, failed: int = 0) -> dict:
    """Assert the exit status and the `publish` counts; return the document."""
    assert result.returncode == (3 if failed else 0), result.stderr
    document = result.document()
    counts = {k: document["publish"][k] for k in ("uploaded", "skipped", "failed")}
    assert counts == {"uploaded": uploaded, "skipped": skipped, "failed": failed}
    return document


def assert_one_error_line(result: CliResult, status: int, fragment: str) -> None:
    """Assert the exit status and a one-line `error:` ending with `fragment`, no traceback."""
    assert result.returncode == status, (result.returncode, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("load_folder_v2.py: error: "), result.stderr
    assert fragment in last, result.stderr
    assert "Traceback" not in result.stderr


def fetch(url: str) -> requests.Response:
    """GET a published URL, asserting a 200."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return response
