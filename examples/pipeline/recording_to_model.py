"""A recording in, unique frames out, one contact sheet per N frames sent to a vision model.

    python examples/pipeline/recording_to_model.py talk.mp4                  # 1 frame/s, 9/sheet
    python examples/pipeline/recording_to_model.py talk.mp4 --scene 0.3 --per-sheet 16
    python examples/pipeline/recording_to_model.py talk.mp4 --dry-run       # no model call

Everything happens on the server; this script only speaks HTTP (standard library):

1. `POST /load-directory` with `{"path": <video>, "frames": {"fps": F}}` (or `{"scene": T}`)
   and `"wait": false`: the server cuts the recording in the background; the script follows
   its `extraction` (`GET /api/directories/<id>`) until every frame is written;
2. `GET /api/directories/<id>/images?unique=true&facts=true`: only the frames that differ
   from the previous kept one (a moving cursor or a ticking clock is not a change), with
   their time `t`, `t_to` (the last near-duplicate dropped after it) and their size;
3. one contact sheet URL per `--per-sheet` kept frames (default 9):
   `/d/<id>/sheet?names=...&preset=claude`, a labelled grid the model reads in one image.
   A server that signs URLs (`IMAGE_SERVER_SIGNING_KEY`: its listing URLs carry `sig`) signs
   the sheet URLs too: the script asks it for each one, `GET /api/directories/<id>/sheet-url`;
4. each sheet URL goes to an OpenAI-style chat completions endpoint as an `image_url` part
   (`--model-url`, default `OPENAI_BASE_URL` or https://api.openai.com/v1; key in
   `OPENAI_API_KEY`; `--dry-run` skips the model). The model fetches the URL itself, so the
   server must be reachable from it (NGROK_SETUP.md).

Writes `--out` (default `output/pipeline/<video name>/model.json`): the video, the directory
id, the counts, and per sheet its URL, the frames it covers (`name`, `t`, `t_to`, `url`) and
the model's answer. Prints that path; exit status 0, or 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
sys.path.insert(0, str(PROJECT / "examples" / "python"))

from imageserver_client import ExampleError  # noqa: E402
from imageserver_client import get_json  # noqa: E402
from imageserver_client import post_json  # noqa: E402

DEFAULT_SERVER = "http://localhost:7779"
DEFAULT_MODEL_URL = "https://api.openai.com/v1"
DEFAULT_PROMPT = (
    "This is a contact sheet of a screen recording: each cell is one distinct screen, "
    "labelled with its time. Describe what happens, screen by screen, citing the times."
)
MAX_SHEET_FRAMES = 36  # the server's limit per sheet (docs/API.md#contact-sheets)
POLL_SECONDS = 1.0  # how often a running extraction is asked about


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the flags (see --help)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="the recording, a path on the server's machine")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--fps", type=float, help="frames per second to cut (default 1)")
    how.add_argument(
        "--scene", type=float, help="one frame per new screen, T: share changed (0.3; docs/API.md)"
    )
    parser.add_argument("--per-sheet", type=int, default=9, help="frames per sheet (default 9)")
    parser.add_argument("--preset", default="claude", help="sheet preset (default claude)")
    parser.add_argument("--distance", type=int, help="near-duplicate distance (server default)")
    parser.add_argument("--server", default=os.environ.get("IMAGE_SERVER_URL", DEFAULT_SERVER))
    parser.add_argument("--model-url", default=os.environ.get("OPENAI_BASE_URL", DEFAULT_MODEL_URL))
    parser.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--dry-run", action="store_true", help="build the sheets, ask no model")
    parser.add_argument("--timeout", type=int, help="auto-unload after this many minutes")
    parser.add_argument("--out", type=Path, help="the JSON result")
    args = parser.parse_args(argv)
    if not 1 <= args.per_sheet <= MAX_SHEET_FRAMES:
        parser.error(f"--per-sheet must be 1 to {MAX_SHEET_FRAMES}")
    args.server = args.server.rstrip("/")
    args.model_url = args.model_url.rstrip("/")
    args.out = (
        args.out or PROJECT / "output" / "pipeline" / args.video.stem / "model.json"
    ).resolve()
    return args


def server_headers() -> dict[str, str]:
    """The control API's bearer token, when the server is locked."""
    token = os.environ.get("IMAGE_SERVER_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def load_video(args: argparse.Namespace) -> dict[str, Any]:
    """Step 1: have the server cut the recording; return the load answer."""
    frames = {"scene": args.scene} if args.scene is not None else {"fps": args.fps or 1.0}
    # The path is read on the server's machine; a local file is sent as an absolute path.
    path = args.video.resolve() if args.video.exists() else args.video
    body: dict[str, Any] = {"path": str(path), "frames": frames, "wait": False}
    if args.timeout is not None:
        body["timeout_minutes"] = args.timeout
    return post_json(f"{args.server}/load-directory", body, server_headers())


def wait_for_frames(args: argparse.Namespace, loaded: dict[str, Any]) -> dict[str, Any]:
    """Step 1, continued: poll the directory until its extraction ends; return it then.

    A server that extracts before answering has no `extraction`: nothing to wait for.
    :raise ExampleError: the extraction failed (the server's `detail` says why).
    """
    url = f"{args.server}/api/directories/{quote(loaded['id'], safe='')}"
    extraction = loaded.get("extraction")
    while extraction and extraction.get("state") == "running":
        time.sleep(POLL_SECONDS)
        loaded = get_json(url, server_headers())
        extraction = loaded.get("extraction")
    if extraction and extraction.get("state") == "failed":
        raise ExampleError(f"extracting the frames failed: {extraction.get('detail')}")
    return loaded


def unique_frames(args: argparse.Namespace, dir_id: str) -> list[dict[str, Any]]:
    """Step 2: every kept frame (`unique=true&facts=true`), following `next`."""
    query = {"unique": "true", "facts": "true", "limit": 1000}
    if args.distance is not None:
        query["distance"] = args.distance
    url: str | None = f"{args.server}/api/directories/{quote(dir_id)}/images?{urlencode(query)}"
    kept: list[dict[str, Any]] = []
    while url:
        page = get_json(url, server_headers())
        kept.extend(page["images"])
        url = page["next"]
    return kept


def sheet_url(prefix: str, names: list[str], preset: str) -> str:
    """Step 3: the contact sheet of `names` under the directory's `/d/<id>/` prefix."""
    query = urlencode({"names": ",".join(names), "preset": preset}, safe=",/")
    return f"{prefix}sheet?{query}"


def is_signed(url: str) -> bool:
    """Tell whether the server signed a listed URL (then only it can sign a sheet's)."""
    return "sig" in parse_qs(urlsplit(url).query)


def signed_sheet_url(args: argparse.Namespace, dir_id: str, names: list[str]) -> str:
    """Step 3 on a signing server: the server builds and signs the sheet URL."""
    query = urlencode({"names": ",".join(names), "preset": args.preset}, safe=",/")
    path = f"/api/directories/{quote(dir_id, safe='')}/sheet-url?{query}"
    return get_json(f"{args.server}{path}", server_headers())["url"]


def model_key(args: argparse.Namespace) -> str | None:
    """The model's key (`OPENAI_API_KEY`); None for a dry run. :raise ExampleError: unset."""
    if args.dry_run:
        return None
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ExampleError("set OPENAI_API_KEY (or pass --dry-run)")
    return key


def ask_model(args: argparse.Namespace, key: str, url: str) -> str:
    """Step 4: send one sheet URL as an `image_url` part; return the model's text."""
    body = {
        "model": args.model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": args.prompt},
                    {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                ],
            }
        ],
        "max_completion_tokens": 600,
    }
    answer = post_json(
        f"{args.model_url}/chat/completions", body, {"Authorization": f"Bearer {key}"}
    )
    return answer["choices"][0]["message"]["content"]


