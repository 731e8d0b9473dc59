"""The command line of `python -m bench`, and the two presets (full run, smoke run)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.model import BenchError
from bench.targets import TARGETS

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "results"
FULL_TARGETS = ("ours", "ours-nometrics", "nginx", "caddy", "flask", "http.server")
# Smoke: our server and the two references that start fastest; nginx only if installed.
SMOKE_TARGETS = ("ours", "nginx", "http.server")
# The size sweep's servers (`bare` is the engine's floor, known only to the sweep).
SWEEP_TARGETS = ("ours", "bare", "nginx", "caddy")
SWEEP_SECONDS = 5.0


@dataclass(frozen=True)
class Options:
    """One run's settings, after the presets and the flags are merged."""

    seconds: float
    repeat: int
    concurrency: tuple[int, ...]
    only: tuple[str, ...]
    frames: int
    index_files: int
    smoke: bool
    install: bool  # apt-get nginx and wrk when missing
    warm_up: bool
    soak_seconds: float  # 0: no soak row
    soak_concurrency: int
    output: Path | None
    sweep: bool = False  # the size sweep (bench/sweep.py) after the main table
    sweep_only: bool = False  # only the size sweep


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser; unset flags stay None so the preset decides."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure our image server against nginx, caddy, Flask and http.server "
        "on loopback, and print one table.",
    )
    parser.add_argument("--duration", type=float, help="seconds per load run (10; smoke 1)")
    parser.add_argument("--repeat", type=int, help="repetitions, the median is kept (3; smoke 1)")
    parser.add_argument("--concurrency", help="connection counts, e.g. 8,64 (8,64; smoke 8)")
    parser.add_argument("--only", help=f"servers to run, from {','.join(TARGETS)}")
    parser.add_argument("--frames", type=int, help="JPEG frames to serve (2000; smoke 50)")
    parser.add_argument(
        "--index-files", type=int, help="files in the large directory (100000; smoke 1000)"
    )
    parser.add_argument(
        "--soak-seconds", type=float, help="seconds of the soak row, 0 for none (60; smoke 2)"
    )
    parser.add_argument(
        "--soak-concurrency", type=int, help="connections of the soak row (256; smoke 16)"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only the size sweep (52 KB, 1 MB, 8 MB; ours, bare, nginx, caddy); 5 s x 3, c=64",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run for CI, no apt-get, well under 30 s"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="also write the report here (default bench/results/latest.md; smoke: nowhere)",
    )
    return parser


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise BenchError(f"--concurrency takes integers joined by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise BenchError(f"--concurrency needs positive integers, got {text!r}")
    return values


def _servers(text: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    keys = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [key for key in keys if key not in TARGETS and key not in extra]
    if unknown or not keys:
        raise BenchError(f"--only: unknown server(s) {unknown}; choose from {', '.join(TARGETS)}")
    return keys


def _pick(value: T | None, smoke_default: T, full_default: T, smoke: bool) -> T:
    """Return the flag's value when given, else the preset's default."""
    if value is not None:
        return value
    return smoke_default if smoke else full_default


def parse(argv: list[str]) -> Options:
    """Parse `argv` into Options.

    :raise BenchError: a flag has a value that makes no sense.
    """
    args = build_parser().parse_args(argv)
    smoke = args.smoke
    if args.sweep:
        return Options(
            seconds=args.duration or SWEEP_SECONDS,
            repeat=args.repeat or 3,
            concurrency=_int_list(args.concurrency or "64"),
            only=_servers(args.only, SWEEP_TARGETS) if args.only else SWEEP_TARGETS,
            frames=1,
            index_files=1,
            smoke=False,
            install=True,
            warm_up=True,
            soak_seconds=0,
            soak_concurrency=1,
            output=args.output or RESULTS / "sweep.md",
            sweep=True,
            sweep_only=True,
        )
    options = Options(
        seconds=_pick(args.duration, 1.0, 10.0, smoke),
        repeat=_pick(args.repeat, 1, 3, smoke),
        concurrency=_int_list(_pick(args.concurrency, "8", "8,64", smoke)),
        only=_pick(_servers(args.only) if args.only else None, SMOKE_TARGETS, FULL_TARGETS, smoke),
        frames=_pick(args.frames, 50, 2000, smoke),
        index_files=_pick(args.index_files, 1000, 100_000, smoke),
        smoke=smoke,
        install=not smoke,
        warm_up=not smoke,
        soak_seconds=_pick(args.soak_seconds, 2.0, 60.0, smoke),
        soak_concurrency=_pick(args.soak_concurrency, 16, 256, smoke),
        output=_pick(args.output, None, RESULTS / "latest.md", smoke),
        sweep=not smoke,
    )
    if options.seconds <= 0 or options.repeat < 1 or options.frames < 1 or options.index_files < 1:
        raise BenchError("--duration, --repeat, --frames and --index-files must be positive")
    if options.soak_seconds < 0 or options.soak_concurrency < 1:
        raise BenchError("--soak-seconds must be 0 or more and --soak-concurrency positive")
    return options
