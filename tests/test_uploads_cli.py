"""`imageserver upload FILE...` (docs/CLI.md#imageserver-upload) against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.cli import cli_env
from tests.support.uploads import TOKEN
from tests.support.uploads import image_bytes


def run_upload(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imageserver", "upload", *args],
        cwd=Path(__file__).resolve().parents[1],
        env=cli_env(cwd),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_upload_prints_urls_json_and_meaningful_exit_statuses(server_factory, tmp_path):
    server = server_factory(env={"IMAGE_SERVER_TOKEN": TOKEN})
    (tmp_path / "a.png").write_bytes(image_bytes("PNG", color=1))
    (tmp_path / "b.jpg").write_bytes(image_bytes("JPEG", color=2))
    (tmp_path / "notes.png").write_text("not an image")
    common = ["--server", server.base_url, "--token", TOKEN]
    files = [str(tmp_path / name) for name in ("a.png", "b.jpg")]

    done = run_upload(*files, *common, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    urls = done.stdout.split()
    assert [url.rsplit("/", 1)[1] for url in urls] == ["a.png", "b.jpg"]
    assert requests.get(urls[1], timeout=10).content == (tmp_path / "b.jpg").read_bytes()

    as_json = run_upload(files[0], "--json", "--inbox", "other", *common, cwd=tmp_path)
    answer = json.loads(as_json.stdout)
    assert answer["id"].startswith("other-") and answer["images"][0]["name"] == "a.png"

    some = run_upload(files[0], str(tmp_path / "notes.png"), *common, cwd=tmp_path)
    assert some.returncode == 3 and "notes.png: HTTP 415" in some.stderr
    assert len(some.stdout.split()) == 1

    wrong = run_upload(files[0], "--server", server.base_url, "--token", "no", cwd=tmp_path)
    assert wrong.returncode == 1 and "401" in wrong.stderr
    missing = run_upload(str(tmp_path / "none.png"), *common, cwd=tmp_path)
    assert missing.returncode == 2
