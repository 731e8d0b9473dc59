"""The wheel, installed like a Python tool, outside the checkout (issue 17).

Builds the wheel with `uv build` (as `make wheel` does), checks what it holds, installs it
twice in a temporary folder that is not the checkout (a fresh venv, and `uv tool install`),
then runs the installed `imageserver` for real: `serve` on a free loopback port, `status`,
`load` of a folder of real images, the URLs of its JSON fetched, `unload`, SIGTERM, `status`
again. Settings come from the XDG config file only, and every file the server writes must
land in the XDG state and cache folders. CI runs this (CI=true): there a missing tool fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.environment import leaks
from tests.support.images import make_frames
from tests.support.parts import missing_part
from tests.support.server import PROJECT_ROOT
from tests.support.server import free_port
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(300)]

TOKEN = "packaging-test-token"
COMMAND_TIMEOUT_SECONDS = 120
START_DEADLINE_SECONDS = 30
STOP_DEADLINE_SECONDS = 10  # the unit's TimeoutStopSec; the server needs 5 s at most
VERSION = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]


def uv_binary() -> str:
    """Return the uv executable (installed by requirements-dev.txt), or stop the test."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        missing_part("uv is not installed (make install puts it in .venv)")
    return found


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output as text."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False, **kwargs
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the checkout for the wheel, the installs and the server's files."""
    path = tmp_path_factory.mktemp("packaging")
    assert PROJECT_ROOT not in path.parents
    return path


@pytest.fixture(scope="module")
def wheel(workdir: Path) -> Path:
    """Build the wheel from the checkout, as `make wheel` does."""
    out = workdir / "dist"
    built = run(
        [uv_binary(), "build", "--wheel", "--quiet", "--out-dir", str(out)], cwd=PROJECT_ROOT
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("lightweight_image_server-*.whl")
    return found


@pytest.fixture(scope="module")
def venv_command(workdir: Path, wheel: Path) -> Path:
    """Install the wheel into a fresh venv (uv's wheel cache keeps it fast)."""
    venv = workdir / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = run([uv_binary(), "pip", "install", "--quiet", "--python", str(python), str(wheel)])
    assert installed.returncode == 0, installed.stderr
    return venv / "bin" / "imageserver"


@pytest.fixture(scope="module")
def tool_command(workdir: Path, wheel: Path) -> Path:
    """Install the wheel with `uv tool install`, into folders of its own."""
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(workdir / "uv-tools"),
        "UV_TOOL_BIN_DIR": str(workdir / "uv-bin"),
    }
    argv = [uv_binary(), "tool", "install", "--quiet", "--python", sys.executable, str(wheel)]
    installed = run(argv, env=env, cwd=workdir)
    assert installed.returncode == 0, installed.stderr
    return workdir / "uv-bin" / "imageserver"


