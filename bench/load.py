"""The load generator of a run: wrk when installed, else the built-in Python client."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench import pyload
from bench import system
from bench import wrk
from bench.model import LoadResult
from bench.model import Request


class LoadGenerator:
    """Sends one rotating request list at a server for a while and reports what it measured.

    :param script_dir: where wrk's Lua scripts are written (one per request list).
    :param allow_wrk: False forces the Python client.
    """

    def __init__(self, script_dir: Path, allow_wrk: bool = True) -> None:
        self.script_dir = script_dir
        self.wrk = system.find_program("wrk") if allow_wrk else None
        self._scripts: dict[str, Path] = {}

    @property
    def description(self) -> str:
        """Say which client measures, for the report."""
        if self.wrk:
            return f"wrk -t{wrk.CLIENT_THREADS}, keep-alive, Lua script rotating over all frames"
        return "built-in Python client (wrk is not installed): figures are client-bound"

    def run(
        self,
        key: str,
        base_url: str,
        requests: Sequence[Request],
        concurrency: int,
        seconds: float,
        count_statuses: bool = False,
    ) -> LoadResult:
        """Run `requests` (named `key`, so its script is written once) against `base_url`.

        :param count_statuses: also count responses outside 200-299 (`LoadResult.non_2xx`);
            the Python client always does.
        """
        if not self.wrk:
            return pyload.run(base_url, requests, concurrency, seconds)
        script = self._scripts.get(key)
        if script is None:
            safe = "".join(c if c.isalnum() else "_" for c in key)
            path = self.script_dir / f"{safe}.lua"
            script = wrk.write_script(path, requests, count_statuses)
            self._scripts[key] = script
        return wrk.run(self.wrk, base_url, script, concurrency, seconds)
