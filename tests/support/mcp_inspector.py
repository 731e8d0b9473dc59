"""The MCP Inspector's CLI, a real MCP client of someone else's making (docs/MCP.md).

The binary: `MCP_INSPECTOR_BIN`, else `<MCP_INSPECTOR_CACHE_DIR>/node_modules/.bin/mcp-inspector`
(default cache `${XDG_CACHE_HOME:-~/.cache}/imageserver-mcp-inspector`, where .ci/run installs
the pinned version with scripts/install_mcp_inspector.sh).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.environment import clean_env
from tests.support.parts import missing_part

INSPECTOR_BIN_ENV = "MCP_INSPECTOR_BIN"
INSPECTOR_CACHE_ENV = "MCP_INSPECTOR_CACHE_DIR"
# The same default as scripts/install_mcp_inspector.sh.
DEFAULT_CACHE_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imageserver-mcp-inspector"
)
RUN_TIMEOUT_SECONDS = 120


def find_inspector() -> Path | None:
    """The Inspector's binary: `$MCP_INSPECTOR_BIN`, else the cached one, else None."""
    explicit = os.environ.get(INSPECTOR_BIN_ENV)
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get(INSPECTOR_CACHE_ENV) or DEFAULT_CACHE_DIR)
    candidate = cache / "node_modules" / ".bin" / "mcp-inspector"
    return candidate if candidate.is_file() else None


def require_inspector() -> Path:
    """The Inspector's binary, or stop the test (fails in CI: `missing_part`)."""
    found = find_inspector()
    if found is None:
        missing_part(
            "the MCP Inspector is not installed "
            f"(bash scripts/install_mcp_inspector.sh, or set {INSPECTOR_BIN_ENV})"
        )
    return found


def run_inspector(
    binary: Path, home: Path, url: str, *arguments: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI once over streamable HTTP (stdin closed: not interactive).

    `home` is its HOME: it keeps a catalog and a store under `~/.mcp-inspector`.
    """
    header = ["--header", f"Authorization: Bearer {token}"] if token else []
    command = [str(binary), "--cli", url, "--transport", "http", *header, *arguments]
    env = clean_env(NO_COLOR="1", HOME=str(home))
    return subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)  # fmt: skip
