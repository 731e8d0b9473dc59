"""`python -m imageserver.settings.query`: the config values the shell scripts read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageserver.settings import query as settings_query
from tests.support.server import PROJECT_ROOT


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty .env in `tmp_path`, the only configuration source (for in-process runs too)."""
    for key in list(os.environ):
        if key.startswith("IMAGE_SERVER_") or key == "FRAME_BASE_DIR":
            monkeypatch.delenv(key)
    path = tmp_path / ".env"
    path.write_text("")
    monkeypatch.setenv("IMAGE_SERVER_ENV_FILE", str(path))
    return path


def run_module(*fields: str) -> subprocess.CompletedProcess[str]:
    """Run the module as the scripts do (from the project root, in the current environment)."""
    return subprocess.run(
        [sys.executable, "-m", "imageserver.settings.query", *fields],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_subprocess_prints_the_fields_one_a_line(env_file: Path) -> None:
    env_file.write_text(
        "IMAGE_SERVER_PORT=8123\nIMAGE_SERVER_HOST=127.0.0.2\nIMAGE_SERVER_TOKEN=first,second\n"
        "IMAGE_SERVER_TIMEOUT=15\nIMAGE_SERVER_PUBLIC_URL=https://example.test/\n"
    )

    result = run_module("port", "host", "token", "timeout", "public_url")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "8123\n127.0.0.2\nfirst\n15\nhttps://example.test\n"
    assert result.stderr == ""


def test_subprocess_bad_setting_is_one_line_and_exit_2(env_file: Path) -> None:
    env_file.write_text("IMAGE_SERVER_PORT=abc\n")

    result = run_module("port")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: IMAGE_SERVER_PORT must be an integer, got 'abc'\n"


def test_defaults_print_empty_token_and_public_url(
    env_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings_query.main(["port", "host", "token", "public_url", "timeout"]) == 0
    assert capsys.readouterr().out == "7779\n0.0.0.0\n\n\n0\n"


def test_the_environment_wins_over_the_env_file(
    env_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file.write_text("IMAGE_SERVER_PORT=8001\n")
    monkeypatch.setenv("IMAGE_SERVER_PORT", "8002")

    assert settings_query.main(["port"]) == 0
    assert capsys.readouterr().out == "8002\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["bogus"], "error: unknown field 'bogus'"), ([], "error: no FIELD given")],
)
def test_usage_errors_exit_2(
    env_file: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert settings_query.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{settings_query.USAGE}\n{message}\n"


def test_help_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_query.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m imageserver.settings.query")
