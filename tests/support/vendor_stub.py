"""A local stand-in of four model APIs that checks each request against the vendor's docs.

Voyage `POST /v1/multimodalembeddings`, OpenAI `POST /v1/chat/completions`, Anthropic
`POST /v1/messages` and Cohere `POST /v2/embed`. Each request body is checked against the
shape the vendor documents (required fields, allowed values, auth header); every image is
fetched (URL, from the real image server over loopback) or decoded (data URI) like the vendor
would, and its format, pixels and bytes are checked against the vendor's published limits.
A request with problems gets 400 and its problems are kept, so a test asserts
`stub.problems() == []` and looks at `stub.images` to see what the vendor received. The
shapes and limits themselves are in tests/support/vendor_shapes.py.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import urllib.request
from dataclasses import dataclass
from dataclasses import field
from http import HTTPStatus
from typing import Any

from PIL import Image

from tests.support.stub_http import StubServer
from tests.support.vendor_shapes import CHECKS
from tests.support.vendor_shapes import LIMITS
from tests.support.vendor_shapes import SeenImage
from tests.support.vendor_shapes import check_auth
from tests.support.vendor_shapes import limit_problems

VECTOR = [0.25, -0.5, 0.125, 1.0]


@dataclass
class VendorCall:
    """One request to the stand-in and what was wrong with it."""

    vendor: str
    body: Any
    headers: dict[str, str]
    problems: list[str] = field(default_factory=list)


class VendorStub:
    """Run the stand-in; `base_url` is its root (`/v1/...` and `/v2/...` below it)."""

    def __init__(self) -> None:
        self.calls: list[VendorCall] = []
        self.images: list[SeenImage] = []
        self._lock = threading.Lock()
        self._server = StubServer(self._handle)
        self.base_url = self._server.base_url

    def __enter__(self) -> VendorStub:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()

    def problems(self) -> list[str]:
        """Every problem of every request, prefixed with its vendor."""
        return [f"{call.vendor}: {p}" for call in self.calls for p in call.problems]

    def calls_to(self, vendor: str) -> list[VendorCall]:
        """The requests that went to one vendor, in order."""
        return [call for call in self.calls if call.vendor == vendor]

    def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        vendor = ROUTES.get((method, path.split("?", 1)[0]))
        if vendor is None:
            return HTTPStatus.NOT_FOUND, {"error": f"no such route: {method} {path}"}
        call = VendorCall(vendor, None, headers)
        try:
            call.body = json.loads(raw)
        except ValueError:
            call.problems.append("body is not JSON")
        if not call.problems:
            check_auth(vendor, headers, call.problems)
            sources = CHECKS[vendor](call.body, call.problems)
            for source in sources:
                self._check_image(vendor, source, call.problems)
        with self._lock:
            self.calls.append(call)
        if call.problems:
            return HTTPStatus.BAD_REQUEST, {"error": call.problems}
        return HTTPStatus.OK, ANSWERS[vendor](call.body)

    def _check_image(self, vendor: str, source: str, problems: list[str]) -> None:
        try:
            data = _fetch(source)
            with Image.open(io.BytesIO(data)) as image:
                seen = SeenImage(
                    vendor,
                    "data" if source.startswith("data:") else "url",
                    None if source.startswith("data:") else source,
                    image.format or "",
                    image.width,
                    image.height,
                    len(data),
                )
        except Exception as exc:  # the vendor would refuse it: a problem, not a crash
            problems.append(f"image {source[:80]!r} unreadable: {exc}")
            return
        with self._lock:
            self.images.append(seen)
        problems.extend(limit_problems(LIMITS[vendor], seen))


def _fetch(source: str) -> bytes:
    if source.startswith("data:"):
        header, _, data = source.partition(",")
        if not header.endswith(";base64"):
            raise ValueError("data URI is not base64")
        return base64.b64decode(data, validate=True)
    with urllib.request.urlopen(source, timeout=30) as response:
        return response.read()


def _voyage_answer(body: dict) -> dict:
    data = [
        {"object": "embedding", "embedding": VECTOR, "index": i} for i in range(len(body["inputs"]))
    ]
    usage = {"text_tokens": 0, "image_pixels": 1, "total_tokens": 1}
    return {"object": "list", "data": data, "model": body["model"], "usage": usage}


def _openai_answer(body: dict) -> dict:
    message = {"role": "assistant", "content": "A frame of a screen recording."}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [choice],
    }


def _anthropic_answer(body: dict) -> dict:
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": "A frame of a screen recording."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def _cohere_answer(body: dict) -> dict:
    return {
        "id": "embed-stub",
        "embeddings": {kind: [VECTOR] for kind in body["embedding_types"]},
        "texts": [],
        "response_type": "embeddings_by_type",
    }


ROUTES = {
    ("POST", "/v1/multimodalembeddings"): "voyage",
    ("POST", "/v1/chat/completions"): "openai",
    ("POST", "/v1/messages"): "anthropic",
    ("POST", "/v2/embed"): "cohere",
}
ANSWERS = {
    "voyage": _voyage_answer,
    "openai": _openai_answer,
    "anthropic": _anthropic_answer,
    "cohere": _cohere_answer,
}
