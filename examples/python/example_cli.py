"""What every vendor example shares: its flags, picking the frames, sending or printing.

Each example builds one vendor's request body; this module does the rest the same way for
all of them: `--dir` loads a folder (or `--id` names a loaded one), the listing is read
with the vendor's preset, `--inline` swaps URLs for data URIs (for a server the vendor
cannot reach), and `--dry-run` prints each request instead of sending it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any
from typing import TextIO

from imageserver_client import ExampleError
from imageserver_client import ImageServer
from imageserver_client import chunked
from imageserver_client import post_json

# The batch route answers at most 100 names per call (docs/API.md#post-apidirectoriesiddatauris).
DATAURI_BATCH = 100


def base_parser(description: str, model_env: str, default_model: str) -> argparse.ArgumentParser:
    """Return a parser with the flags every example takes."""
    parser = argparse.ArgumentParser(description=description)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", help="folder to load (a path on the server's machine)")
    where.add_argument("--id", help="id of a folder the server has already loaded")
    parser.add_argument("--server", help="image server URL (default: IMAGE_SERVER_URL)")
    parser.add_argument("--limit", type=int, default=10, help="at most this many frames")
    parser.add_argument(
        "--model",
        default=os.environ.get(model_env, default_model),
        help=f"model (default: {model_env} or {default_model})",
    )
    parser.add_argument(
        "--inline", action="store_true", help="send data URIs instead of image URLs"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print each request as JSON, send nothing"
    )
    parser.add_argument("--out", help="write the results as JSON lines here (default stdout)")
    return parser


def select_images(args: argparse.Namespace, preset: str) -> tuple[ImageServer, list[dict]]:
    """Load or find the folder and return its first `--limit` listing items for `preset`.

    With `--inline`, each item also gets its `data_uri` (failed names are left out, with a
    line on stderr).
    """
    server = ImageServer.from_env(args.server)
    dir_id = args.id or server.load(args.dir)["id"]
    items = []
    for item in server.image_urls(dir_id, preset=preset):
        if len(items) == args.limit:
            break
        items.append(item)
    if args.inline:
        items = _with_data_uris(server, dir_id, items, preset)
    return server, items


def _with_data_uris(server: ImageServer, dir_id: str, items: list[dict], preset: str) -> list[dict]:
    by_name = {item["name"]: item for item in items}
    inlined = []
    for names in chunked(list(by_name), DATAURI_BATCH):
        for answer in server.data_uris(dir_id, names, preset):
            if answer["status"] != 200:
                print(f"skipped {answer['name']}: {answer.get('detail')}", file=sys.stderr)
                continue
            inlined.append({**by_name[answer["name"]], "data_uri": answer["data_uri"]})
    return inlined


def sender(args: argparse.Namespace, headers: dict[str, str]) -> Callable[[str, Any], Any]:
    """Return `send(url, body)`: POST it, or with `--dry-run` print it and return None."""

    def send(url: str, body: Any) -> Any:
        if args.dry_run:
            print(json.dumps({"url": url, "body": body}))
            return None
        return post_json(url, body, headers)

    return send


def open_output(args: argparse.Namespace) -> TextIO:
    """Return where the results go: `--out` (truncated) or stdout."""
    return open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115


def vendor_base(variable: str, default: str) -> str:
    """Return a vendor's API base URL: `variable` from the environment, else `default`.

    Tests point it at a local stand-in; a proxy or gateway (Azure, LiteLLM) works the same.
    """
    return (os.environ.get(variable) or default).rstrip("/")


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run an example's `main`, turning an `ExampleError` into one line and exit status 1."""
    try:
        return main(argv)
    except ExampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
