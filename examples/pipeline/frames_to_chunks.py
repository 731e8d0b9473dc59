"""The pipeline this server was built for, end to end: video -> frames -> URLs -> chunks.

    python examples/pipeline/frames_to_chunks.py --video talk.mp4 --transcript talk.txt
    python examples/pipeline/frames_to_chunks.py            # demo: generated frames, sample text

1. frames: `--video` is cut into `--fps` frames per second with ffmpeg; without a video,
   demo frames are made (ffmpeg's test pattern when ffmpeg is installed, else Pillow);
2. load: the frames folder is loaded with `load_folder_v2.py` (the default, as document
   processors do it) or with the HTTP API (`--via api`);
3. the JSON of stable URLs (`<work>/json/<name>.json`);
4. the chunk file `<work>/chunks.jsonl`: one line per transcript chunk with the stable
   URLs of the frames on screen while it was spoken, ready for embedding or a RAG index.

The server must be running (`python server.py`) and allowed to read `--work`
(`IMAGE_SERVER_ALLOWED_ROOTS`). Prints the chunk file's path; exit status 0, or 1 with
one line on stderr. `recording_to_model.py` is the server-side path: the server cuts the
recording itself (no ffmpeg here), keeps the unique frames and draws contact sheets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlsplit

import chunks
import frames

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
SAMPLE_TRANSCRIPT = HERE / "sample_transcript.txt"
# The CLI's exit status 3 means some HEAD checks failed; its JSON is still complete.
CLI_CHECKS_FAILED = 3


class PipelineError(RuntimeError):
    """A step failed; the message says which."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the flags (see --help)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to cut into frames (needs ffmpeg)")
    parser.add_argument("--transcript", type=Path, default=SAMPLE_TRANSCRIPT)
    parser.add_argument("--fps", type=float, default=1.0, help="frames per second (default 1)")
    parser.add_argument("--count", type=int, default=12, help="demo frames (default 12)")
    parser.add_argument("--no-ffmpeg", action="store_true", help="draw demo frames with Pillow")
    parser.add_argument("--name", help="name of this run (default: the video's name, or demo)")
    parser.add_argument("--work", type=Path, help="folder for frames, JSON, chunks")
    parser.add_argument(
        "--server", default=os.environ.get("IMAGE_SERVER_URL", "http://localhost:7779")
    )
    parser.add_argument("--via", choices=("cli", "api"), default="cli")
    parser.add_argument("--timeout", type=int, help="auto-unload after this many minutes")
    args = parser.parse_args(argv)
    args.name = args.name or (args.video.stem if args.video else "demo")
    args.work = (args.work or PROJECT / "output" / "pipeline" / args.name).resolve()
    return args


def make_frames(args: argparse.Namespace) -> Path:
    """Step 1: write the frames into `<work>/frames` and return that folder."""
    folder = args.work / "frames"
    try:
        if args.video:
            made = frames.extract(args.video, folder, args.fps)
        else:
            made = frames.demo(folder, args.count, args.fps, use_ffmpeg=not args.no_ffmpeg)
    except frames.FramesError as exc:
        raise PipelineError(str(exc)) from None
    if not made:
        raise PipelineError(f"no frames were made in {folder}")
    return folder


def urls_with_cli(args: argparse.Namespace, folder: Path) -> list[str]:
    """Steps 2 and 3 with `load_folder_v2.py`: load, check, and read its JSON of URLs."""
    json_dir = args.work / "json"
    command = [sys.executable, str(PROJECT / "load_folder_v2.py"), "--dir", str(folder),
               "--server", args.server, "--output", str(json_dir), "--name", args.name,
               "--quiet"]  # fmt: skip
    if args.timeout is not None:
        command += ["--timeout", str(args.timeout)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode not in (0, CLI_CHECKS_FAILED):
        status, why = result.returncode, result.stderr.strip()
        raise PipelineError(f"load_folder_v2.py failed ({status}): {why}")
    if result.returncode == CLI_CHECKS_FAILED:
        print(f"warning: some URL checks failed:\n{result.stderr.strip()}", file=sys.stderr)
    return json.loads((json_dir / f"{args.name}.json").read_text(encoding="utf-8"))["image_urls"]


def urls_with_api(args: argparse.Namespace, folder: Path) -> list[str]:
    """Steps 2 and 3 with the HTTP API: load, page through the listing, write the JSON."""
    body = {"path": str(folder), "timeout_minutes": args.timeout}
    loaded = _call("POST", f"{args.server}/load-directory", body)
    url, names = f"{args.server}/api/directories/{loaded['id']}/images?limit=1000", []
    while url:
        page = _call("GET", url)
        names.extend(image["url"] for image in page["images"])
        url = page["next"]
    document = {"directory": loaded["directory"], "id": loaded["id"], "count": len(names)}
    write_atomically(args.work / "json" / f"{args.name}.json",
                     json.dumps({**document, "image_urls": names}, indent=2) + "\n")  # fmt: skip
    return names


def _call(method: str, url: str, body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if os.environ.get("IMAGE_SERVER_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['IMAGE_SERVER_TOKEN']}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except OSError as exc:  # URLError and HTTPError are OSErrors
        detail = exc.read().decode(errors="replace") if hasattr(exc, "read") else exc
        raise PipelineError(f"{method} {url}: {exc} {detail}") from None


def frame_list(urls: list[str], fps: float) -> list[chunks.Frame]:
    """Name and timestamp each stable URL (`.../d/<id>/<name>`)."""
    listed = []
    for url in urls:
        name = unquote(urlsplit(url).path.split("/d/", 1)[1].split("/", 1)[1])
        listed.append(chunks.Frame(name, url, frames.timestamp(name, fps)))
    return listed


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    """Run the four steps; print the chunk file's path."""
    args = parse_args(argv)
    args.server = args.server.rstrip("/")
    folder = make_frames(args)
    urls = (urls_with_api if args.via == "api" else urls_with_cli)(args, folder)
    shown = frame_list(urls, args.fps)
    duration = max(frame.at for frame in shown) + 1 / args.fps
    text = args.transcript.read_text(encoding="utf-8")
    spans = chunks.with_spans(chunks.parse_transcript(text), duration)
    records = chunks.chunk_records(args.name, spans, shown)
    target = args.work / "chunks.jsonl"
    write_atomically(target, "".join(json.dumps(record) + "\n" for record in records))
    print(f"{len(shown)} frames, {len(records)} chunks", file=sys.stderr)
    print(target)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
