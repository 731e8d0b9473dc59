"""Live folders (issue 16): how soon a written frame is served, and what the watcher costs.

`python -m bench.watch` starts the real server (`python server.py`, granian, 2 workers) on a
free loopback port with a fresh state directory, loads an empty folder with `"watch": true`
and then, for each rate (20 and 200 frames/s by default):

- a writer thread writes `--frames` JPEG frames at that rate (open, write, close);
- reader threads (their own HTTP connections) poll each frame from the moment it was closed
  until the first 200, and record close -> first 200;
- the CPU time of the watcher thread (`live-watcher` in /proc/<pid>/task/*/comm) and of the
  whole server (main process and workers) is read from /proc before and after.

Before the runs it measures the same CPU over `--rest-seconds` with the folder watched and
nothing happening. `--existing 100000` puts that many files in the folder before the load
(a long recording: each frame must still cost a few names, not 100,000; `--workdir
/dev/shm` makes them quickly). The server CPU includes answering the readers' polls.
It prints one table and, with `--json PATH`, writes the numbers there.
Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path

import requests
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WATCHER_THREAD = "live-watcher"
READERS = 4
FRAME_DEADLINE_SECONDS = 10.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    """One line of the table."""

    case: str
    frames: int
    served: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    watcher_cpu_s: float
    server_cpu_s: float
    seconds: float


class Server:
    """`python server.py` in its own process group on a free port."""

    def __init__(self, state_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "IMAGE_SERVER_ENV_FILE": os.devnull,
            "IMAGE_SERVER_HOST": "127.0.0.1",
            "IMAGE_SERVER_PORT": str(self.port),
            "IMAGE_SERVER_STATE_DIR": str(state_dir),
            "IMAGE_SERVER_WORKERS": "2",
            "IMAGE_SERVER_LOG_LEVEL": "warning",
        }
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "server.py")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("bench.watch: the server did not start")

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL it if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

    def cpu(self) -> tuple[float, float]:
        """Return (watcher threads, whole server) CPU seconds so far."""
        watcher = server = 0.0
        for pid in _group(self.process.pid):
            server += _cpu(Path(f"/proc/{pid}/stat"))
            for task in Path(f"/proc/{pid}/task").glob("*"):
                if _comm(task) == WATCHER_THREAD:
                    watcher += _cpu(task / "stat")
        return watcher, server


def _stat_fields(path: Path) -> list[str]:
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu(path: Path) -> float:
    fields = _stat_fields(path)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields else 0.0


def _comm(task: Path) -> str:
    try:
        return (task / "comm").read_text().strip()
    except OSError:
        return ""


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        fields = _stat_fields(Path(f"/proc/{entry}/stat")) if entry.isdigit() else []
        if fields and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def frame_bytes(index: int) -> bytes:
    """A 320x240 JPEG, different for each frame."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (index % 256, (index * 7) % 256, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def run_rate(server: Server, folder: Path, dir_id: str, rate: int, frames: int) -> Row:
    """Write `frames` frames at `rate` per second while readers poll; return the row."""
    payloads = [frame_bytes(i) for i in range(frames)]
    names = [f"r{rate}_{i:06d}.jpg" for i in range(frames)]
    closed: list[float | None] = [None] * frames
    delays: list[float | None] = [None] * frames
    writing_done = threading.Event()
    readers = [
        threading.Thread(
            target=_read, args=(server.base, dir_id, names, closed, delays, k, writing_done)
        )
        for k in range(READERS)
    ]
    cpu_before, started = server.cpu(), time.monotonic()
    for reader in readers:
        reader.start()
    for i, name in enumerate(names):
        time.sleep(max(0.0, started + i / rate - time.monotonic()))
        with open(folder / name, "wb") as handle:
            handle.write(payloads[i])
        closed[i] = time.monotonic()
    writing_done.set()
    for reader in readers:
        reader.join(timeout=FRAME_DEADLINE_SECONDS + 5)
    cpu_after = server.cpu()
    return _row(f"{rate} frames/s", delays, cpu_before, cpu_after, time.monotonic() - started)


