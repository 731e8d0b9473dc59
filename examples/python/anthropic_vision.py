"""Describe frames with Claude (the Messages API), from the server's URLs.

    ANTHROPIC_API_KEY=... python examples/python/anthropic_vision.py --dir /data/frames/rec-01

The `claude` preset sends at most 1568 px on the long side and about 1.15 megapixels (what
Claude looks at anyway) and stays under the 5 MB image limit. Claude fetches URL sources
itself: make the server public (NGROK_SETUP.md) or pass `--inline` for base64 sources.
Writes `name`, `url`, `text` per frame.
API: POST {ANTHROPIC_BASE_URL}/v1/messages (https://docs.anthropic.com/en/docs/build-with-claude/vision).
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

PRESET = "claude"
DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_PROMPT = "Describe this frame of a screen recording in two sentences."


def image_source(item: dict[str, Any]) -> dict[str, str]:
    """Return the image source: a URL, or base64 split out of the item's data URI."""
    if "data_uri" not in item:
        return {"type": "url", "url": item["url"]}
    header, data = item["data_uri"].split(",", 1)  # data:<type>;base64,<data>
    media_type = header.removeprefix("data:").split(";", 1)[0]
    return {"type": "base64", "media_type": media_type, "data": data}


def request_body(item: dict[str, Any], model: str, prompt: str) -> dict[str, Any]:
    """Build a Messages body: the image first, then the question (Anthropic's advice)."""
    return {
        "model": model,
        "max_tokens": 300,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": image_source(item)},
                    {"type": "text", "text": prompt},
                ],
            }
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """Describe the selected frames and write one JSON line per frame."""
    parser = base_parser(__doc__.splitlines()[0], "ANTHROPIC_MODEL", "claude-sonnet-4-5")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    args = parser.parse_args(argv)
    key = "dry-run" if args.dry_run else api_key("ANTHROPIC_API_KEY")
    _, items = select_images(args, PRESET)
    headers = {"x-api-key": key, "anthropic-version": API_VERSION}
    send = sender(args, headers)
    url = vendor_base("ANTHROPIC_BASE_URL", DEFAULT_BASE) + "/v1/messages"
    out = open_output(args)
    for item in items:
        answer = send(url, request_body(item, args.model, args.prompt))
        if answer is None:
            continue
        text = "".join(part["text"] for part in answer["content"] if part["type"] == "text")
        out.write(json.dumps({"name": item["name"], "url": item["url"], "text": text}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
