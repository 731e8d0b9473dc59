"""A local stand-in of four model APIs that checks each request against the vendor's docs.

Voyage `POST /v1/multimodalembeddings`, OpenAI `POST /v1/chat/completions`, Anthropic
`POST /v1/messages` and Cohere `POST /v2/embed`. Each request body is checked against the
shape the vendor documents (required fields, allowed values, auth header); every image is
fetched (URL, from the real image server over loopback) or decoded (data URI) like the vendor
would, and its format, pixels and bytes are checked against the vendor's published limits.
A request with problems gets 400 and its problems are kept, so a test asserts
`stub.problems() == []` and looks at `stub.images` to see what the vendor received.
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

VECTOR = [0.25, -0.5, 0.125, 1.0]
_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one vendor accepts per image."""

    formats: frozenset[str]
    max_bytes: int
    max_pixels: int | None = None
    max_side: int | None = None


LIMITS = {
    "voyage": Limits(frozenset({"JPEG", "PNG", "WEBP", "GIF"}), 20 * _MB, max_pixels=16_000_000),
    "openai": Limits(frozenset({"JPEG", "PNG", "WEBP", "GIF"}), 20 * _MB),
    "anthropic": Limits(frozenset({"JPEG", "PNG", "WEBP", "GIF"}), 5 * _MB, max_side=8000),
    "cohere": Limits(frozenset({"JPEG", "PNG", "WEBP", "GIF"}), 5 * _MB),
}


@dataclass(frozen=True)
class SeenImage:
    """One image as the vendor received it."""

    vendor: str
    source: str  # "url" or "data"
    url: str | None
    format: str
    width: int
    height: int
    size: int


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


def limit_problems(limits: Limits, image: SeenImage) -> list[str]:
    """Return what in `image` breaks the vendor's published limits."""
    found = []
    if image.format not in limits.formats:
        found.append(f"format {image.format} not accepted")
    if image.size > limits.max_bytes:
        found.append(f"{image.size} bytes > {limits.max_bytes}")
    if limits.max_pixels and image.width * image.height > limits.max_pixels:
        found.append(f"{image.width}x{image.height} > {limits.max_pixels} pixels")
    if limits.max_side and max(image.width, image.height) > limits.max_side:
        found.append(f"{image.width}x{image.height}: a side > {limits.max_side}")
    return found


def check_auth(vendor: str, headers: dict[str, str], problems: list[str]) -> None:
    """Anthropic wants `x-api-key` and `anthropic-version`; the others a bearer token."""
    if vendor == "anthropic":
        if not headers.get("x-api-key"):
            problems.append("missing x-api-key header")
        if not headers.get("anthropic-version"):
            problems.append("missing anthropic-version header")
    elif not headers.get("authorization", "").startswith("Bearer "):
        problems.append("missing Authorization: Bearer header")
    if not headers.get("content-type", "").startswith("application/json"):
        problems.append("Content-Type is not application/json")


def _need(condition: bool, message: str, problems: list[str]) -> bool:
    if not condition:
        problems.append(message)
    return condition


def _unknown_keys(body: dict, allowed: set[str], problems: list[str]) -> None:
    extra = set(body) - allowed
    _need(not extra, f"unknown fields {sorted(extra)}", problems)


def check_voyage(body: Any, problems: list[str]) -> list[str]:
    """Voyage multimodal: `inputs[].content[]` of text / image_url / image_base64 parts."""
    if not _need(isinstance(body, dict), "body is not an object", problems):
        return []
    _unknown_keys(
        body, {"inputs", "model", "input_type", "truncation", "output_encoding"}, problems
    )
    _need(str(body.get("model", "")).startswith("voyage-multimodal"), "bad model", problems)
    _need(body.get("input_type") in (None, "query", "document"), "bad input_type", problems)
    inputs = body.get("inputs")
    if not _need(isinstance(inputs, list) and 0 < len(inputs) <= 1000, "inputs", problems):
        return []
    sources = []
    for entry in inputs:
        content = entry.get("content") if isinstance(entry, dict) else None
        if not _need(isinstance(content, list) and content, "input without content", problems):
            continue
        for part in content:
            kind = part.get("type")
            if kind == "text":
                _need(isinstance(part.get("text"), str), "text part without text", problems)
            elif kind == "image_url":
                url = part.get("image_url")
                if _need(str(url).startswith(("http://", "https://")), "image_url", problems):
                    sources.append(url)
            elif kind == "image_base64":
                data = part.get("image_base64")
                if _need(str(data).startswith("data:image/"), "image_base64", problems):
                    sources.append(data)
            else:
                problems.append(f"unknown content type {kind!r}")
    return sources


