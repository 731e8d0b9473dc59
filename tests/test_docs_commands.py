"""The commands the README gives a new user work from a fresh clone after `make run` (#28).

`make run` puts the dependencies in `.venv` and installs no `imageserver` command, so every
command that runs a file of the repository must use `.venv/bin/python`; the ones that are
cheap to try (`--help`) are run here, the MCP one from another folder as an agent's client
starts it. docs/CLI.md lists every `imageserver` subcommand, and the server's `--help` says
which setting each flag overrides, with the default of the settings table.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from imageserver.cli.command import COMMANDS
from imageserver.cli.serve import FLAG_SETTINGS
from imageserver.settings.table import SETTINGS
from tests.test_docs import split_fences

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDES = [README, ROOT / "SECURITY.md", ROOT / "NGROK_SETUP.md", *sorted(ROOT.glob("docs/*.md"))]
GUIDES += sorted(ROOT.glob("examples/*/README.md"))
VENV_PYTHON = ".venv/bin/python"
# `python x.py`, `python -m bench`: a bare interpreter running something of ours.
BARE_PYTHON = re.compile(
    r"(?<![\w./$\"-])python3?\s+(?:-m\s+(?:imageserver|bench|tests|examples)\b|[\w./-]+\.py\b)"
)
# `.venv/bin/python server.py ...` or `.venv/bin/python -m imageserver mcp ...`.
VENV_COMMAND = re.compile(
    r"\.venv/bin/python\"?\s+((?:-m\s+imageserver(?:\.\w+)*(?:\s+[a-z]+)?)|[\w/]+\.py)"
)
# `imageserver mcp` (the wheel's command), not `-m imageserver mcp` or `mcp add imageserver`.
WHEEL_COMMAND = re.compile(r"(?<![\w-])(?<!-m )(?<!add )imageserver\s+[a-z]+")
HELP_TIMEOUT_S = 60  # a cold interpreter on a busy 2-core machine


def fenced_lines(path: Path) -> list[str]:
    """The lines of a guide's code blocks."""
    return split_fences(path.read_text(encoding="utf-8"))[1]


def readme_commands() -> list[str]:
    """Every line of a README code block, and every `.venv/bin/python ...` quoted in its text."""
    text = README.read_text(encoding="utf-8")
    return fenced_lines(README) + re.findall(r"`(\.venv/bin/python [^`]+)`", text)


def interpreter() -> str:
    """The checkout's `.venv/bin/python`, as the README says; this one where there is none."""
    venv = ROOT / VENV_PYTHON
    if venv.exists():
        return str(venv)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{venv} is missing: CI runs `make install` first")
    return sys.executable


def clean_environment(**extra: str) -> dict[str, str]:
    """PATH and HOME only: no setting of the developer's shell reaches the command."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return {**keep, "IMAGE_SERVER_ENV_FILE": os.devnull, **extra}


def run_help(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*argv, "--help"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_guide_runs_our_files_with_a_bare_python(guide):
    commands = [line.split(" #", 1)[0] for line in fenced_lines(guide)]  # not the comments
    bare = [line.strip() for line in commands if BARE_PYTHON.search(line)]
    assert bare == [], f"use {VENV_PYTHON}: the dependencies are only in .venv"


def test_the_readme_text_quotes_no_bare_python_either():
    spans = re.findall(r"`([^`\n]+)`", README.read_text(encoding="utf-8"))
    assert [span for span in spans if BARE_PYTHON.search(span)] == []


def test_the_bare_python_rule_reads_commands():
    assert BARE_PYTHON.search("python server.py --port 8080")
    assert BARE_PYTHON.search("X=1 python3 -m bench --help")
    assert not BARE_PYTHON.search(".venv/bin/python server.py")
    assert not BARE_PYTHON.search("python3 -c 'import json'")
    assert not BARE_PYTHON.search(
        "curl -s http://127.0.0.1:4040/api/tunnels | python3 -m json.tool"
    )
    assert not BARE_PYTHON.search('"$PWD/.venv/bin/python" -m imageserver mcp')


def test_the_readme_runs_no_imageserver_command_a_checkout_lacks():
    assert [line for line in fenced_lines(README) if WHEEL_COMMAND.search(line)] == []


def test_the_wheel_command_rule_reads_commands():
    assert WHEEL_COMMAND.search("claude mcp add x -- imageserver mcp --server URL")
    assert not WHEEL_COMMAND.search('claude mcp add imageserver -- "$PWD/.venv/bin/python" -m x')
    assert not WHEEL_COMMAND.search(".venv/bin/python -m imageserver mcp --help")


def test_the_readme_names_the_commands_it_is_tried_for():
    tried = {match.group(1) for line in readme_commands() for match in VENV_COMMAND.finditer(line)}
    assert {"server.py", "load_folder_v2.py", "-m imageserver mcp"} <= tried
    assert "-m imageserver.settings_query" in tried


@pytest.mark.parametrize(
    "command",
    sorted({m.group(1) for line in readme_commands() for m in VENV_COMMAND.finditer(line)}),
)
def test_a_readme_command_runs_from_the_checkout(command):
    result = run_help([interpreter(), *command.split()], ROOT, clean_environment())
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_the_readme_mcp_line_starts_the_mcp_server_from_another_folder(tmp_path):
    line = next(line for line in fenced_lines(README) if line.startswith("claude mcp add"))
    words = shlex.split(line.replace("$PWD", str(ROOT)))
    options, command = words[: words.index("--")], words[words.index("--") + 1 :]
    pairs = zip(options, options[1:], strict=False)
    env = dict(value.split("=", 1) for flag, value in pairs if flag == "--env")
    assert env.get("PYTHONPATH") == str(ROOT)
    assert command[0] == str(ROOT / VENV_PYTHON)
    command[0] = interpreter()
    result = run_help(command, tmp_path, clean_environment(PYTHONPATH=env["PYTHONPATH"]))
    assert result.returncode == 0, result.stderr
    assert "usage: imageserver mcp" in result.stdout


def test_the_cli_reference_lists_every_imageserver_subcommand():
    text = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^imageserver ([a-z]+)\b", text, re.MULTILINE))
    assert listed == set(COMMANDS)


def test_the_server_help_names_each_flag_setting_and_its_default():
    result = run_help([interpreter(), "server.py"], ROOT, clean_environment())
    shown = " ".join(result.stdout.split())  # argparse wraps long help lines
    defaults = {setting.env: setting.default for setting in SETTINGS}
    for flag, env in FLAG_SETTINGS.items():
        assert f"--{flag}" in shown
        assert f"({env}, default {defaults[env]})" in shown
