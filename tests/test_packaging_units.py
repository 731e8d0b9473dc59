"""The fast parts of issue 17: dependencies, places, the command, the systemd units.

The slow half (the wheel built and installed outside the checkout) is test_packaging.py.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from imageserver.cli.command import main as imageserver
from imageserver.cli.command import publish_argv
from imageserver.cli.control import probe_host
from imageserver.settings.places import Places
from imageserver.settings.places import is_checkout
from imageserver.settings.version import package_version
from tests.support.environment import clean_env
from tests.support.parts import require_binary
from tests.support.server import PROJECT_ROOT
from tests.support.server import free_port

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
UNITS = sorted((PROJECT_ROOT / "deploy").glob("*.service"))


def requirement_lines(path: Path) -> list[str]:
    """Return the requirement lines of a requirements file (no comments, no -r lines)."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def test_requirements_txt_lists_exactly_the_pyproject_dependencies():
    # pyproject.toml is the source of truth (README, "Installing"); requirements.txt follows.
    listed = requirement_lines(PROJECT_ROOT / "requirements.txt")
    assert sorted(listed) == sorted(PYPROJECT["project"]["dependencies"])


def test_the_declared_console_command_runs_the_cli(capsys: pytest.CaptureFixture[str]):
    # What `pip install` turns into the `imageserver` command: the entry point must import and
    # behave as the CLI (the build backend is exercised by the wheel build of test_packaging).
    (name, target), *others = PYPROJECT["project"]["scripts"].items()
    assert (name, others) == ("imageserver", [])
    module, _, attribute = target.partition(":")
    entry_point = getattr(importlib.import_module(module), attribute)
    assert entry_point(["--version"]) == 0
    assert capsys.readouterr().out == f"imageserver {package_version()}\n"
    assert entry_point(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_the_checkout_is_a_checkout_and_site_packages_is_not(tmp_path: Path):
    assert is_checkout(PROJECT_ROOT)
    (tmp_path / "imageserver").mkdir()
    assert not is_checkout(tmp_path)
    (tmp_path / "pyproject.toml").touch()
    assert not is_checkout(tmp_path)  # server.py is missing too


def test_a_checkout_keeps_everything_under_output():
    places = Places.find({"XDG_STATE_HOME": "/elsewhere"}, PROJECT_ROOT)
    assert places.state_path("", "state") == str(PROJECT_ROOT / "output" / "state")
    assert places.state_path("output/state", "state") == str(PROJECT_ROOT / "output" / "state")
    assert places.cache_path("", "variants") == str(PROJECT_ROOT / "output" / "variants")
    assert places.json_dir == PROJECT_ROOT / "output" / "json"
    assert places.env_file == PROJECT_ROOT / ".env"


def test_an_installed_copy_uses_the_xdg_folders(tmp_path: Path):
    environ = {"XDG_STATE_HOME": "/s", "XDG_CACHE_HOME": "/c", "XDG_CONFIG_HOME": "/e"}
    places = Places.find(environ, tmp_path)
    assert places.state_path("", "state") == "/s/imageserver/state"
    assert places.state_path("db", "state") == "/s/imageserver/db"
    assert places.state_path("/abs/db", "state") == "/abs/db"
    assert places.cache_path("", "variants") == "/c/imageserver/variants"
    assert places.json_dir == Path("/s/imageserver/json")
    assert places.env_file == Path("/e/imageserver/env")


def test_unset_or_relative_xdg_variables_mean_the_defaults(tmp_path: Path):
    home = Path.home()
    places = Places.find({"XDG_STATE_HOME": "relative/state"}, tmp_path)
    assert places.state_home == home / ".local" / "state" / "imageserver"
    assert places.cache_home == home / ".cache" / "imageserver"
    assert places.env_file == home / ".config" / "imageserver" / "env"


def test_the_xdg_defaults_follow_home(tmp_path: Path):
    places = Places.find({"HOME": "/home/someone"}, tmp_path)
    assert places.state_home == Path("/home/someone/.local/state/imageserver")
    assert places.cache_home == Path("/home/someone/.cache/imageserver")


def test_version_is_the_pyproject_version(capsys: pytest.CaptureFixture[str]):
    assert package_version() == PYPROJECT["project"]["version"]
    assert imageserver(["--version"]) == 0
    assert capsys.readouterr().out == f"imageserver {package_version()}\n"


def test_no_or_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    assert imageserver([]) == 2
    assert imageserver(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert imageserver(["--help"]) == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["s3://b/p", "--dir", "d"], ["--publish", "s3://b/p", "--dir", "d"]),
        (["--dir", "d", "--publish", "s3://b/p"], ["--dir", "d", "--publish", "s3://b/p"]),
        (["--dir", "d", "--publish=s3://b/p"], ["--dir", "d", "--publish=s3://b/p"]),
        (["--dir", "d"], None),
    ],
)
def test_publish_is_load_with_publish(argv: list[str], expected: list[str] | None):
    assert publish_argv(argv) == expected


