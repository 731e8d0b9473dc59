"""Run `load_folder_v2.py` as a real subprocess, with a clean environment."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.environment import clean_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "load_folder_v2.py"


@dataclass
class CliResult:
    """Exit status and output of one run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output_file(self) -> Path:
        """The path the CLI printed on stdout (its last line)."""
        return Path(self.stdout.strip().splitlines()[-1])

    def document(self) -> dict[str, Any]:
        return json.loads(self.output_file.read_text())


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a run: a clean one (`clean_env`) with `home` as HOME, plus `extra`."""
    return clean_env(**{"HOME": str(home), **extra})


def run_cli(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> CliResult:
    """Run `python load_folder_v2.py ARGS` from `cwd` and capture everything."""
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=cwd,
        env=env if env is not None else cli_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)
