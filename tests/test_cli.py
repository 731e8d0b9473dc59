"""`load_folder_v2.py` against the real server (docs/CLI.md), run as a subprocess.

Each test runs the script from a temporary working directory with HOME pointed at a temporary
folder and no `.env`, writes into `tmp_path`, and checks the JSON file, the exit status and
the server's state afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests

from tests.support.cli import PROJECT_ROOT
from tests.support.cli import CliResult
from tests.support.cli import cli_env
from tests.support.cli import run_cli
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.server import ServerProcess
from tests.support.server import free_port
from tests.support.waiting import WaitTimeout
from tests.support.waiting import wait_until

PINNED_KEYS = ["success", "directory", "timestamp", "message", "count", "image_urls"]
TIMER_KEYS = ["timeout_minutes", "auto_unload_at", "time_remaining"]
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def cli(api, home: Path, out: Path) -> Callable[..., CliResult]:
    """Run the CLI against the shared server, writing into `out`, from `home` as cwd."""

    def invoke(*args: str | Path, env: dict[str, str] | None = None, cwd: Path = home):
        return run_cli(
            "--server", api.base_url, "--output", out, *args, cwd=cwd, env=env or cli_env(home)
        )

    return invoke


def assert_ok(result: CliResult) -> dict:
    assert result.returncode == 0, result.stderr
    return result.document()


def test_success_writes_the_contract_document(cli, api, frames, out):
    make_image(frames / "with space.png")
    make_image(frames / "é.jpg")
    result = cli("--dir", frames)
    document = assert_ok(result)

    assert re.fullmatch(r"frames_\d{8}_\d{6}\.json", result.output_file.name)
    assert result.output_file.parent == out
    assert list(document)[:6] == PINNED_KEYS
    assert not set(TIMER_KEYS) & set(document)  # no timeout: the timer keys are absent
    assert document["success"] is True
    assert document["directory"] == str(frames)
    assert TIMESTAMP.match(document["timestamp"])
    assert document["count"] == 7
    assert document["message"] == "Generated URLs for 7 images"
    listing = api.get(f"/api/directories/{document['id']}/images").json()["images"]
    assert document["image_urls"] == [image["url"] for image in listing]
    names = [unquote(url.rsplit("/", 1)[1]) for url in document["image_urls"]]
    assert names == sorted(names)
    assert f"/d/{document['id']}/with%20space.png" in "\n".join(document["image_urls"])
    for url in document["image_urls"]:
        assert requests.get(url, timeout=10).status_code == 200
    assert document["failed"] == []


def test_file_is_indented_with_two_spaces_and_latest_matches(cli, frames, out):
    result = cli("--dir", frames)
    text = result.output_file.read_text()
    assert text.startswith('{\n  "success": true,\n  "directory": ')
    assert text == json.dumps(json.loads(text), indent=2)
    assert (out / "frames_latest.json").read_text() == text
    assert result.stdout.strip() == str(result.output_file)


def test_a_server_default_timeout_gives_all_three_timer_keys(cli, api, frames):
    # No --timeout: the deadline comes from the server's default; the keys come from GET /.
    api.post("/timeout/15")
    document = assert_ok(cli("--dir", frames))
    assert list(document)[:9] == PINNED_KEYS + TIMER_KEYS
    assert document["timeout_minutes"] == 15
    assert document["auto_unload_at"] == api.get("/").json()["auto_unload_at"]
    assert re.fullmatch(r"(14m \d+s|15m 0s)", document["time_remaining"])


def test_name_names_the_file_and_latest_still_follows(cli, frames, out):
    result = cli("--dir", frames, "--name", "run-42")
    assert_ok(result)
    assert result.output_file == out / "run-42.json"
    assert (out / "frames_latest.json").read_text() == result.output_file.read_text()


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "/tmp/abs", "a\\b"])
def test_name_cannot_escape_the_output_directory(cli, frames, tmp_path, name):
    result = cli("--dir", frames, "--name", name)
    assert result.returncode == 2
    assert "--name" in result.stderr
    assert not list(tmp_path.rglob("*.json"))


def test_timeout_adds_the_timer_keys(cli, api, frames):
    document = assert_ok(cli("--dir", frames, "--timeout", "30"))
    assert list(document)[:9] == PINNED_KEYS + TIMER_KEYS
    assert document["timeout_minutes"] == 30
    assert TIMESTAMP.match(document["auto_unload_at"])
    assert re.fullmatch(r"(29m \d+s|30m 0s)", document["time_remaining"])
    assert api.get("/timeout").json() == {"timeout_minutes": 30, "timeout_enabled": True}
    assert api.get("/").json()["timeout_minutes"] == 30


def test_current_directory_is_not_reloaded_unless_forced(cli, frames):
    assert assert_ok(cli("--dir", frames))["count"] == 5
    make_image(frames / "late.jpg")
    skipped = cli("--dir", frames)
    assert assert_ok(skipped)["count"] == 5  # the index of the first load
    assert "already loaded" in skipped.stderr
    assert assert_ok(cli("--dir", frames, "--force-reload"))["count"] == 6


def test_unload_leaves_nothing_current(cli, api, frames):
    document = assert_ok(cli("--dir", frames, "--unload"))
    assert document["count"] == 5
    assert api.get("/").json()["current_directory"] is None
    assert api.get("/api/directories").json()["directories"] == []


def test_unload_first_unloads_the_previous_current(cli, api, frames, tmp_path):
    other = tmp_path / "other"
    make_frames(other, 2)
    previous = api.load(other)["id"]
    document = assert_ok(cli("--dir", frames, "--unload-first"))
    loaded = [d["id"] for d in api.get("/api/directories").json()["directories"]]
    assert loaded == [document["id"]]
    assert previous not in loaded


def test_recursive_includes_sub_folders(cli, frames):
    make_image(frames / "sub" / "deep.jpg")
    flat = assert_ok(cli("--dir", frames))
    assert not any("/sub/" in url for url in flat["image_urls"])
    nested = assert_ok(cli("--dir", frames, "--recursive"))
    assert nested["count"] == 6
    assert nested["image_urls"][-1].endswith(f"/d/{nested['id']}/sub/deep.jpg")


def test_dimensions_lists_each_image_with_its_pixel_size(cli, frames):
    make_image(frames / "sub" / "wide.png", size=(640, 120))
    (frames / "sub" / "broken.jpg").write_bytes(b"not a jpeg")

    document = assert_ok(cli("--dir", frames, "--recursive", "--dimensions"))

    images = document["images"]
    assert list(document).index("images") > list(document).index("image_urls")
    assert [image["url"] for image in images] == document["image_urls"]
    by_name = {image["name"]: image for image in images}
    assert list(by_name["sub/wide.png"]) == ["name", "url", "size", "width", "height"]
    assert (by_name["sub/wide.png"]["width"], by_name["sub/wide.png"]["height"]) == (640, 120)
    assert by_name["sub/wide.png"]["size"] == (frames / "sub" / "wide.png").stat().st_size
    assert (by_name["frame_000000.jpg"]["width"], by_name["frame_000000.jpg"]["height"]) == (
        32,
        24,
    )
    assert by_name["sub/broken.jpg"]["width"] is None  # unreadable: no size, no failure


def test_without_dimensions_there_is_no_images_list(cli, frames):
    assert "images" not in assert_ok(cli("--dir", frames))


def test_missing_directory_exits_1_with_the_servers_detail(cli, tmp_path, out):
    missing = tmp_path / "nope"
    result = cli("--dir", missing)
    assert result.returncode == 1
    assert f"Directory not found: {missing}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not out.exists()


def test_relative_dir_is_tried_under_frame_base_dir_first(cli, frames, home, tmp_path):
    (home / "frames").mkdir()  # a same-named folder in the cwd loses to FRAME_BASE_DIR's
    env = cli_env(home, FRAME_BASE_DIR=str(tmp_path))
    assert assert_ok(cli("--dir", "frames", env=env))["directory"] == str(frames)


def test_relative_dir_falls_back_to_the_cwd(cli, frames, tmp_path):
    env = cli_env(tmp_path, FRAME_BASE_DIR=str(tmp_path / "elsewhere"))
    assert assert_ok(cli("--dir", "frames", env=env, cwd=tmp_path))["directory"] == str(frames)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--dir", "x", "--workers", "0"],
        ["--dir", "x", "--batch-size", "many"],
        ["--dir", "x", "--timeout", "-1"],
        ["--dir", "x", "--server", "ftp://localhost:21"],
        ["--dir", "x", "--verbose", "--quiet"],
        ["--dir", "x", "--no-such-flag"],
    ],
)
def test_usage_errors_exit_2(home, args):
    result = run_cli(*args, cwd=home)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_token_is_sent_as_bearer(server_factory, frames, home, out):
    server = server_factory(env={"IMAGE_SERVER_TOKEN": "s3cret"})
    base = ["--dir", frames, "--server", server.base_url, "--output", out, "--quiet"]
    refused = run_cli(*base, cwd=home)
    assert refused.returncode == 1
    assert "Not authenticated" in refused.stderr
    assert run_cli(*base, "--token", "s3cret", cwd=home).returncode == 0
    from_env = run_cli(*base, cwd=home, env=cli_env(home, IMAGE_SERVER_TOKEN="s3cret"))
    assert from_env.returncode == 0


def test_signed_public_urls_are_written_and_checked(frames, home, out, tmp_path):
    server = ServerProcess(tmp_path / "state", env={"IMAGE_SERVER_SIGNING_KEY": "k" * 32})
    public = f"http://localhost:{server.port}"  # another name for the same server
    server.env["IMAGE_SERVER_PUBLIC_URL"] = public
    server.start()
    try:
        result = run_cli("--dir", frames, "--server", server.base_url, "--output", out, cwd=home)
    finally:
        server.stop()
    document = assert_ok(result)
    assert all(url.startswith(f"{public}/d/") for url in document["image_urls"])
    assert all("?exp=" in url and "&sig=" in url for url in document["image_urls"])
    assert document["url_prefix"] == f"{public}/d/{document['id']}/"


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_server_down_and_start_failing_exits_1(frames, home, out, tmp_path):
    port = free_port()
    calls = tmp_path / "calls"
    failing = _script(tmp_path / "start.sh", f'echo "$@" > "{calls}"\nexit 7\n')
    result = run_cli(
        "--dir", frames, "--server", f"http://127.0.0.1:{port}", "--output", out,
        "--start-command", f"bash {failing}", cwd=home,
    )  # fmt: skip
    assert result.returncode == 1
    assert "could not start the server" in result.stderr
    assert calls.read_text().split() == ["start", str(port)]
    assert not out.exists()


def test_server_down_on_this_machine_is_started(frames, home, out, tmp_path):
    port = free_port()
    pid_file = tmp_path / "server.pid"
    starter = _script(
        tmp_path / "start.sh",
        f'IMAGE_SERVER_PORT="$2" IMAGE_SERVER_HOST=127.0.0.1 IMAGE_SERVER_WORKERS=1 \\\n'
        f'IMAGE_SERVER_STATE_DIR="{tmp_path / "state"}" \\\n'
        f'  setsid "{sys.executable}" "{PROJECT_ROOT / "server.py"}" '
        f'> "{tmp_path / "server.log"}" 2>&1 &\necho $! > "{pid_file}"\n',
    )
    try:
        result = run_cli(
            "--dir", frames, "--server", f"http://localhost:{port}", "--output", out,
            "--start-command", f"bash {starter}", cwd=home,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.document()["count"] == 5
        assert result.document()["image_urls"][0].startswith(f"http://localhost:{port}/d/")
    finally:
        if pid_file.exists():
            _stop_group(int(pid_file.read_text()))


def _stop_group(pid: int) -> None:
    """Stop the server the fake start script launched (its own session) and wait for it."""
    os.killpg(pid, signal.SIGTERM)

    def group_gone() -> bool:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        return False

    try:
        wait_until(group_gone, timeout=10, message=f"process group {pid} to exit")
    except WaitTimeout:
        os.killpg(pid, signal.SIGKILL)


def test_default_start_command_is_persistent_run_sh(frames, home, out, tmp_path):
    port = free_port()
    env = cli_env(
        home,
        IMAGE_SERVER_RUN_DIR=str(tmp_path / "run"),
        IMAGE_SERVER_STATE_DIR=str(tmp_path / "state"),
        IMAGE_SERVER_HOST="127.0.0.1",
    )
    script = ["bash", str(PROJECT_ROOT / "persistent_run.sh")]
    try:
        result = run_cli(
            "--dir", frames, "--server", f"http://127.0.0.1:{port}", "--output", out,
            "--quiet", cwd=home, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.document()["count"] == 5
        status = subprocess.run([*script, "status", str(port)], env=env, check=False)
        assert status.returncode == 0
    finally:
        subprocess.run([*script, "stop", str(port)], env=env, capture_output=True, check=False)
