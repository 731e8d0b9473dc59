"""The soak row: our images under heavy load while another client churns other directories.

wrk (or the Python client) sends image GETs at high concurrency for a minute while a thread
of this process loads and unloads *other* directories through the control API in a bounded
loop (`POST /load-directory`, then `DELETE /api/directories/<id>` or `POST /unload` in
turn). Every load or unload moves the shared change counter, so every worker rebuilds its
served index again and again under load: the images must still get 0 errors and 0 non-2xx.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.load import LoadGenerator
from bench.model import LoadResult
from bench.model import Request

OTHER_DIRECTORIES = 2
FILES_PER_OTHER_DIRECTORY = 20
MAX_CYCLES = 100_000  # a bound on the loop, far above what a minute allows
CYCLE_PAUSE_SECONDS = 0.01
CONTROL_TIMEOUT_SECONDS = 10


@dataclass
class ChurnTally:
    """What the load/unload client saw (a failure is an answer other than 200)."""

    loads: int = 0
    unloads: int = 0
    failures: int = 0
    exceptions: int = 0
    first_problem: str = ""

    def problem(self, text: str) -> None:
        """Remember the first thing that went wrong, for the report."""
        self.first_problem = self.first_problem or text


@dataclass(frozen=True)
class SoakResult:
    """The images' load run and the churn client's counts, side by side."""

    concurrency: int
    seconds: float
    images: LoadResult
    churn: ChurnTally
    server_survived: bool  # the server's main process was still running at the end


def make_other_directories(workdir: Path, frames: Path, names: list[str]) -> list[Path]:
    """Fill a few small folders with frames (hard links where possible); return them."""
    folders = []
    for number in range(OTHER_DIRECTORIES):
        folder = workdir / f"other-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in names[:FILES_PER_OTHER_DIRECTORY]:
            try:
                os.link(frames / name, folder / name)
            except OSError:  # another file system: a copy does as well
                shutil.copyfile(frames / name, folder / name)
        folders.append(folder)
    return folders


def _churn(base_url: str, folders: list[Path], stop: threading.Event, tally: ChurnTally) -> None:
    """Load and unload `folders` in turn until `stop` is set or `MAX_CYCLES` is reached."""
    with requests.Session() as session:
        for cycle in range(MAX_CYCLES):
            if stop.is_set():
                return
            folder = folders[cycle % len(folders)]
            try:
                _cycle(session, base_url, folder, cycle, tally)
            except requests.RequestException as exc:
                tally.exceptions += 1
                tally.problem(f"{type(exc).__name__}: {exc}")
            stop.wait(CYCLE_PAUSE_SECONDS)


def _cycle(
    session: requests.Session, base_url: str, folder: Path, cycle: int, tally: ChurnTally
) -> None:
    """Load `folder`, then unload it by id (even cycles) or as the current one (odd)."""
    loaded = session.post(
        base_url + "/load-directory", json={"path": str(folder)}, timeout=CONTROL_TIMEOUT_SECONDS
    )
    if loaded.status_code != 200:
        tally.failures += 1
        tally.problem(f"load: {loaded.status_code} {loaded.text[:200]}")
        return
    tally.loads += 1
    # Only this client loads, so what it just loaded is the current directory.
    if cycle % 2 == 0:
        url, method = f"{base_url}/api/directories/{loaded.json()['id']}", "DELETE"
    else:
        url, method = base_url + "/unload", "POST"
    unloaded = session.request(method, url, timeout=CONTROL_TIMEOUT_SECONDS)
    if unloaded.status_code != 200:
        tally.failures += 1
        tally.problem(f"{method} {url}: {unloaded.status_code} {unloaded.text[:200]}")
        return
    tally.unloads += 1


def run_soak(
    generator: LoadGenerator,
    base_url: str,
    images: list[Request],
    folders: list[Path],
    concurrency: int,
    seconds: float,
    server_running: Callable[[], bool],
) -> SoakResult:
    """Send `images` to our server at `base_url` for `seconds` while a thread churns `folders`."""
    tally = ChurnTally()
    stop = threading.Event()
    churn = threading.Thread(
        target=_churn, args=(base_url, folders, stop, tally), name="churn", daemon=True
    )
    churn.start()
    try:
        result = generator.run(
            "ours-soak", base_url, images, concurrency, seconds, count_statuses=True
        )
    finally:
        stop.set()
        churn.join(timeout=CONTROL_TIMEOUT_SECONDS * 2)
    if churn.is_alive():
        tally.problem("the load/unload client did not stop in time")
    return SoakResult(concurrency, seconds, result, tally, server_running())
