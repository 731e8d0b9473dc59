"""The objects a publish stores: one per image (or per variant), with its key and its bytes.

An original keeps its name and Content-Type. A variant is rendered by the server's own
pipeline (`variants.transform.render`, with the spec `--preset`/`--variant` resolve to) and
goes under `PREFIX/<variant tag>/<name with the variant's extension>`.

The ETag an S3 store gives an object is what tells us whether it changed: for a single PUT
it is the MD5 of the bytes; for a multipart upload, the MD5 of the parts' MD5s plus `-N`.
We compute the same value locally, so an unchanged object is recognised from a listing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass

from imageserver.settings.media_types import media_type_for
from imageserver.settings.publish_target import Target
from imageserver.settings.publish_target import variant_tag
from imageserver.state.indexer import ImageEntry
from imageserver.variants import transform
from imageserver.variants.params import VariantQuery
from imageserver.variants.params import VariantSpec

MiB = 1024 * 1024
# Below this a file goes in one PUT, so its ETag is its MD5; a camera frame is far smaller.
MULTIPART_THRESHOLD = 64 * MiB
MULTIPART_CHUNK = 16 * MiB
_READ_BLOCK = 1 * MiB


@dataclass(frozen=True)
class SourceObject:
    """One object to publish: where its bytes come from and where they go."""

    name: str
    path: str
    size: int
    mtime_ns: int
    key: str
    content_type: str
    spec: VariantSpec | None = None

    def fingerprint(self) -> str:
        """Return what identifies this object's bytes without reading them."""
        token = self.spec.cache_token() if self.spec is not None else ""
        return f"{self.size}:{self.mtime_ns}:{token}"


@dataclass(frozen=True)
class Payload:
    """An object's bytes (in memory, or a large file to stream) and the ETag they give."""

    etag: str
    size: int
    data: bytes | None = None
    path: str | None = None
    md5_base64: str | None = None


def variant_spec(params: Mapping[str, str]) -> VariantSpec | None:
    """Resolve `--preset`/`--variant` parameters (already checked) into a spec; None if none."""
    if not params:
        return None
    return VariantQuery.model_validate(dict(params), context={"bounded": False}).spec(False)


def plan_objects(
    root: str, entries: Iterable[ImageEntry], target: Target, params: Mapping[str, str]
) -> tuple[list[SourceObject], list[tuple[str, str]]]:
    """Return the objects for `entries` under `target`, and the names that cannot be stored.

    A name is refused when its variant key collides with another's (`a.png` and `a.jpg`
    both become `a.jpg` as JPEG); the first in name order keeps the key.
    """
    spec = variant_spec(params)
    tag = variant_tag(params) if params else ""
    objects: dict[str, SourceObject] = {}
    refused: list[tuple[str, str]] = []
    for entry in entries:
        obj = _object_for(root, entry, target, tag, spec)
        if obj.key in objects:
            refused.append((entry.name, f"same key as {objects[obj.key].name}: {obj.key}"))
            continue
        objects[obj.key] = obj
    return list(objects.values()), refused


def _object_for(
    root: str, entry: ImageEntry, target: Target, tag: str, spec: VariantSpec | None
) -> SourceObject:
    path = os.path.join(root, *entry.name.split("/"))
    if spec is None:
        media_type = media_type_for(entry.name) or "application/octet-stream"
        key = target.key(entry.name)
        return SourceObject(entry.name, path, entry.size, entry.mtime_ns, key, media_type)
    fixed = spec.for_format(transform.output_format(spec.format, entry.name))
    assert fixed.format is not None
    stem, _ = os.path.splitext(entry.name)
    key = target.key(tag, stem + transform.EXTENSIONS[fixed.format])
    media_type = transform.MEDIA_TYPES[fixed.format]
    return SourceObject(entry.name, path, entry.size, entry.mtime_ns, key, media_type, fixed)


def load_payload(obj: SourceObject, max_pixels: int) -> Payload:
    """Read (or render) an object's bytes and compute the ETag the store will give them.

    :raise OSError: the file cannot be read. :raise transform.TransformError: no variant.
    """
    if obj.spec is not None:
        return in_memory(transform.render(obj.path, obj.spec, max_pixels).data)
    size = os.path.getsize(obj.path)
    if size >= MULTIPART_THRESHOLD:
        return Payload(multipart_etag(obj.path), size, path=obj.path)
    with open(obj.path, "rb") as stream:
        return in_memory(stream.read())


def in_memory(data: bytes) -> Payload:
    """Wrap bytes for a single PUT: the ETag is their MD5, sent as Content-MD5 too."""
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return Payload(digest.hex(), len(data), data=data, md5_base64=base64.b64encode(digest).decode())


def multipart_etag(path: str, chunk: int = MULTIPART_CHUNK) -> str:
    """Return the ETag of a multipart upload of `path` in parts of `chunk` bytes."""
    parts: list[bytes] = []
    with open(path, "rb") as stream:
        while True:
            part = hashlib.md5(usedforsecurity=False)
            remaining = chunk
            while remaining and (block := stream.read(min(_READ_BLOCK, remaining))):
                part.update(block)
                remaining -= len(block)
            if remaining == chunk:
                break
            parts.append(part.digest())
    combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(parts)}"
