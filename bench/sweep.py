"""The size sweep (issue 22): ours against nginx, Caddy and the engine's floor, by frame size.

Screen-recording frames are 1-3 MB PNGs at 1080p and 5-15 MB at 4K, so a 52 KB figure says
little about them. Every server serves one folder with a sub-folder per size (ours loads
each sub-folder), and each repetition visits every (size, workload, server) cell before the
next starts. `bare` is a bare ASGI callable under granian with our settings
(`bench/bare_asgi.py`): the floor a Python server on this engine can reach, so `x bare` is
what our own code costs. Last, the peak RSS of ours and of the floor under many connections
on the largest frames: memory must stay bounded when every connection wants 8 MB.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from dataclasses import replace
from functools import partial
from pathlib import Path
from urllib.parse import quote

import requests

from bench import data
from bench.load import LoadGenerator
from bench.model import BenchError
from bench.model import LoadResult
from bench.model import Request
from bench.model import Summary
from bench.procs import process_tree
from bench.procs import rss_bytes
from bench.targets import Caddy
from bench.targets import Nginx
from bench.targets import OurServer
from bench.targets import Target
from bench.verify import RANGE_HEADER

# (label, bytes per frame, frames): a 52 KB video frame, a 1080p and a 4K screen capture.
SIZES = (("52 KB", 0, 200), ("1 MB", 1_000_000, 200), ("8 MB", 8_000_000, 40))
RSS_CONCURRENCY = 256
RSS_SAMPLE_SECONDS = 0.02
# At 8 MB and c=64 a run completes only a few requests per connection: run it longer, and
# the memory run longer still, so that the figures are not a handful of completions.
LARGEST_RUN_FACTOR = 2
RSS_RUN_SECONDS = 15.0
MB = 1e6


class BareASGI(Target):
    """The floor: a bare ASGI callable under granian (`bench/bare_asgi.py`)."""

    key = "bare"
    label = "bare ASGI callable under granian (one os.read, one body), our granian settings"

    def command(self, frames: Path) -> list[str]:
        return [sys.executable, "-m", "bench.bare_asgi", str(self.port)]

    def environment(self, frames: Path) -> dict[str, str]:
        return {**os.environ, "BENCH_STATIC_DIR": str(frames)}


MAKERS: dict[str, Callable[[Path], Target]] = {
    "ours": OurServer,
    "bare": BareASGI,
    "nginx": Nginx,
    "caddy": Caddy,
}


@dataclass(frozen=True)
class Cell:
    """One measurement: a size, a workload (GET, 304, Range) and a server."""

    size: str
    workload: str
    server: str


def make_frames(root: Path) -> dict[str, list[str]]:
    """Write one sub-folder of frames per size under `root`; return the names per size.

    The large frames are real JPEGs padded with random bytes after their end marker (still
    valid, and incompressible like a screen capture), which is far quicker than encoding 4K.
    """
    names: dict[str, list[str]] = {}
    for label, size, count in SIZES:
        folder = root / _folder(label)
        if not size:
            names[label] = data.make_frames(folder, count)
            continue
        folder.mkdir(parents=True)
        names[label] = [data.frame_name(i) for i in range(count)]
        head = data.encode_frame(0)
        for name in names[label]:
            (folder / name).write_bytes(head + os.urandom(size - len(head)))
    return names


def _folder(label: str) -> str:
    return label.replace(" ", "").lower()


def prefixes(targets: dict[str, Target], root: Path) -> dict[tuple[str, str], str]:
    """Return the URL prefix of each (server, size); ours loads each size's folder."""
    found = {}
    for key, target in targets.items():
        for label, _, count in SIZES:
            if isinstance(target, OurServer):
                body = target.load(root / _folder(label))
                if body.get("image_count") != count:
                    raise BenchError(f"ours loaded {body.get('image_count')} of {count} frames")
                found[(key, label)] = f"/d/{body['id']}/"
            else:
                found[(key, label)] = f"/{_folder(label)}/"
    return found


def request_lists(
    targets: dict[str, Target], root: Path, names: dict[str, list[str]]
) -> dict[Cell, list[Request]]:
    """Check every server's bytes, then build each cell's rotating request list.

    :raise BenchError: a server answers a sampled frame with other bytes.
    """
    prefix = prefixes(targets, root)
    session = requests.Session()
    lists: dict[Cell, list[Request]] = {}
    for label, _, _ in SIZES:
        for key, target in targets.items():
            paths = [prefix[(key, label)] + quote(n) for n in names[label]]
            first = (root / _folder(label) / names[label][0]).read_bytes()
            response = session.get(target.base_url + paths[0], timeout=30)
            if response.status_code != 200 or response.content != first:
                raise BenchError(f"{key} serves wrong bytes for {paths[0]}: not measuring it")
            lists[Cell(label, "GET", key)] = [Request(p) for p in paths]
            if key == "ours":
                etags = [session.head(target.base_url + p).headers["ETag"] for p in paths]
                revalidate = [
                    Request(p, {"If-None-Match": e}) for p, e in zip(paths, etags, strict=True)
                ]
                lists[Cell(label, "304", key)] = revalidate
                lists[Cell(label, "Range", key)] = [
                    Request(p, {"Range": RANGE_HEADER}) for p in paths
                ]
    return lists


