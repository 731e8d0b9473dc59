"""The documented request shapes and image limits of four model APIs, as predicates.

Each `check_<vendor>(body, problems)` appends what in a request body breaks the vendor's
documented shape and returns the image sources (URLs or data URIs) the vendor would read;
`limit_problems` checks one received image against the vendor's published limits. Sources:
Voyage multimodal embeddings API reference, OpenAI's vision guide (Chat Completions),
Anthropic's vision guide (Messages API), Cohere's v2 embed reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


CHECKS = {
    "voyage": check_voyage,
    "openai": check_openai,
    "anthropic": check_anthropic,
    "cohere": check_cohere,
}
