"""Render the results as Markdown: the throughput table and the large-directory figures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from bench import goals
from bench import system
from bench.model import IndexMeasurement
from bench.model import Row
from bench.model import Summary
from bench.model import Workload
from bench.soak import SoakResult

NOT_AVAILABLE = "n/a"


@dataclass(frozen=True)
class RunInfo:
    """Everything the report says about how the numbers were obtained."""

    machine: str
    versions: dict[str, str]
    generator: str
    seconds: float
    repeat: int
    frame_count: int
    frame_mean_bytes: int
    reference: str
    labels: dict[str, str]  # server key -> what it is
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _ratio(summary: Summary, reference: Summary | None) -> str:
    if reference is None or reference.rps == 0:
        return NOT_AVAILABLE
    return f"{summary.rps / reference.rps:.2f}"


def _row_cells(row: Row, reference: Summary | None) -> list[str]:
    head = [row.workload.value, str(row.concurrency), row.server]
    if row.summary is None:
        return head + [f"{NOT_AVAILABLE} ({row.note})", "", "", "", ""]
    s = row.summary
    return head + [
        f"{s.rps:,.0f}",
        _ms(s.p50_ms),
        _ms(s.p99_ms),
        str(s.errors),
        _ratio(s, reference),
    ]


def render_table(rows: Sequence[Row], reference: str) -> str:
    """Return the throughput table; ratios are to `reference` at the same workload and c."""
    by_cell = {(r.workload, r.concurrency, r.server): r.summary for r in rows}
    lines = [
        f"| workload | c | server | req/s | p50 ms | p99 ms | errors | vs {reference} |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ref = by_cell.get((row.workload, row.concurrency, reference))
        lines.append("| " + " | ".join(_row_cells(row, ref)) + " |")
    return "\n".join(lines)


def render_cpu(rows: Sequence[Row], reference: str) -> str:
    """Return the server CPU per request of every measured cell, and its ratio to `reference`.

    CPU time is what a request costs the server whoever else runs on the machine, so it
    compares servers more steadily than requests per second on a shared, noisy host.
    """
    by_cell = {(r.workload, r.concurrency, r.server): r.summary for r in rows}
    lines = [
        f"| workload | c | server | server CPU us/request | x {reference} |",
        "|---|---:|---|---:|---:|",
    ]
    for row in rows:
        s = row.summary
        if s is None or s.cpu_us is None:
            continue
        ref = by_cell.get((row.workload, row.concurrency, reference))
        ratio = f"{s.cpu_us / ref.cpu_us:.1f}" if ref and ref.cpu_us else NOT_AVAILABLE
        cells = (row.workload.value, str(row.concurrency), row.server, f"{s.cpu_us:.1f}", ratio)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_soak(soak: SoakResult) -> str:
    """Return the soak table: the images' figures and the load/unload client's counts."""
    images, churn = soak.images, soak.churn
    non_2xx = NOT_AVAILABLE if images.non_2xx is None else str(images.non_2xx)
    lines = [
        "| soak | c | s | image req/s | p99 ms | socket errors | >= 400 | non-2xx "
        "| loads | unloads | control failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| GET images + load/unload loop | {soak.concurrency} | {soak.seconds:g} "
        f"| {images.rps:,.0f} | {_ms(images.p99_ms)} | {images.socket_errors} "
        f"| {images.status_errors} | {non_2xx} | {churn.loads} | {churn.unloads} "
        f"| {churn.failures + churn.exceptions} |",
    ]
    if churn.first_problem:
        lines += ["", f"First control problem: {churn.first_problem}"]
    if not soak.server_survived:
        lines += ["", "Our server's main process exited during the soak."]
    return "\n".join(lines)


def peer_ratios(rows: Sequence[Row], reference: str) -> list[str]:
    """Return one line per other server: ours divided by it, GET at the highest c."""
    top = max(row.concurrency for row in rows)
    get = {r.server: r.summary for r in rows if r.workload is Workload.GET and r.concurrency == top}
    ours = get.get("ours")
    if ours is None:
        return []
    return [
        f"- GET c={top}: ours / {server} = {ours.rps / summary.rps:.2f}"
        for server, summary in get.items()
        if server != "ours" and summary is not None and summary.rps > 0
    ]


def index_lines(m: IndexMeasurement) -> list[tuple[str, str]]:
    """Return (what, value) pairs for the large-directory measurement."""
    grown = m.rss_after - m.rss_before
    return [
        (f"`POST /load-directory` ({m.count:,} files)", f"{m.load_ms:.0f} ms"),
        ("of which the first load (a new folder)", f"{m.first_load_ms:.0f} ms"),
        ("and the re-loads (the same files), median", f"{m.reload_ms:.0f} ms"),
        ("`GET /` (full `image_list`)", f"{_ms(m.status_ms)} ms, {m.status_bytes:,} bytes"),
        (
            f"listing page `?offset={m.page_offset}&limit=1000`",
            f"{_ms(m.page_ms)} ms, {m.page_bytes:,} bytes",
        ),
        ("one image by stable URL", f"{_ms(m.image_ms)} ms"),
        (
            "server RSS per indexed file",
            f"{m.rss_per_file:,.0f} bytes ({grown / 2**20:+.1f} MiB over {m.processes} "
            f"processes, {m.rss_after / 2**20:.0f} MiB in all)",
        ),
    ]


def render_index(m: IndexMeasurement, repeats: int) -> str:
    """Return the large-directory table (times are medians of `repeats`)."""
    lines = [
        f"| ours with {m.count:,} files in one directory (median of {repeats}) | value |",
        "|---|---:|",
    ]
    lines += [f"| {what} | {value} |" for what, value in index_lines(m)]
    return "\n".join(lines)


def render_index_standalone(m: IndexMeasurement, repeats: int) -> str:
    """Return the table `python -m bench.load_index` prints, with its date line."""
    when = time.strftime("%Y-%m-%d")
    return f"Indexing, {when}, {system.machine()}\n\n{render_index(m, repeats)}"


def render_report(
    info: RunInfo,
    rows: Sequence[Row],
    index: IndexMeasurement | None,
    index_repeats: int,
    soak: SoakResult | None = None,
) -> str:
    """Return the whole report: how it was measured, the table, the large-directory table."""
    versions = ", ".join(f"{name} {version}" for name, version in info.versions.items())
    parts = [
        "# Image serving on loopback: ours against reference servers",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M', time.localtime(info.started))}",
        f"- Machine: {info.machine}",
        f"- Versions: {versions}",
        f"- Load: {info.generator}; {info.seconds:g} s per run, median of {info.repeat} "
        "(repetitions interleaved across servers); errors = socket errors + responses >= 400, "
        "summed over repetitions",
        f"- Data: {info.frame_count:,} JPEG frames 1280x720, {info.frame_mean_bytes / 1000:.1f} KB "
        "on average; `304` sends each frame's ETag in If-None-Match, `Range` asks "
        "`bytes=0-1023`",
        "- The client and the servers share the same cores of a noisy machine: the ratios of "
        "one run are what count, not absolute numbers compared across runs.",
        *(f"- Note: {note}" for note in info.notes),
        "",
        render_table(rows, info.reference),
        "",
        *(f"- `{key}`: {label}" for key, label in info.labels.items()),
        "",
        *peer_ratios(rows, info.reference),
        "",
        render_cpu(rows, info.reference),
    ]
    if soak is not None:
        parts += ["", render_soak(soak)]
    if "ours" in info.labels:
        checked = [*goals.throughput_goals(rows, info.reference), goals.soak_goal(soak)]
        parts += ["", goals.render_goals(checked)]
    if index is not None:
        parts += ["", render_index(index, index_repeats)]
    return "\n".join(parts)
