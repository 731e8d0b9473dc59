"""A day of recordings (issue 29) end to end on the real server: `python -m bench.recording_day`.

One run, on a 1080p30 H.264 screen recording of `--minutes` (default 21; made once by
`bench/screen_video.py` and kept in `bench/results/recording_day/`):

1. `python server.py` (2 workers, a temp state folder, a clean environment,
   `IMAGE_SERVER_FRAMES_CACHE_MB=0`) on a free loopback port; its idle PSS (granian's master
   and workers, `bench/proc_memory.py`).
2. `POST /load-directory` with the video and the default body (no `wait`: the answer comes
   within 20 s): the answer's time and `extraction.state`; then `GET /api/directories/<id>`
   until the extraction ends: time to done, frames, the peak PSS of the web server and of the
   extraction process meanwhile, and the disk the frames take (`du` of `<state>/frames`).
3. The idle PSS once the extraction process is gone; `DELETE /api/directories/<id>` and the
   disk the frames take after it.
4. `ffmpeg -i rec.mp4 -vf fps=1 out_%06d.jpg` on the same file, for the ratio.

Prints a Markdown table and writes the numbers to `bench/results/recording_day.json`.
`--smoke` is the same on 5 s at 320x180 (seconds, for tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from bench.proc_memory import PeakSampler
from bench.proc_memory import tree_memory
from bench.screen_video import cached_screen_video
from bench.screen_video import ffmpeg_binary
from imageserver.settings.table import SETTINGS
from tests.support.server import ServerProcess
from tests.support.waiting import WaitTimeout
from tests.support.waiting import wait_until

RESULTS = Path(__file__).resolve().parent / "results"
CACHE_SETTING = "IMAGE_SERVER_FRAMES_CACHE_MB"
MB = 1024 * 1024
SETTLE_SECONDS = 2.0  # for freed memory to show in PSS, and a new worker to finish starting


def du_bytes(folder: Path) -> int:
    """Disk used under `folder` (allocated blocks, as `du` counts them); 0 when absent."""
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            with contextlib.suppress(OSError):  # deleted while we walk
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def file_count(folder: Path) -> int:
    """Files under `folder` (0 when absent)."""
    return sum(len(files) for _, _, files in os.walk(folder))


def idle_server(server: ServerProcess, when: str) -> dict[str, float]:
    """PSS and USS (MB) of the idle web server: both workers asked something, then left alone."""
    for _ in range(4):  # fresh connections, so both workers have answered at least once
        requests.get(server.url("/api/directories"), timeout=30).raise_for_status()
    time.sleep(SETTLE_SECONDS)
    samples = [tree_memory(server.process.pid) for _ in range(3)]
    return {
        f"idle_pss_{when}_mb": min(m.server_kib for m in samples) / 1024,
        f"idle_uss_{when}_mb": min(m.server_uss_kib for m in samples) / 1024,
        f"server_pids_{when}": sorted(samples[-1].server_pids),  # shows a replaced worker
    }


def extraction_gone(server: ServerProcess) -> bool:
    """Tell whether no probe or extraction process runs under the server any more."""
    return not tree_memory(server.process.pid).extraction_pids


def follow(server: ServerProcess, dir_id: str, deadline: float) -> dict[str, Any]:
    """Poll the directory until its extraction is no longer running; return the last answer."""
    while True:
        body = requests.get(server.url(f"/api/directories/{dir_id}"), timeout=60).json()
        if body["extraction"]["state"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def load_and_unload(server: ServerProcess, video: Path, seconds: float) -> dict[str, Any]:
    """Steps 1 to 3 on a started server; the measured numbers."""
    frames_dir = server.state_dir / "frames"
    out: dict[str, Any] = idle_server(server, "before")
    with PeakSampler(server.process.pid) as sampler:
        t0 = time.perf_counter()
        answer = requests.post(
            server.url("/load-directory"), json={"path": str(video)}, timeout=120
        )
        out["load_answer_s"] = time.perf_counter() - t0
        if answer.status_code != 200:
            raise SystemExit(f"error: the load answered {answer.status_code}: {answer.text}")
        body = answer.json()
        out["answer_state"] = body["extraction"]["state"]
        out["answer_image_count"] = body["image_count"]
        final = follow(server, body["id"], time.monotonic() + max(600.0, seconds * 2))
        out["time_to_done_s"] = time.perf_counter() - t0
    extraction = final["extraction"]
    out.update(final_state=extraction["state"], detail=extraction.get("detail"))
    out.update(frames=extraction["frames"], duration_s=extraction.get("duration"))
    out["peak_server_pss_mb"] = sampler.peak_server_kib / 1024
    out["peak_extraction_pss_mb"] = sampler.peak_extraction_kib / 1024
    out["extraction_cpu_s"] = sum(sampler.extraction_cpu.values())
    out["frames_disk_mb"] = du_bytes(frames_dir) / MB
    wait_until(lambda: extraction_gone(server), timeout=30, message="the extraction to exit")
    out.update(idle_server(server, "after"))
    gone = requests.delete(server.url(f"/api/directories/{body['id']}"), timeout=60)
    gone.raise_for_status()
    with contextlib.suppress(WaitTimeout):  # kept frames are a result to report, not a crash
        wait_until(lambda: file_count(frames_dir) == 0, timeout=10, message="frames deleted")
    out["disk_after_unload_mb"] = du_bytes(frames_dir) / MB
    out["files_after_unload"] = file_count(frames_dir)
    return out


def serve_and_measure(video: Path, work: Path, workers: int, seconds: float) -> dict[str, Any]:
    """Start the real server, run the day's steps, stop it by its process group."""
    server = ServerProcess(work / "state", env={CACHE_SETTING: "0"}, workers=workers)
    server.start()
    try:
        return load_and_unload(server, video, seconds)
    finally:
        server.stop()