def test_the_wheel_holds_the_package_and_its_data_but_no_tests_or_bench(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if n.startswith(("tests/", "bench/", "examples/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    tracked = run(["git", "ls-files", "imageserver"], cwd=PROJECT_ROOT).stdout.split()
    assert tracked and set(tracked) <= names  # every package file: code, templates, static
    assert any(n.startswith("imageserver/gallery/templates/") for n in names)
    assert "imageserver/gallery/static/gallery.js" in names
    assert "imageserver/variants/presets.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "imageserver = imageserver.command:main" in scripts


@dataclass
class Installed:
    """One installed `imageserver` with its own XDG folders, settings file and frames."""

    command: Path
    root: Path
    port: int

    @property
    def env(self) -> dict[str, str]:
        """The environment of every run: XDG folders in tmp, no project settings."""
        env = {k: v for k, v in os.environ.items() if not leaks(k)}
        env.pop("PYTHONPATH", None)
        return {
            **env,
            "HOME": str(self.root / "home"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_STATE_HOME": str(self.root / "state"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `imageserver ARGS` from a folder that is not the checkout."""
        return run([str(self.command), *args], env=self.env, cwd=self.root / "home")


@pytest.fixture(params=["venv", "uv-tool"])
def installed(request: pytest.FixtureRequest, tmp_path: Path) -> Installed:
    """The command of one install, with a settings file in $XDG_CONFIG_HOME/imageserver/env."""
    command = request.getfixturevalue("venv_command" if request.param == "venv" else "tool_command")
    tool = Installed(command, tmp_path, free_port())
    (tmp_path / "home").mkdir()
    settings = tmp_path / "config" / "imageserver" / "env"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        f"IMAGE_SERVER_HOST=127.0.0.1\nIMAGE_SERVER_PORT={tool.port}\n"
        f"IMAGE_SERVER_WORKERS=1\nIMAGE_SERVER_TOKEN={TOKEN}\n"
    )
    return tool


@pytest.fixture
def serving(installed: Installed) -> Iterator[subprocess.Popen[str]]:
    """`imageserver serve`, flags-free (the port comes from the settings file), until stopped."""
    log = (installed.root / "serve.log").open("w")
    process = subprocess.Popen(
        [str(installed.command), "serve"],
        env=installed.env,
        cwd=installed.root / "home",
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(process, installed.port)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_DEADLINE_SECONDS)
        log.close()


def wait_until_healthy(process: subprocess.Popen[str], port: int) -> None:
    """Poll /healthz until it answers, failing when the process exits or the deadline passes."""

    def healthy() -> bool:
        assert process.poll() is None, "imageserver serve exited during start-up"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except OSError:
            return False

    wait_until(healthy, timeout=START_DEADLINE_SECONDS, interval=0.1, message="serve's /healthz")


def test_version_is_the_pyproject_version(installed: Installed):
    result = installed("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imageserver {VERSION}"


def test_installed_command_serves_loads_unloads_and_stops(
    installed: Installed, serving: subprocess.Popen[str], tmp_path: Path
):
    status = installed("status")
    assert (status.returncode, status.stdout.strip()) == (
        0,
        f"running at http://127.0.0.1:{installed.port}",
    )
    frames = tmp_path / "frames"
    names = make_frames(frames, 3)
    server = f"http://127.0.0.1:{installed.port}"
    loaded = installed("load", "--dir", str(frames), "--server", server, "--quiet")
    assert loaded.returncode == 0, loaded.stderr
    document = check_written_in_xdg_state(tmp_path, Path(loaded.stdout.strip()))
    assert document["count"] == 3
    for name, url in zip(sorted(names), document["image_urls"], strict=True):
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == (frames / name).read_bytes()
    with urllib.request.urlopen(
        f"{document['image_urls'][0]}?preset=claude", timeout=10
    ) as response:
        assert response.status == 200
    assert list((tmp_path / "cache" / "imageserver" / "variants").rglob("*.*"))
    check_package_data_is_served(server)
    refused = installed("unload", server, "--token", "wrong")
    assert refused.returncode == 1 and "401" in refused.stderr
    unloaded = installed("unload", "--server", server)  # the token from the settings file
    assert unloaded.returncode == 0, unloaded.stderr
    assert json.loads(unloaded.stdout)["status"] == "success"

    serving.send_signal(signal.SIGTERM)
    assert serving.wait(timeout=STOP_DEADLINE_SECONDS) == 0
    stopped = installed("status")
    assert stopped.returncode == 3, stopped.stdout


def check_package_data_is_served(server: str) -> None:
    """Assert the gallery's template and static file, and the version, come from the wheel."""
    with urllib.request.urlopen(f"{server}/gallery", timeout=10) as page:
        assert page.status == 200 and page.headers.get_content_type() == "text/html"
    static = PROJECT_ROOT / "imageserver" / "gallery" / "static" / "gallery.js"
    with urllib.request.urlopen(f"{server}/gallery/static/gallery.js", timeout=10) as script:
        assert script.read() == static.read_bytes()
    with urllib.request.urlopen(f"{server}/openapi.json", timeout=10) as document:
        version = json.loads(document.read())["info"]["version"]
    assert version == VERSION


def check_written_in_xdg_state(root: Path, output_file: Path) -> dict:
    """Assert the run wrote its JSON and state under $XDG_STATE_HOME; return the JSON."""
    state_home = root / "state" / "imageserver"
    assert output_file.parent == state_home / "json"
    assert (state_home / "state" / "state.sqlite3").is_file()
    assert not (root / "home" / "output").exists()
    return json.loads(output_file.read_text())


# The exit statuses are the same code whichever install runs it: one install is enough.
@pytest.mark.parametrize("installed", ["venv"], indirect=True)
def test_installed_load_and_publish_keep_the_scripts_exit_statuses(installed: Installed):
    nothing_answers = f"http://127.0.0.1:{free_port()}"
    no_server = installed("load", "--dir", str(installed.root), "--server", nothing_answers)
    assert no_server.returncode == 1 and "imageserver serve" in no_server.stderr
    assert installed("load").returncode == 2  # --dir is required
    assert installed("publish", "--dir", str(installed.root)).returncode == 2  # no target
    too_long = installed("publish", "s3://bucket/p", "--dir", ".", "--url-ttl", "604801")
    assert too_long.returncode == 2
    assert installed("unload", "--server", nothing_answers).returncode == 1
    assert installed("status", "--server", nothing_answers).returncode == 3
    assert installed("no-such-command").returncode == 2
