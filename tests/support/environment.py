"""The environment of every process a test starts: the developer's shell stays out of it.

Settings (`IMAGE_SERVER_*`, `FRAME_BASE_DIR`), AWS credentials and endpoints (`AWS_*`) and the
metrics folder (`PROMETHEUS_MULTIPROC_DIR`) of the shell that runs pytest would change what a
server, the CLI or a script does; a test passes them explicitly when it means to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

LEAKING_PREFIXES = ("IMAGE_SERVER_", "AWS_")
LEAKING_NAMES = frozenset({"FRAME_BASE_DIR", "PROMETHEUS_MULTIPROC_DIR"})


def leaks(name: str) -> bool:
    """True when variable `name` would change what one of our processes does."""
    return name.startswith(LEAKING_PREFIXES) or name in LEAKING_NAMES


def clean_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Return `base` (the current environment by default) without our settings, plus `extra`.

    `IMAGE_SERVER_ENV_FILE` points at /dev/null, so no `.env` in the working folder is read
    either (a test that wants a `.env` passes `IMAGE_SERVER_ENV_FILE` in `extra`).
    """
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if not leaks(key)}
    env["IMAGE_SERVER_ENV_FILE"] = os.devnull
    env.update(extra)
    return env
