"""The loader's failures. Each carries the one line printed on stderr; `cli` maps them to exits."""

from __future__ import annotations

import json
from typing import Any


class LoaderError(Exception):
    """A run that cannot complete; `str(error)` is the single line shown to the user."""


class UsageError(LoaderError):
    """The command line or the configuration is wrong (exit 2)."""


class ServerUnavailable(LoaderError):
    """Nothing answers at `--server` and it could not be started (exit 1)."""


class ServerError(LoaderError):
    """The server answered a control request with an error (exit 1).

    :param action: what was being done, e.g. ``"load /data/frames"``.
    :param status: the HTTP status of the answer.
    :param detail: the server's `detail` (a string, or pydantic's list for a 422).
    """

    def __init__(self, action: str, status: int, detail: Any) -> None:
        self.action = action
        self.status = status
        self.detail = detail
        super().__init__(f"{action} failed ({status}): {one_line(detail)}")


class OutputError(LoaderError):
    """The JSON file could not be written (exit 1)."""


def one_line(detail: Any) -> str:
    """Render a server `detail` on one line (422 lists become compact JSON)."""
    if isinstance(detail, str):
        return " ".join(detail.split())
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"))
