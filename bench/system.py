"""The machine: Debian tools the benchmark needs (installed with apt-get), versions, CPU.

`nginx`, `caddy` and `wrk` come from Debian's packages. Installing `nginx` or `caddy` may
start the system's service on a host with systemd (containers usually forbid it with
policy-rc.d); the benchmark never uses those: it runs its own, with its own config.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

# command -> Debian package
PACKAGES = {"nginx": "nginx", "caddy": "caddy", "wrk": "wrk"}
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
APT_TIMEOUT_SECONDS = 600


def find_program(name: str) -> str | None:
    """Return the path of command `name`, also looking in sbin dirs (nginx lives there)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_tools(commands: tuple[str, ...] = tuple(PACKAGES)) -> list[str]:
    """Install the Debian packages of the missing `commands` with apt-get, when we can.

    Returns notes for the report (what was installed, or why it could not be); never
    raises: a missing tool only removes rows (nginx, caddy) or swaps the load generator (wrk).
    """
    missing = [PACKAGES[c] for c in commands if find_program(c) is None]
    if not missing:
        return []
    if os.geteuid() != 0 or find_program("apt-get") is None:
        return [f"not installed, and cannot apt-get here (not root or no apt): {missing}"]
    print(f"installing {' '.join(missing)} with apt-get ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    )
    for step in steps:
        result = subprocess.run(
            step, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS
        )
        if result.returncode != 0:
            return [f"`{' '.join(step)}` failed: {result.stderr.strip()[-300:]}"]
    return [f"installed with apt-get: {' '.join(missing)}"]


def _first_line(argv: list[str]) -> str:
    """Run a `--version`-like command and return the first line it printed (or '')."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # nginx -v prints on stderr; wrk -v prints its version then its usage, and exits 1.
    output = (result.stdout + result.stderr).strip()
    return output.splitlines()[0] if output else ""


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Return the versions of everything measured or measuring."""
    nginx = find_program("nginx")
    caddy = find_program("caddy")
    wrk = find_program("wrk")
    # "nginx version: nginx/1.22.1", "2.6.2" (or "v2.7.6 h1:...") and
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."
    nginx_line = _first_line([nginx, "-v"]) if nginx else ""
    caddy_line = _first_line([caddy, "version"]) if caddy else ""
    wrk_line = _first_line([wrk, "-v"]) if wrk else ""
    return {
        "granian": _package_version("granian"),
        "a2wsgi": _package_version("a2wsgi"),
        "uvloop": _package_version("uvloop"),
        "nginx": nginx_line.removeprefix("nginx version: nginx/") or "absent",
        "caddy": caddy_line.split()[0].removeprefix("v") if caddy_line else "absent",
        "wrk": wrk_line.split(" [")[0].removeprefix("wrk ") or "absent",
        "python": platform.python_version(),
        "flask": _package_version("flask"),
        "gunicorn (flask row)": _package_version("gunicorn"),
    }


def machine() -> str:
    """Return 'cpu model, N cores, kernel' for the report."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