def check_openai(body: Any, problems: list[str]) -> list[str]:
    """OpenAI chat completions: `messages[].content[]` of text and image_url parts."""
    if not _need(isinstance(body, dict), "body is not an object", problems):
        return []
    _need(isinstance(body.get("model"), str), "model missing", problems)
    messages = body.get("messages")
    if not _need(isinstance(messages, list) and messages, "messages missing", problems):
        return []
    sources = []
    for message in messages:
        _need(message.get("role") in ("system", "user", "assistant"), "bad role", problems)
        content = message.get("content")
        if isinstance(content, str):
            continue
        for part in content or []:
            if part.get("type") == "text":
                _need(isinstance(part.get("text"), str), "text part without text", problems)
            elif part.get("type") == "image_url":
                image = part.get("image_url") or {}
                _need(image.get("detail") in (None, "low", "high", "auto"), "detail", problems)
                url = str(image.get("url", ""))
                if _need(url.startswith(("http://", "https://", "data:image/")), "url", problems):
                    sources.append(url)
            else:
                problems.append(f"unknown part type {part.get('type')!r}")
    return sources


def check_anthropic(body: Any, problems: list[str]) -> list[str]:
    """Anthropic messages: `max_tokens`, image blocks with a url or base64 source."""
    if not _need(isinstance(body, dict), "body is not an object", problems):
        return []
    _need(isinstance(body.get("model"), str), "model missing", problems)
    _need(isinstance(body.get("max_tokens"), int), "max_tokens missing", problems)
    sources = []
    for message in body.get("messages") or []:
        _need(message.get("role") in ("user", "assistant"), "bad role", problems)
        for block in message.get("content") or []:
            if block.get("type") == "text":
                _need(isinstance(block.get("text"), str), "text block without text", problems)
            elif block.get("type") == "image":
                sources.extend(_anthropic_source(block.get("source") or {}, problems))
            else:
                problems.append(f"unknown block type {block.get('type')!r}")
    _need(bool(body.get("messages")), "messages missing", problems)
    return sources


def _anthropic_source(source: dict, problems: list[str]) -> list[str]:
    if source.get("type") == "url":
        return [source["url"]] if _need("url" in source, "url source without url", problems) else []
    if source.get("type") == "base64":
        media = source.get("media_type")
        ok = _need(
            media in ("image/jpeg", "image/png", "image/gif", "image/webp"), "media", problems
        )
        data = source.get("data", "")
        _need(not str(data).startswith("data:"), "base64 data must not be a data URI", problems)
        return [f"data:{media};base64,{data}"] if ok else []
    problems.append(f"unknown source type {source.get('type')!r}")
    return []


def check_cohere(body: Any, problems: list[str]) -> list[str]:
    """Cohere v2 embed: `model`, `input_type`, `embedding_types`, one data URI in `images`."""
    if not _need(isinstance(body, dict), "body is not an object", problems):
        return []
    _need(isinstance(body.get("model"), str), "model missing", problems)
    kinds = {"search_document", "search_query", "classification", "clustering", "image"}
    _need(body.get("input_type") in kinds, "input_type missing or unknown", problems)
    types = body.get("embedding_types") or []
    allowed = {"float", "int8", "uint8", "binary", "ubinary", "base64"}
    _need(set(types) <= allowed and types, "embedding_types", problems)
    images = body.get("images")
    if not _need(isinstance(images, list) and len(images) == 1, "images: one per call", problems):
        return []
    _need(str(images[0]).startswith("data:image/"), "images must be data URIs", problems)
    return [images[0]] if str(images[0]).startswith("data:") else []


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
CHECKS = {
    "voyage": check_voyage,
    "openai": check_openai,
    "anthropic": check_anthropic,
    "cohere": check_cohere,
}
ANSWERS = {
    "voyage": _voyage_answer,
    "openai": _openai_answer,
    "anthropic": _anthropic_answer,
    "cohere": _cohere_answer,
}
