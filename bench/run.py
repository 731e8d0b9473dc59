"""One benchmark run: data, servers, checks, interleaved load runs, the soak, the large
directory, report.

The servers all run side by side for the whole load phase, and each repetition visits every
(workload, concurrency, server) cell once before the next repetition starts: on a noisy
shared machine, a slow minute then hurts every server alike instead of one of them.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

from bench import data
from bench import load_index
from bench import report
from bench import soak
from bench import sweep
from bench import system
from bench import verify
from bench.load import LoadGenerator
from bench.model import BenchError
from bench.model import LoadResult
from bench.model import Request
from bench.model import Row
from bench.model import Summary
from bench.model import Workload
from bench.options import SWEEP_TARGETS
from bench.options import Options
from bench.targets import REFERENCE
from bench.targets import TARGETS
from bench.targets import Target
from bench.verify import Capabilities

WARM_UP_SECONDS = 1.0


@dataclass(frozen=True)
class Cell:
    """One line of the table: what is sent, over how many connections, to which server."""

    workload: Workload
    concurrency: int
    server: str


def requests_for(
    workload: Workload, target: Target, names: list[str], caps: Capabilities
) -> list[Request] | None:
    """Return the rotating request list of `workload` on `target`, or None if unsupported."""
    if workload is Workload.GET:
        return [Request(target.path_for(n)) for n in names]
    if workload is Workload.REVALIDATE:
        if caps.etags is None:
            return None
        return [Request(target.path_for(n), {"If-None-Match": caps.etags[n]}) for n in names]
    if not caps.ranges:
        return None
    return [Request(target.path_for(n), {"Range": verify.RANGE_HEADER}) for n in names]


def plan(concurrency: tuple[int, ...], servers: list[str]) -> list[Cell]:
    """Return the cells in table order: GET at every c; 304 and Range at the highest c only.

    304 and Range are secondary figures, so they run once, where the load is heaviest,
    which keeps a full run near ten minutes.
    """
    levels = sorted(set(concurrency))
    cells = [Cell(Workload.GET, c, s) for c in levels for s in servers]
    for workload in (Workload.REVALIDATE, Workload.RANGE):
        cells += [Cell(workload, levels[-1], s) for s in servers]
    return cells


def start_targets(
    stack: ExitStack, keys: list[str], workdir: Path, frames: Path, names: list[str]
) -> dict[str, Target]:
    """Start each server (stopped by `stack`, even when a later one fails to start).

    :raise BenchError: a server exited or did not answer in time.
    """
    targets: dict[str, Target] = {}
    for key in keys:
        target = TARGETS[key](workdir)
        stack.callback(target.stop)  # before start(): a half-started server is stopped too
        print(f"starting {key} on {target.base_url} ...", file=sys.stderr, flush=True)
        target.start(frames, names)
        targets[key] = target
    return targets


def measure_servers(
    options: Options, keys: list[str], workdir: Path, frames: Path, names: list[str]
) -> tuple[list[Row], LoadGenerator, soak.SoakResult | None]:
    """Start the servers, check them, run every cell `options.repeat` times, then the soak
    on ours (while the others idle), and stop them."""
    generator = LoadGenerator(workdir / "scripts")
    generator.script_dir.mkdir()
    with ExitStack() as stack:
        targets = start_targets(stack, keys, workdir, frames, names)
        caps = {key: verify.check_target(t, frames, names) for key, t in targets.items()}
        print("every server serves the right bytes; measuring ...", file=sys.stderr, flush=True)
        cells = plan(options.concurrency, keys)
        lists = {
            (cell.workload, cell.server): requests_for(
                cell.workload, targets[cell.server], names, caps[cell.server]
            )
            for cell in cells
        }
        runnable = [c for c in cells if lists[(c.workload, c.server)] is not None]
        if options.warm_up:
            for key, target in targets.items():
                get = lists[(Workload.GET, key)] or []
                generator.run(f"{key}-GET", target.base_url, get, 8, WARM_UP_SECONDS)
        results = _repetitions(options, generator, targets, runnable, lists)
        soaked = None
        if "ours" in targets and options.soak_seconds > 0:
            soaked = _soak(options, generator, targets["ours"], lists, workdir, frames, names)
    rows = [
        Row(c.workload, c.concurrency, c.server, Summary.of(results[c]))
        if c in results
        else Row(c.workload, c.concurrency, c.server, None, _unsupported(c, caps[c.server]))
        for c in cells
    ]
    return rows, generator, soaked


def _soak(
    options: Options,
    generator: LoadGenerator,
    ours: Target,
    lists: dict[tuple[Workload, str], list[Request] | None],
    workdir: Path,
    frames: Path,
    names: list[str],
) -> soak.SoakResult:
    """Run the soak row on our server: its GET list while other directories churn."""
    folders = soak.make_other_directories(workdir / "others", frames, names)
    print(
        f"soak: c={options.soak_concurrency} for {options.soak_seconds:g} s while "
        f"{len(folders)} other directories are loaded and unloaded ...",
        file=sys.stderr,
        flush=True,
    )
    result = soak.run_soak(
        generator,
        ours.base_url,
        lists[(Workload.GET, "ours")] or [],
        folders,
        options.soak_concurrency,
        options.soak_seconds,
        lambda: ours.child is not None and ours.child.running(),
    )
    if not result.server_survived and ours.child is not None:
        print(f"our server exited during the soak:\n{ours.child.log_tail()}", file=sys.stderr)
    print(
        f"soak: {result.images.rps:,.0f} req/s, socket errors {result.images.socket_errors}, "
        f"non-2xx {result.images.non_2xx}, loads {result.churn.loads}, unloads "
        f"{result.churn.unloads}, control failures "
        f"{result.churn.failures + result.churn.exceptions}",
        file=sys.stderr,
        flush=True,
    )
    return result


def _repetitions(
    options: Options,
    generator: LoadGenerator,
    targets: dict[str, Target],
    cells: list[Cell],
    lists: dict[tuple[Workload, str], list[Request] | None],
) -> dict[Cell, list[LoadResult]]:
    """Run every cell once per repetition, in order, `options.repeat` times."""
    results: dict[Cell, list[LoadResult]] = {cell: [] for cell in cells}
    for repetition in range(1, options.repeat + 1):
        for cell in cells:
            target = targets[cell.server]
            during = f"{cell.workload.value} c={cell.concurrency}, repetition {repetition}"
            cpu_before = target.cpu_seconds()
            try:
                result = generator.run(
                    f"{cell.server}-{cell.workload.name}",
                    target.base_url,
                    lists[(cell.workload, cell.server)] or [],
                    cell.concurrency,
                    options.seconds,
                )
            except BenchError:
                target.check_alive(during)  # a dead server explains a failed run best
                raise
            target.check_alive(during)
            if result.requests:
                spent = target.cpu_seconds() - cpu_before
                result = replace(result, server_cpu_us=spent / result.requests * 1e6)
            results[cell].append(result)
            _progress(repetition, options.repeat, cell, result)
    return results


def _unsupported(cell: Cell, caps: Capabilities) -> str:
    return caps.revalidate_note if cell.workload is Workload.REVALIDATE else caps.range_note


def _progress(repetition: int, repeat: int, cell: Cell, result: LoadResult) -> None:
    print(
        f"[{repetition}/{repeat}] {cell.workload.value:5} c={cell.concurrency:<3} "
        f"{cell.server:12} {result.rps:>9,.0f} req/s  p99 {result.p99_ms:7.2f} ms  "
        f"errors {result.errors}",
        file=sys.stderr,
        flush=True,
    )


def choose_servers(options: Options, notes: list[str]) -> list[str]:
    """Keep the requested servers this machine can run; say in `notes` why others are not.

    :raise BenchError: our server cannot run, or no reference server is left.
    """
    keys = []
    for key in options.only:
        reason = TARGETS[key].unavailable()
        if reason:
            notes.append(f"`{key}` skipped: {reason}")
        else:
            keys.append(key)
    if "ours" in options.only and "ours" not in keys:
        raise BenchError("our server cannot run here")
    if options.smoke and not set(keys) - {"ours"}:
        raise BenchError("the smoke run needs our server and at least one reference server")
    return keys


def run(options: Options) -> str:
    """Run the whole benchmark and return the report (also written to `options.output`).

    :raise BenchError: a server failed to start or served wrong bytes.
    """
    started = time.time()
    notes = system.ensure_tools() if options.install else []
    if options.sweep_only:
        return _write(options, run_sweep(options))
    keys = choose_servers(options, notes)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        frames = workdir / "frames"
        print(f"writing {options.frames:,} frames ...", file=sys.stderr, flush=True)
        names = data.make_frames(frames, options.frames)
        mean_size = statistics.mean((frames / n).stat().st_size for n in names)
        rows, generator, soaked = measure_servers(options, keys, workdir, frames, names)
        index = None
        if "ours" in keys:
            index = load_index.make_and_measure(
                workdir / "index", options.index_files, load_index.REPEATS
            )
    info = report.RunInfo(
        machine=system.machine(),
        versions=system.versions(),
        generator=generator.description,
        seconds=options.seconds,
        repeat=options.repeat,
        frame_count=options.frames,
        frame_mean_bytes=round(mean_size),
        reference=REFERENCE,
        labels={key: TARGETS[key].label for key in keys},
        notes=notes,
        started=started,
    )
    text = report.render_report(info, rows, index, load_index.REPEATS, soaked)
    if options.sweep:
        text += "\n\n" + run_sweep(replace(options, only=SWEEP_TARGETS))
    return _write(options, text)


def run_sweep(options: Options) -> str:
    """Run the size sweep (`bench/sweep.py`) on the servers this machine has; return it."""
    keys = tuple(k for k in options.only if k == "bare" or not TARGETS[k].unavailable())
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        section = sweep.measure(
            Path(tmp), options.seconds, options.repeat, max(options.concurrency), keys
        )
    return f"{section}\n\n- Machine: {system.machine()}"


def _write(options: Options, text: str) -> str:
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(text + "\n")
    return text