def _read(
    base: str,
    dir_id: str,
    names: list[str],
    closed: list[float | None],
    delays: list[float | None],
    offset: int,
    writing_done: threading.Event,
) -> None:
    """Poll this reader's share of the frames (every READERS-th) from close to first 200."""
    session = requests.Session()
    mine = list(range(offset, len(names), READERS))
    give_up = None
    while mine:
        if writing_done.is_set() and give_up is None:
            give_up = time.monotonic() + FRAME_DEADLINE_SECONDS
        if give_up is not None and time.monotonic() > give_up:
            return
        ready = [i for i in mine if closed[i] is not None]
        for i in ready:
            response = session.get(f"{base}/d/{dir_id}/{names[i]}", timeout=5)
            if response.status_code == 200:
                delays[i] = time.monotonic() - closed[i]
                mine.remove(i)
        time.sleep(0.002)


def _row(
    case: str,
    delays: list[float | None],
    cpu_before: tuple[float, float],
    cpu_after: tuple[float, float],
    seconds: float,
) -> Row:
    got = sorted(d for d in delays if d is not None)

    def pct(p: float) -> float | None:
        return round(got[min(len(got) - 1, int(p * len(got)))] * 1000, 1) if got else None

    return Row(
        case=case,
        frames=len(delays),
        served=len(got),
        p50_ms=round(statistics.median(got) * 1000, 1) if got else None,
        p99_ms=pct(0.99),
        max_ms=round(got[-1] * 1000, 1) if got else None,
        watcher_cpu_s=round(cpu_after[0] - cpu_before[0], 3),
        server_cpu_s=round(cpu_after[1] - cpu_before[1], 3),
        seconds=round(seconds, 2),
    )


def measure_rest(server: Server, seconds: float) -> Row:
    """CPU over `seconds` with the folder watched and nothing written."""
    time.sleep(1)  # the first rescan and the workers' first snapshots settle
    before = server.cpu()
    time.sleep(seconds)
    return _row("at rest", [], before, server.cpu(), seconds)


def print_table(rows: list[Row]) -> None:
    """Print the rows as a Markdown table."""
    columns = ["case", "frames", "served", "p50 ms", "p99 ms", "max ms"]
    columns += ["watcher CPU s", "server CPU s", "s"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * 9)
    for r in rows:
        cells = [r.case, r.frames, r.served, r.p50_ms, r.p99_ms, r.max_ms]
        cells += [r.watcher_cpu_s, r.server_cpu_s, r.seconds]
        print("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.watch", description=__doc__)
    parser.add_argument("--rates", default="20,200", help="frames per second, comma-separated")
    parser.add_argument("--frames", type=int, default=200, help="frames written per rate")
    parser.add_argument("--rest-seconds", type=float, default=5.0)
    parser.add_argument(
        "--existing",
        type=int,
        default=0,
        help="files already in the folder before the load (e.g. 100000: a long recording)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the folder is made (default: a temp dir; tmpfs is faster)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-watch-", dir=args.workdir))
    folder = workdir / "frames"
    folder.mkdir()
    for i in range(args.existing):  # empty files: only their names are indexed
        os.close(os.open(folder / f"old_{i:06d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    server = Server(workdir / "state")
    try:
        api = requests.Session()
        body = {"path": str(folder), "watch": True}
        dir_id = api.post(server.base + "/load-directory", json=body, timeout=120).json()["id"]
        _wait_followed(api, server.base, dir_id)
        _warm_up(server.base, dir_id)
        rows = [measure_rest(server, args.rest_seconds)]
        for rate in (int(r) for r in args.rates.split(",")):
            rows.append(run_rate(server, folder, dir_id, rate, args.frames))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"folder with {args.existing} files before the load; {READERS} reader threads")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0 if all(r.served == r.frames for r in rows) else 1


def _warm_up(base: str, dir_id: str) -> None:
    """Make every worker build its snapshot of the folder's names (the first image request
    after a load reads them all: 100,000 names take a few hundred ms) before measuring."""
    for _ in range(READERS * 4):
        with requests.Session() as session:  # new connections spread over the workers
            session.get(f"{base}/d/{dir_id}/warm-up.jpg", timeout=30)


def _wait_followed(api: requests.Session, base: str, dir_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.get(f"{base}/api/directories/{dir_id}", timeout=5).json().get("watch_mode"):
            return
        time.sleep(0.05)
    raise SystemExit("bench.watch: the watcher did not pick the folder up")


if __name__ == "__main__":
    sys.exit(main())