def ffmpeg_reference(video: Path, work: Path) -> dict[str, Any]:
    """`ffmpeg -i rec.mp4 -vf fps=1 out_%06d.jpg`: wall and CPU seconds, frames written."""
    binary = ffmpeg_binary()
    out = work / "ffmpeg"
    out.mkdir()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    command = [binary, "-v", "error", "-y", "-i", str(video), "-vf", "fps=1"]
    subprocess.run([*command, str(out / "out_%06d.jpg")], check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    version = subprocess.run([binary, "-version"], capture_output=True, text=True).stdout
    frames = len(list(out.glob("*.jpg")))
    name = f"{binary} {(version.split()[2:3] or ['?'])[0]}"
    return {
        "ffmpeg": name, "ffmpeg_wall_s": wall, "ffmpeg_cpu_s": cpu, "ffmpeg_frames": frames,
        "ffmpeg_disk_mb": du_bytes(out) / MB,  # its default JPEG quality is lower than ours
    }  # fmt: skip


def table(r: dict[str, Any]) -> str:
    """The Markdown table of one run."""
    speed = r["ffmpeg_wall_s"] / r["time_to_done_s"]
    realtime = r["seconds"] / r["time_to_done_s"]
    cpu = r["ffmpeg_cpu_s"] / max(r["extraction_cpu_s"], 0.01)
    uss = r["idle_uss_after_mb"] - r["idle_uss_before_mb"]
    cache = "" if r["cache_setting_known"] else f" ({CACHE_SETTING} unknown to this server)"
    rows = [
        ("load answer (default body: no `wait`)", f"{r['load_answer_s']:.2f} s",
         f"`extraction.state` {r['answer_state']}, image_count {r['answer_image_count']}"),
        ("time to done (from the POST)", f"{r['time_to_done_s']:.1f} s",
         f"{r['final_state']}, {r['frames']} frames, {realtime:.0f}x real time"
         + (f"; detail: {r['detail']}" if r["detail"] else "")),
        (f"`{r['ffmpeg']} -vf fps=1` (same file)", f"{r['ffmpeg_wall_s']:.1f} s",
         f"{r['ffmpeg_frames']} frames ({r['ffmpeg_disk_mb']:.1f} MB), "
         f"CPU {r['ffmpeg_cpu_s']:.1f} s"),
        ("speed against ffmpeg", f"{speed:.2f}x", "ffmpeg wall / our time to done (aim 2x)"),
        ("CPU against ffmpeg", f"{cpu:.2f}x",
         f"ffmpeg CPU / CPU of our probe and extraction processes ({r['extraction_cpu_s']:.1f} s)"),
        ("idle PSS, fresh", f"{r['idle_pss_before_mb']:.1f} MB",
         f"master and workers; USS {r['idle_uss_before_mb']:.1f} MB"),
        ("peak PSS during extraction, web server", f"{r['peak_server_pss_mb']:.1f} MB",
         "master and workers"),
        ("peak PSS, extraction process", f"{r['peak_extraction_pss_mb']:.1f} MB",
         "its own process"),
        ("idle PSS after, extraction gone", f"{r['idle_pss_after_mb']:.1f} MB",
         f"{r['idle_pss_after_mb'] - r['idle_pss_before_mb']:+.1f} MB from fresh; USS "
         f"{r['idle_uss_after_mb']:.1f} MB ({uss:+.1f} MB)"),
        ("disk of the frames, loaded", f"{r['frames_disk_mb']:.1f} MB", "`du <state>/frames`"),
        ("disk after unload, cache 0", f"{r['disk_after_unload_mb']:.1f} MB",
         "`DELETE /api/directories/<id>`" + cache),
    ]  # fmt: skip
    lines = ["| measure | value | note |", "|---|---:|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def commit() -> str:
    """The checkout's commit, so a number can be tied to the code it measured."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.recording_day", description=__doc__)
    parser.add_argument("--minutes", type=float, default=21.0, help="recording length")
    parser.add_argument("--workers", type=int, default=2, help="the server's workers")
    parser.add_argument("--smoke", action="store_true", help="5 s at 320x180, for tests")
    parser.add_argument("--output", type=Path, help="the JSON (default bench/results/...)")
    parser.add_argument("--workdir", type=Path, help="where temp folders go (default: $TMPDIR)")
    parser.add_argument(
        "--cache", type=Path, default=RESULTS / "recording_day", help="where the video is kept"
    )
    args = parser.parse_args(argv)
    args.seconds = 5.0 if args.smoke else args.minutes * 60
    args.size = (320, 180) if args.smoke else (1920, 1080)
    if args.output is None:
        args.output = RESULTS / ("recording_day_smoke.json" if args.smoke else "recording_day.json")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Make (or reuse) the recording, measure, print the table, write the JSON."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    video = cached_screen_video(args.cache, args.seconds, args.size, 30)
    video.read_bytes()  # both sides start with the video in the page cache
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "video": video.name, "seconds": args.seconds, "size": list(args.size), "fps": 30,
        "workers": args.workers, "cpus": os.cpu_count(), "commit": commit(),
        "load_average_start": os.getloadavg()[0],
        "cache_setting_known": any(s.env == CACHE_SETTING for s in SETTINGS),
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-day-", dir=args.workdir) as tmp:
        result.update(serve_and_measure(video, Path(tmp), args.workers, args.seconds))
        result.update(ffmpeg_reference(video, Path(tmp)))
    result["load_average_end"] = os.getloadavg()[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{video.name}: {args.size[0]}x{args.size[1]} H.264 at 30 fps (libx264 veryfast, "
        f"B-frames), {args.seconds:g} s; {result['cpus']} cores, load average "
        f"{result['load_average_start']:.1f} at the start, {result['load_average_end']:.1f} at "
        f"the end; {result['date']}, commit {result['commit']}"
    )
    print(table(result))
    return 0 if result["final_state"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
