"""Embed frames with Cohere Embed v4, which takes images only as base64 data URIs.

    COHERE_API_KEY=... python examples/python/cohere_embed.py --dir /data/frames/rec-01

The server makes the data URIs (`POST /api/directories/<id>/datauris`, preset `cohere`:
at most 2,458,624 pixels, 5 MB once base64-encoded), so nothing is decoded here and the
server need not be public. Writes one JSON line per frame: `name`, `url`, `embedding`.
API: POST {COHERE_BASE_URL}/v2/embed (https://docs.cohere.com/reference/embed).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from example_cli import base_parser
from example_cli import open_output
from example_cli import run
from example_cli import select_images
from example_cli import sender
from example_cli import vendor_base
from imageserver_client import api_key

PRESET = "cohere"
DEFAULT_BASE = "https://api.cohere.com"


def request_body(data_uri: str, model: str) -> dict[str, Any]:
    """Build the v2 embed body for one image (the `images` field takes one per call)."""
    return {
        "model": model,
        "input_type": "image",
        "embedding_types": ["float"],
        "images": [data_uri],
    }


def main(argv: list[str] | None = None) -> int:
    """Embed the selected frames and write one JSON line per frame."""
    parser = base_parser(__doc__.splitlines()[0], "COHERE_MODEL", "embed-v4.0")
    args = parser.parse_args(argv)
    args.inline = True  # Cohere never fetches URLs
    key = "dry-run" if args.dry_run else api_key("COHERE_API_KEY")
    _, items = select_images(args, PRESET)
    send = sender(args, {"Authorization": f"Bearer {key}"})
    url = vendor_base("COHERE_BASE_URL", DEFAULT_BASE) + "/v2/embed"
    out = open_output(args)
    for item in items:
        answer = send(url, request_body(item["data_uri"], args.model))
        if answer is None:
            continue
        vector = answer["embeddings"]["float"][0]
        out.write(json.dumps({"name": item["name"], "url": item["url"], "embedding": vector}))
        out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
