"""The rules the suite holds itself to: a clean environment for every process it starts, and
no skip in CI (a missing real part fails there; `.ci/run` says it is CI).

The rules live in tests/support/environment.py and tests/support/parts.py; these tests show
that they hold where it matters: a real server, the CLI's environment, pytest's own report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.cli import cli_env
from tests.support.environment import clean_env
from tests.support.live import process_group
from tests.support.n8n_cli import N8n
from tests.support.parts import missing_part
from tests.support.parts import require_binary
from tests.support.server import PROJECT_ROOT
from tests.support.server import ServerProcess

CI_RUN = PROJECT_ROOT / ".ci" / "run"
# What a developer's shell may hold: each would change what a server or the CLI does.
SHELL_SETTINGS = {
    "IMAGE_SERVER_TOKEN": "from-the-developers-shell",
    "IMAGE_SERVER_ALLOWED_ROOTS": "/nowhere",
    "FRAME_BASE_DIR": "/nowhere",
    "AWS_ACCESS_KEY_ID": "AKIA-from-the-shell",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "PROMETHEUS_MULTIPROC_DIR": "/nowhere",
}


@pytest.fixture
def developer_shell(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The pytest process's environment holds a developer's settings, AWS keys included."""
    for name, value in SHELL_SETTINGS.items():
        monkeypatch.setenv(name, value)
    return SHELL_SETTINGS


def process_environment(pid: int) -> dict[str, str]:
    """The environment a running process was started with, from /proc."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.split("=", 1) for entry in raw.decode(errors="replace").split("\0") if entry)
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_a_test_server_sees_none_of_the_shells_settings(
    developer_shell: dict[str, str], tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "state", workers=2).start()
    try:
        pids = process_group(server.process.pid)
        assert len(pids) >= 3  # the master and its two workers
        for pid in pids:
            seen = process_environment(pid)
            assert not set(developer_shell) & set(seen), pid
            assert seen["IMAGE_SERVER_ENV_FILE"] == "/dev/null"  # and no `.env` either
        # What it does shows it too: no token wanted, no base folder for relative paths.
        listing = requests.get(server.url("/api/directories"), timeout=10)
        assert listing.status_code == 200, listing.text
    finally:
        server.stop()


def test_a_setting_the_test_asks_for_still_reaches_the_server(
    developer_shell: dict[str, str], tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "state", env={"IMAGE_SERVER_TOKEN": "asked"}, workers=1)
    assert server.env["IMAGE_SERVER_TOKEN"] == "asked"
    assert "FRAME_BASE_DIR" not in server.env


def test_every_environment_builder_leaves_the_shell_out(
    developer_shell: dict[str, str], tmp_path: Path
) -> None:
    built = {
        "clean_env": clean_env(),
        "cli_env": cli_env(tmp_path),
        "n8n": N8n(tmp_path / "n8n", tmp_path / "n8n-user").env,
    }
    for name, env in built.items():
        assert not set(developer_shell) & set(env), name
        assert env["PATH"]  # the rest of the shell stays: PATH, HOME, locale


def test_ci_run_says_it_is_ci() -> None:
    assert re.search(r"^\s*export\s+CI=true\s*$", CI_RUN.read_text(), flags=re.MULTILINE)


def test_ci_run_installs_every_binary_the_suite_requires() -> None:
    # A binary a test requires (`require_binary`) fails the test in CI when missing.
    tests = (PROJECT_ROOT / "tests").rglob("*.py")
    sources = [path.read_text() for path in tests if path.name != "test_suite_rules.py"]
    required = {
        name for text in sources for name in re.findall(r'require_binary\(\s*"([^"]+)"', text)
    }
    assert {"curl", "ffmpeg", "shellcheck", "systemd-analyze"} <= required
    installed = set(re.findall(r"command -v (\S+)|\b([\w-]+):[\w-]+\b", CI_RUN.read_text()))
    tools = {name for pair in installed for name in pair if name}
    assert required <= tools, required - tools


def test_a_missing_part_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing in CI: no widget"):
        missing_part("no widget")


def test_a_missing_part_skips_on_a_developers_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no widget"):
        missing_part("no widget")


def guards() -> dict[str, tuple[Callable[[], object], tuple[object, str, object] | None]]:
    """Each guard of a real part, with the patch that makes its part look missing."""
    from tests.support import browser
    from tests.support import mcp_inspector
    from tests.support import n8n_cli
    from tests.support import postgres

    return {
        "chromium": (browser.require_browser, (browser, "CHROMIUM", "/nonexistent/chromium")),
        "n8n": (n8n_cli.require_n8n, (n8n_cli, "find_n8n", lambda: None)),
        "mcp-inspector": (
            mcp_inspector.require_inspector,
            (mcp_inspector, "find_inspector", lambda: None),
        ),
        "postgres": (postgres.require_pg_bin, (postgres, "find_pg_bin", lambda: None)),
        "binary": (lambda: require_binary("no-such-tool-anywhere", "nowhere"), None),
    }


@pytest.mark.parametrize("name", sorted(guards()))
def test_every_guard_fails_in_ci(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guard, missing = guards()[name]
    if missing is not None:
        monkeypatch.setattr(*missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing in CI"):
        guard()


def test_every_skip_goes_through_the_one_rule() -> None:
    # A skip written elsewhere would still fail in CI (conftest), but it could not say so.
    direct = re.compile(r"pytest\.(skip|importorskip)\(|mark\.(skip|skipif|xfail)\b")
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for path in sorted((PROJECT_ROOT / "tests").rglob("*.py"))
        if path.name not in ("parts.py", "test_suite_rules.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if direct.search(line)
    ]
    assert found == [], "use tests.support.parts.missing_part or require_binary"


SKIPPING_TESTS = """
import pytest

pytest.importorskip("no_such_module_anywhere")
"""
SKIPPING_TEST = """
import pytest

def test_skips():
    pytest.skip("some reason")

@pytest.mark.skipif(True, reason="a condition")
def test_skipped_by_a_mark():
    pass
"""


def run_pytest_in_ci(folder: Path) -> subprocess.CompletedProcess[str]:
    """Run pytest on `folder` under CI, with the suite's CI rule loaded as a plugin."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p"]
        + ["tests.support.parts", "--continue-on-collection-errors", "--rootdir", str(folder)]
        + ["-c", "/dev/null", str(folder)],
        cwd=PROJECT_ROOT,
        env=clean_env(CI="true"),
        capture_output=True,
        text=True,
        timeout=240,  # a failure bound: pytest starting on a loaded machine
    )


@pytest.mark.timeout(300)
def test_under_ci_any_skip_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(SKIPPING_TEST)
    (tmp_path / "test_module.py").write_text(SKIPPING_TESTS)
    in_ci = run_pytest_in_ci(tmp_path)
    assert in_ci.returncode == 1, in_ci.stdout
    failed = [line for line in in_ci.stdout.splitlines() if "skipped in CI, where every" in line]
    for reason in ("some reason", "a condition", "no_such_module_anywhere"):
        assert any(reason in line for line in failed), in_ci.stdout
