"""Measure our server with one very large directory: `python -m bench.load_index [N]`.

Creates N real JPEG files (default 100,000), starts `python server.py` (granian, default
settings: a main process and 2 workers) on a free loopback port with a fresh state dir,
and measures: `POST /load-directory`, `GET /` (the full `image_list`), a listing page deep
in the index, one image by stable URL, and the server's resident memory per indexed file,
summed over granian's main process and its workers. `python -m bench` runs the same
measurement as part of its report; run alone, this prints its own table and writes it to
`bench/results/load_index.md`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench import data
from bench import report
from bench.model import BenchError
from bench.model import IndexMeasurement
from bench.procs import settled_rss
from bench.targets import OurServer

RESULTS = Path(__file__).resolve().parent / "results"
REPEATS = 5
PAGE_LIMIT = 1000
# Each worker builds its view of a directory lazily, on its first request after a change;
# this many fresh connections reach every worker of a default (2-worker) server in practice.
FRESH_CONNECTIONS = 32
TIMEOUT_SECONDS = 120


def timed_ms(call: Callable[[], requests.Response]) -> tuple[float, requests.Response]:
    """Call `call` and return (milliseconds, its response)."""
    start = time.perf_counter()
    response = call()
    return (time.perf_counter() - start) * 1000, response


def median_ms(
    call: Callable[[], requests.Response], repeats: int = REPEATS
) -> tuple[float, requests.Response]:
    """Call `call` `repeats` times; return the median time and the last response.

    :raise BenchError: an answer was not 200.
    """
    results = [timed_ms(call) for _ in range(repeats)]
    last = results[-1][1]
    if last.status_code != 200:
        raise BenchError(f"{last.request.method} {last.url}: {last.status_code} {last.text[:200]}")
    return statistics.median(ms for ms, _ in results), last


def _touch_workers(urls: list[str]) -> None:
    # No session: each request opens a new connection, so they spread over the workers.
    for _ in range(FRESH_CONNECTIONS):
        for url in urls:
            requests.get(url, timeout=TIMEOUT_SECONDS).raise_for_status()


def _paths(dir_id: str, count: int) -> tuple[str, str]:
    """Return the image path and the deepest listing page path of a loaded directory."""
    offset = max(0, count - PAGE_LIMIT)
    page = f"/api/directories/{dir_id}/images?offset={offset}&limit={PAGE_LIMIT}"
    return f"/d/{dir_id}/{data.frame_name(min(42, count - 1))}", page


def _warm_up(server: OurServer, warm_folder: Path) -> None:
    # Load a one-file directory and use it from every worker first, so that the lazy
    # imports and caches of the load, image and listing code are in the "before" figure
    # and the difference is the large directory's own cost.
    dir_id = server.load(warm_folder)["id"]
    image, page = _paths(dir_id, 1)
    _touch_workers([server.base_url + "/healthz", server.base_url + image, server.base_url + page])


def measure(
    folder: Path, count: int, workdir: Path, warm_folder: Path, repeats: int = REPEATS
) -> IndexMeasurement:
    """Start a fresh server, load `folder` (holding `count` files) and measure it.

    RSS is read before the load, once every worker has served a one-file `warm_folder`,
    and after the first load, once every worker has served an image and a listing page of
    `folder`; the timings come after, medians of `repeats`.

    :raise BenchError: the server failed to start or answered an error.
    """
    server = OurServer(workdir)
    try:
        server.start_empty()
        url = server.base_url
        _warm_up(server, warm_folder)
        pids, rss_before = settled_rss(server.child.pid)

        session = requests.Session()

        def load() -> requests.Response:
            return session.post(
                url + "/load-directory", json={"path": str(folder)}, timeout=TIMEOUT_SECONDS
            )

        first_ms, first = timed_ms(load)
        if first.status_code != 200 or first.json().get("image_count") != count:
            raise BenchError(f"loading {count:,} files failed: {first.status_code} {first.text}")
        image_path, page_path = _paths(first.json()["id"], count)
        _touch_workers([url + image_path, url + page_path])
        pids_after, rss_after = settled_rss(server.child.pid)
        if pids_after != pids:
            raise BenchError(f"server processes changed during the load: {pids} -> {pids_after}")

        more_ms = [timed_ms(load)[0] for _ in range(repeats - 1)]
        status_ms, status = median_ms(lambda: session.get(url + "/", timeout=TIMEOUT_SECONDS))
        page_ms, page = median_ms(lambda: session.get(url + page_path, timeout=TIMEOUT_SECONDS))
        image_ms, _ = median_ms(lambda: session.get(url + image_path, timeout=TIMEOUT_SECONDS))
    finally:
        server.stop()
    return IndexMeasurement(
        count=count,
        load_ms=statistics.median([first_ms, *more_ms]),
        first_load_ms=first_ms,
        reload_ms=statistics.median(more_ms) if more_ms else first_ms,
        status_ms=status_ms,
        status_bytes=len(status.content),
        page_offset=max(0, count - PAGE_LIMIT),
        page_ms=page_ms,
        page_bytes=len(page.content),
        image_ms=image_ms,
        rss_before=rss_before,
        rss_after=rss_after,
        processes=len(pids),
    )


def make_and_measure(workdir: Path, count: int, repeats: int = REPEATS) -> IndexMeasurement:
    """Write `count` files under `workdir`, then `measure` them."""
    folder = workdir / "many"
    start = time.perf_counter()
    data.make_many_files(folder, count)
    data.make_many_files(workdir / "warm", 1)
    print(f"made {count:,} files in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return measure(folder, count, workdir, workdir / "warm", repeats)


def main(argv: list[str]) -> int:
    """Measure at `argv[0]` files (default 100,000), print the table and write it."""
    count = int(argv[0]) if argv else 100_000
    try:
        with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
            measurement = make_and_measure(Path(tmp), count)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = report.render_index_standalone(measurement, REPEATS)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_index.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
