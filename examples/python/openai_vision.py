"""Describe frames with an OpenAI vision model (Chat Completions), from the server's URLs.

    OPENAI_API_KEY=... python examples/python/openai_vision.py --dir /data/frames/rec-01

`--detail low` (default) uses the `openai-low` preset: OpenAI looks at a 512 px version for
a flat 85 tokens, so the server sends no more. `--detail high` uses `openai-high` (fits
2048 px, short side 768 px, the size OpenAI tiles). OpenAI fetches URLs itself: make the
server public (NGROK_SETUP.md) or pass `--inline`. Writes `name`, `url`, `text` per frame.
API: POST {OPENAI_BASE_URL}/chat/completions (https://platform.openai.com/docs/guides/images-vision).
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

DEFAULT_BASE = "https://api.openai.com/v1"
DEFAULT_PROMPT = "Describe this frame of a screen recording in two sentences."


def request_body(item: dict[str, Any], model: str, detail: str, prompt: str) -> dict[str, Any]:
    """Build a chat completion body with one text part and one image part."""
    image = {"url": item.get("data_uri", item["url"]), "detail": detail}
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": image},
                ],
            }
        ],
        "max_completion_tokens": 300,
    }


def main(argv: list[str] | None = None) -> int:
    """Describe the selected frames and write one JSON line per frame."""
    parser = base_parser(__doc__.splitlines()[0], "OPENAI_MODEL", "gpt-4o-mini")
    parser.add_argument("--detail", choices=("low", "high"), default="low")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    args = parser.parse_args(argv)
    key = "dry-run" if args.dry_run else api_key("OPENAI_API_KEY")
    _, items = select_images(args, f"openai-{args.detail}")
    send = sender(args, {"Authorization": f"Bearer {key}"})
    url = vendor_base("OPENAI_BASE_URL", DEFAULT_BASE) + "/chat/completions"
    out = open_output(args)
    for item in items:
        answer = send(url, request_body(item, args.model, args.detail, args.prompt))
        if answer is None:
            continue
        text = answer["choices"][0]["message"]["content"]
        out.write(json.dumps({"name": item["name"], "url": item["url"], "text": text}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
