"""Measure indexing at scale against the real server: `python -m bench.load_index [N]`.

Creates N real JPEG files (default 100,000; one Pillow-encoded frame copied N times), starts
`python server.py` (gunicorn) on a free loopback port with a fresh state dir, and times:
`POST /load-directory`, `GET /`, a listing page deep in the index, and an image request.
Prints a Markdown table and writes it to bench/results/load_index.md.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import ServerProcess  # noqa: E402

REPEATS = 5


def make_folder(folder: Path, count: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (30, 60, 90)).save(buffer, "JPEG")
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"frame_{i:06d}.jpg").write_bytes(data)


def timed(call) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    response = call()
    return (time.perf_counter() - start) * 1000, response


def median_ms(call, repeats: int = REPEATS) -> tuple[float, requests.Response]:
    results = [timed(call) for _ in range(repeats)]
    return statistics.median(r[0] for r in results), results[-1][1]


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "frames"
        start = time.perf_counter()
        make_folder(folder, count)
        print(f"made {count} files in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        server = ServerProcess(Path(tmp) / "state").start()
        try:
            session = requests.Session()
            url = server.url
            rows = []
            load_ms, load = median_ms(
                lambda: session.post(url("/load-directory"), json={"path": str(folder)})
            )
            assert load.status_code == 200 and load.json()["image_count"] == count
            dir_id = load.json()["id"]
            rows.append((f"POST /load-directory ({count:,} files)", load_ms, len(load.content)))
            status_ms, status = median_ms(lambda: session.get(url("/")))
            rows.append(("GET / (full image_list)", status_ms, len(status.content)))
            offset = max(0, count - 1000)
            page_ms, page = median_ms(
                lambda: session.get(url(f"/api/directories/{dir_id}/images?offset={offset}"))
            )
            rows.append((f"listing page, offset {offset:,}", page_ms, len(page.content)))
            image_ms, image = median_ms(lambda: session.get(url(f"/d/{dir_id}/frame_000042.jpg")))
            assert image.status_code == 200
            rows.append(("GET /d/<id>/frame_000042.jpg", image_ms, len(image.content)))
        finally:
            server.stop()
    table = render(rows, count)
    print(table)
    out = ROOT / "bench" / "results" / "load_index.md"
    out.write_text(table + "\n")
    return 0


def render(rows: list[tuple[str, float, int]], count: int) -> str:
    lines = [
        f"Indexing at {count:,} files, median of {REPEATS}, {time.strftime('%Y-%m-%d')},"
        f" {os.cpu_count()} cores",
        "",
        "| what | ms | bytes |",
        "|---|---:|---:|",
    ]
    lines += [f"| {what} | {ms:.1f} | {size:,} |" for what, ms, size in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