def peak_rss(target: Target, run: Callable[[], LoadResult]) -> tuple[int, LoadResult]:
    """Run `run` while sampling the RSS summed over `target`'s processes; return the peak."""
    assert target.child is not None
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(process_tree(target.child.pid)))
            done.wait(RSS_SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run()
    finally:
        done.set()
        sampler.join()
    return peak, result


def measure(
    workdir: Path, seconds: float, repeat: int, concurrency: int, servers: tuple[str, ...]
) -> str:
    """Run the whole sweep and return its Markdown section.

    :raise BenchError: a server failed to start or served wrong bytes.
    """
    root = workdir / "sweep"
    print("sweep: writing frames ...", file=sys.stderr, flush=True)
    names = make_frames(root)
    generator = LoadGenerator(workdir / "sweep-scripts")
    generator.script_dir.mkdir()
    results: dict[Cell, list[LoadResult]] = {}
    with ExitStack() as stack:
        targets: dict[str, Target] = {}
        for key in servers:
            target = MAKERS[key](workdir / "sweep-servers")
            stack.callback(target.stop)
            if isinstance(target, OurServer):
                target.start_empty()
            else:
                first = names[SIZES[0][0]][0]
                target._spawn(root, f"/{_folder(SIZES[0][0])}/{quote(first)}")
            targets[key] = target
        lists = request_lists(targets, root, names)
        for cell, items in lists.items():  # warm the page cache and each server once
            generator.run(_key(cell), targets[cell.server].base_url, items, 8, 1)
        for repetition in range(1, repeat + 1):
            for cell, items in lists.items():
                target = targets[cell.server]
                cpu = target.cpu_seconds()
                factor = LARGEST_RUN_FACTOR if cell.size == SIZES[-1][0] else 1
                result = generator.run(
                    _key(cell), target.base_url, items, concurrency, seconds * factor
                )
                target.check_alive(f"sweep {cell}")
                if result.requests:
                    spent = target.cpu_seconds() - cpu
                    result = replace(result, server_cpu_us=spent / result.requests * 1e6)
                results.setdefault(cell, []).append(result)
                print(
                    f"[{repetition}/{repeat}] {cell.size:5} {cell.workload:5} {cell.server:6} "
                    f"{result.rps:>9,.0f} req/s  {result.server_cpu_us or 0:8.0f} us CPU  "
                    f"errors {result.errors}",
                    file=sys.stderr,
                    flush=True,
                )
        memory = _memory(generator, targets, lists, seconds)
    summaries = {cell: Summary.of(runs) for cell, runs in results.items()}
    return render(summaries, memory, seconds, repeat, concurrency)


def _memory(
    generator: LoadGenerator,
    targets: dict[str, Target],
    lists: dict[Cell, list[Request]],
    seconds: float,
) -> dict[str, tuple[int, int, LoadResult]]:
    """Return (idle RSS, peak RSS, result) of ours and the floor at c=256 on the largest."""
    largest = SIZES[-1][0]
    memory = {}
    for key in ("ours", "bare"):
        target = targets.get(key)
        if target is None or target.child is None:
            continue
        idle = rss_bytes(process_tree(target.child.pid))
        items = lists[Cell(largest, "GET", key)]
        run = partial(
            generator.run, f"{key}-rss", target.base_url, items, RSS_CONCURRENCY, RSS_RUN_SECONDS
        )
        peak, result = peak_rss(target, run)
        memory[key] = (idle, peak, result)
    return memory


def _key(cell: Cell) -> str:
    return f"sweep-{cell.server}-{cell.size}-{cell.workload}"


def _ratio(value: float, reference: Summary | None) -> str:
    return f"{value / reference.rps:.2f}" if reference and reference.rps else "n/a"


def render(
    summaries: dict[Cell, Summary],
    memory: dict[str, tuple[int, int, LoadResult]],
    seconds: float,
    repeat: int,
    concurrency: int,
) -> str:
    """Return the sweep's tables: throughput with ratios, then memory under load."""
    lines = [
        f"## Size sweep: c={concurrency}, {seconds:g} s per run ({seconds * LARGEST_RUN_FACTOR:g} "
        f"s at {SIZES[-1][0]}), median of {repeat} interleaved repetitions",
        "",
        "| size | workload | server | req/s | MB/s | p99 ms | errors | CPU us/req | x bare "
        "| x nginx | x caddy | x our GET |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, s in summaries.items():
        size = dict((label, size) for label, size, _ in SIZES)[cell.size]
        mean = size or 52_000
        ref = {k: summaries.get(Cell(cell.size, "GET", k)) for k in ("bare", "nginx", "caddy")}
        ours_get = summaries.get(Cell(cell.size, "GET", "ours"))
        same = cell.workload == "GET"
        lines.append(
            f"| {cell.size} | {cell.workload} | {cell.server} | {s.rps:,.0f} "
            f"| {s.rps * mean / MB:,.0f} | {s.p99_ms:.1f} | {s.errors} | {s.cpu_us or 0:,.0f} "
            f"| {_ratio(s.rps, ref['bare']) if same else ''} "
            f"| {_ratio(s.rps, ref['nginx']) if same else ''} "
            f"| {_ratio(s.rps, ref['caddy']) if same else ''} "
            f"| {'' if same else _ratio(s.rps, ours_get)} |"
        )
    largest = SIZES[-1][0]
    lines += [
        "",
        f"Memory, GET {largest} frames at c={RSS_CONCURRENCY} for {RSS_RUN_SECONDS:g} s (RSS "
        "summed over the server's processes, sampled every 20 ms):",
        "",
        "| server | idle RSS MB | peak RSS MB | req/s | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, (idle, peak, result) in memory.items():
        lines.append(
            f"| {key} | {idle / MB:,.0f} | {peak / MB:,.0f} | {result.rps:,.0f} | {result.errors} |"
        )
    return "\n".join(lines)