@pytest.mark.parametrize(
    ("host", "probe"),
    [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("::", "127.0.0.1"), ("::1", "[::1]")],
)
def test_status_probes_the_address_persistent_run_sh_probes(host: str, probe: str):
    assert probe_host(host) == probe


def unload_argvs(*args: str) -> tuple[list[str], list[str]]:
    """Return `imageserver unload ARGS` and `./unload_directory.sh ARGS`."""
    return (
        [sys.executable, "-m", "imageserver.cli.command", "unload", *args],
        [str(PROJECT_ROOT / "unload_directory.sh"), *args],
    )


def test_unload_answers_as_unload_directory_sh(api, frames: Path):
    env = clean_env()
    url = api.server.base_url
    for args in ([url], ["--server", url], ["--server", url, "--id", "no-such-id"]):
        answers = []
        for argv in unload_argvs(*args):
            api.load(frames)
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
            answers.append((done.returncode, done.stdout))
        assert answers[0] == answers[1], args
    assert answers[0][0] == 1 and "Directory not found" in answers[0][1]


def test_unload_and_status_when_nothing_answers(capsys: pytest.CaptureFixture[str]):
    server = f"http://127.0.0.1:{free_port()}"
    assert imageserver(["unload", "--server", server]) == 1
    assert imageserver(["unload", "--server", server, "--id", ""]) == 2
    assert imageserver(["unload", "--bogus"]) == 2
    assert imageserver(["status", "--server", server]) == 3
    assert capsys.readouterr().out.strip().endswith(f"not running at {server}")


def directives(unit: Path) -> dict[str, str]:
    """Return a unit's `Key=value` lines (the last one of each key wins, as in systemd)."""
    pairs = re.findall(r"^([A-Za-z]+)=(.*)$", unit.read_text(), flags=re.MULTILINE)
    return dict(pairs)


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_units_restart_on_failure_and_are_hardened(unit: Path):
    found = directives(unit)
    assert found["ExecStart"].endswith("/imageserver serve")
    assert found["Restart"] == "on-failure"
    assert found["EnvironmentFile"].startswith("-")
    assert found["KillSignal"] == "SIGTERM"
    # Longer than the 5 s shutdown (docs/API.md#timers), so SIGKILL never cuts it short.
    assert 5 < int(found["TimeoutStopSec"].removesuffix("s")) <= 30
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
    }.items():
        assert found[key] == value, key
    assert "%S/imageserver" in found["ReadWritePaths"]
    assert "XDG_STATE_HOME=%S" in found["Environment"]


def test_systemd_analyze_verify_is_clean(tmp_path: Path):
    analyze = require_binary("systemd-analyze", "apt-get install -y systemd; .ci/run does")
    # verify insists that ExecStart exists: point it at a stand-in of the installed command.
    stand_in = tmp_path / "bin" / "imageserver"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    for unit in UNITS:
        copy = tmp_path / unit.name
        text = re.sub(r"^ExecStart=\S+", f"ExecStart={stand_in}", unit.read_text(), flags=re.M)
        copy.write_text(text)
        user = ["--user"] if "user" in unit.name else []
        env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
        result = subprocess.run(
            [analyze, "verify", *user, str(copy)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert (result.returncode, result.stderr) == (0, ""), unit.name