def covered(frame: dict[str, Any]) -> dict[str, Any]:
    """What the result keeps of one kept frame."""
    keys = ("name", "t", "t_to", "duplicates", "url", "width", "height")
    return {key: frame[key] for key in keys if key in frame}


def run_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """Steps 1-4; return the result written to `--out`."""
    key = model_key(args)  # before any work: a missing key fails fast
    loaded = wait_for_frames(args, load_video(args))
    dir_id = loaded["id"]
    prefix = loaded.get("url_prefix") or f"{args.server}/d/{quote(dir_id)}/"
    kept = unique_frames(args, dir_id)
    signed = bool(kept) and is_signed(kept[0]["url"])
    sheets = []
    for start in range(0, len(kept), args.per_sheet):
        group = kept[start : start + args.per_sheet]
        names = [frame["name"] for frame in group]
        if signed:
            url = signed_sheet_url(args, dir_id, names)
        else:
            url = sheet_url(prefix, names, args.preset)
        answer = None if key is None else ask_model(args, key, url)
        sheets.append({"sheet_url": url, "frames": [covered(f) for f in group], "answer": answer})
    return {
        "video": str(args.video),
        "id": dir_id,
        "frames_total": loaded["image_count"],
        "frames_kept": len(kept),
        "per_sheet": args.per_sheet,
        "model": None if args.dry_run else args.model,
        "sheets": sheets,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline, write the JSON result and print its path."""
    args = parse_args(argv)
    try:
        result = run_pipeline(args)
    except ExampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
