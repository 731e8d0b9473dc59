"""Measure variant latency against the real server: `python -m bench.variants [COLD] [WARM]`.

Starts `python server.py` (granian, 2 workers) on a free loopback port with a temporary
state dir and variant cache (`IMAGE_SERVER_ENV_FILE=/dev/null`: no developer `.env`), loads
a folder of distinct 1920x1080 JPEG frames and times, over one keep-alive connection:

- cold: `?preset=claude` on a frame never asked before (a distinct source file each time,
  so each is a real decode, resize, encode and cache write);
- warm: the same variant again (a cache hit, sent by the native image path);
- the original, and the original through Flask (`?via=bench`: an unknown parameter skips
  the image fast path), since a variant always goes through Flask.

Prints a Markdown table of medians and writes it to bench/results/variants.md. The main
benchmark can call `measure()` and get the rows.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from PIL import Image
from PIL import ImageDraw

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "variants.md"
FRAME_SIZE = (1920, 1080)
START_DEADLINE_SECONDS = 30
COLD_TARGET_MS = 60.0
WARM_TARGET_RATIO = 1.2


def make_frames(folder: Path, count: int) -> list[str]:
    """Write `count` distinct screen-recording-like 1920x1080 JPEG frames; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.linear_gradient("L").resize(FRAME_SIZE).convert("RGB")
    names = []
    for index in range(count):
        frame = base.copy()
        draw = ImageDraw.Draw(frame)
        for panel in range(16):
            x, y = (panel * 211 + index * 37) % 1700, (panel * 97 + index * 23) % 960
            draw.rectangle((x, y, x + 220, y + 120), fill=((panel * 50 + index) % 256, 80, 150))
            draw.text((x + 10, y + 10), f"frame {index} window {panel}", fill=(255, 255, 255))
        name = f"frame_{index:06d}.jpg"
        frame.save(folder / name, quality=90)
        names.append(name)
    return names


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(state: Path, workers: int = 2) -> Iterator[str]:
    """Run `python server.py` on a free loopback port; yield its base URL; stop it after."""
    port = _free_port()
    env = {
        **os.environ,
        "IMAGE_SERVER_ENV_FILE": os.devnull,
        "IMAGE_SERVER_HOST": "127.0.0.1",
        "IMAGE_SERVER_PORT": str(port),
        "IMAGE_SERVER_STATE_DIR": str(state / "state"),
        "IMAGE_SERVER_VARIANT_CACHE_DIR": str(state / "variants"),
        "IMAGE_SERVER_WORKERS": str(workers),
        "IMAGE_SERVER_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    with open(state / "server.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "server.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(process, base)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)


def _wait_until_ready(process: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up (see server.log)")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not answer in time")


def _timed_ms(call: Callable[[], requests.Response]) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{response.url} answered {response.status_code}: {response.text}")
    return elapsed


def measure(cold_samples: int = 15, warm_samples: int = 50) -> list[dict]:
    """Time `?preset=claude` cold and warm and the original; return one dict per row.

    Each row: `what`, `median_ms`, `samples`, `bytes`, `ratio` (to the original).
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_frames(root / "frames", cold_samples + 2)
        with running_server(root) as base, requests.Session() as session:
            load = session.post(f"{base}/load-directory", json={"path": str(root / "frames")})
            load.raise_for_status()
            prefix = f"{base}/d/{load.json()['id']}/"
            # One keep-alive connection stays on one worker: warm its imports first.
            warm_name, spare_name, cold_names = names[0], names[1], names[2:]
            for url in (prefix + spare_name, prefix + spare_name + "?preset=thumb"):
                session.get(url).raise_for_status()
            urls = {
                "original (fast path)": prefix + warm_name,
                "original through Flask": prefix + warm_name + "?via=bench",
                "preset=claude warm (cache hit)": prefix + warm_name + "?preset=claude",
            }
            timings: dict[str, list[float]] = {}
            sizes: dict[str, int] = {}
            cold = [
                _timed_ms(lambda n=n: session.get(f"{prefix}{n}?preset=claude")) for n in cold_names
            ]
            for what, url in urls.items():
                sizes[what] = len(session.get(url).content)  # also makes the warm variant
                timings[what] = [
                    _timed_ms(lambda u=url: session.get(u)) for _ in range(warm_samples)
                ]
            sizes["preset=claude cold (decode, resize, encode, write)"] = sizes[
                "preset=claude warm (cache hit)"
            ]
            timings["preset=claude cold (decode, resize, encode, write)"] = cold
    original = statistics.median(timings["original (fast path)"])
    return [
        {
            "what": what,
            "median_ms": round(statistics.median(samples), 2),
            "samples": len(samples),
            "bytes": sizes[what],
            "ratio": round(statistics.median(samples) / original, 2),
        }
        for what, samples in timings.items()
    ]


def render(rows: list[dict]) -> str:
    """Return the rows as a Markdown table, with the targets of the issue."""
    lines = [
        f"Variant latency, {FRAME_SIZE[0]}x{FRAME_SIZE[1]} JPEG frames, real granian server, "
        f"one keep-alive connection ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)",
        "",
        "| what | median ms | samples | bytes | x original |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = (r["what"], f"{r['median_ms']:.2f}", r["samples"], f"{r['bytes']:,}", r["ratio"])
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    by_name = {r["what"].split(" (")[0]: r for r in rows}
    cold = by_name["preset=claude cold"]["median_ms"]
    warm = by_name["preset=claude warm"]["ratio"]
    cold_verdict = "met" if cold < COLD_TARGET_MS else "missed"
    warm_verdict = "met" if warm <= WARM_TARGET_RATIO else "missed"
    lines += [
        "",
        f"Targets: cold under {COLD_TARGET_MS:.0f} ms ({cold_verdict}); warm within "
        f"{WARM_TARGET_RATIO}x of the original ({warm_verdict}: {warm:.2f}x).",
        f"Load average while measuring: {os.getloadavg()[0]:.1f}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Run the benchmark, print the table and save it under bench/results/."""
    cold = int(argv[0]) if argv else 15
    warm = int(argv[1]) if len(argv) > 1 else 50
    table = render(measure(cold, warm))
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
