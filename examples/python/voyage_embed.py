"""Embed frames with Voyage's multimodal embeddings, straight from the image server's URLs.

    VOYAGE_API_KEY=... python examples/python/voyage_embed.py --dir /data/frames/rec-01

Voyage downloads each `image_url` itself, so the server must be reachable from the internet
(`IMAGE_SERVER_PUBLIC_URL`, see NGROK_SETUP.md); `--inline` sends base64 data URIs instead.
The `voyage` preset keeps frames within Voyage's limits (16 million pixels, 20 MB).
Writes one JSON line per frame: `name`, `url`, `embedding`.
API: POST {VOYAGE_BASE_URL}/multimodalembeddings (https://docs.voyageai.com/reference/multimodal-embeddings-api).
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
from imageserver_client import chunked

PRESET = "voyage"
DEFAULT_BASE = "https://api.voyageai.com/v1"
# Voyage allows 1,000 inputs per call but 320k tokens in all; a 16 MP frame alone is about
# 28k tokens (560 pixels a token), so small batches never hit the total.
BATCH = 8


def image_part(item: dict[str, Any]) -> dict[str, str]:
    """Return the content part for one frame: its URL, or its data URI when inlined."""
    if "data_uri" in item:
        return {"type": "image_base64", "image_base64": item["data_uri"]}
    return {"type": "image_url", "image_url": item["url"]}


def request_body(items: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """Build the multimodal embeddings body: one input (one image) per frame."""
    return {
        "inputs": [{"content": [image_part(item)]} for item in items],
        "model": model,
        # "document": these vectors go into an index that text queries search.
        "input_type": "document",
    }


def main(argv: list[str] | None = None) -> int:
    """Embed the selected frames and write one JSON line per frame."""
    parser = base_parser(__doc__.splitlines()[0], "VOYAGE_MODEL", "voyage-multimodal-3.5")
    args = parser.parse_args(argv)
    key = "dry-run" if args.dry_run else api_key("VOYAGE_API_KEY")
    _, items = select_images(args, PRESET)
    send = sender(args, {"Authorization": f"Bearer {key}"})
    url = vendor_base("VOYAGE_BASE_URL", DEFAULT_BASE) + "/multimodalembeddings"
    out = open_output(args)
    for batch in chunked(items, BATCH):
        answer = send(url, request_body(batch, args.model))
        if answer is None:
            continue
        for entry in answer["data"]:
            item = batch[entry["index"]]
            record = {"name": item["name"], "url": item["url"], "embedding": entry["embedding"]}
            out.write(json.dumps(record) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
