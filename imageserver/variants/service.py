"""Variants of source files: the cache key, the cached file, and what to answer with it.

The key is the SHA-256 of the source's identity (real path, size, mtime in ns) and of the
resolved spec, so editing a file or asking for other parameters gives another variant, and
`?preset=claude` shares its file with the same parameters spelled out. The variant's ETag
is derived from the key: the same in every worker and across restarts.

Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from imageserver.settings.config import Config
from imageserver.variants import transform
from imageserver.variants.cache import CacheEntry
from imageserver.variants.cache import VariantCache
from imageserver.variants.params import VariantSpec

ETAG_HEX_DIGITS = 32


@dataclass(frozen=True)
class Variant:
    """A variant ready to send."""

    path: Path
    size: int
    media_type: str
    extension: str
    etag: str
    hit: bool


def variant_key(real_path: str, info: os.stat_result, spec: VariantSpec) -> str:
    """Return the cache key of `spec` applied to the file at `real_path` as `info` saw it."""
    identity = f"{real_path}\0{info.st_size}\0{info.st_mtime_ns}\0{spec.cache_token()}"
    return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()


class VariantService:
    """Produce and cache variants for one server configuration.

    :param cache_dir: where variants are stored. :param cache_bytes: the size bound.
    :param max_pixels: the most pixels a source may have to be decoded.
    """

    @classmethod
    def for_config(cls, config: Config) -> VariantService:
        """Return the variant service of a server's settings (one per worker process)."""
        return cls(
            config.variant_cache_dir, config.variant_cache_mb * 1024 * 1024, config.max_pixels
        )

    def __init__(self, cache_dir: str, cache_bytes: int, max_pixels: int) -> None:
        self.cache = VariantCache(cache_dir, cache_bytes)
        self.max_pixels = max_pixels
        # Rendering is CPU- and memory-bound: more at once than cores only multiplies the
        # memory held (a 100 MP source decodes to 300 MB), so the other threads queue.
        self._renders = threading.BoundedSemaphore(os.cpu_count() or 1)

    def resolve(self, spec: VariantSpec, source_name: str) -> VariantSpec:
        """Fix the output format of `spec` for a source called `source_name`."""
        return spec.for_format(transform.output_format(spec.format, source_name))

    def variant(
        self, real_path: str, info: os.stat_result, source_name: str, spec: VariantSpec
    ) -> Variant:
        """Return the cached variant, producing it first when needed.

        :raise transform.TransformError: the source cannot give this variant.
        :raise OSError: the cache cannot be written.
        """
        spec, key, extension = self._locate(real_path, info, source_name, spec)
        entry = self.cache.get_or_create(key, extension, lambda: self._render(real_path, spec))
        return _variant(spec, key, entry)

    def _render(self, real_path: str, spec: VariantSpec) -> bytes:
        with self._renders:
            return transform.render(real_path, spec, self.max_pixels).data

    def cached(
        self, real_path: str, info: os.stat_result, source_name: str, spec: VariantSpec
    ) -> Variant | None:
        """Return the variant if it is cached already, else None: no decode, no lock.

        For a fast path in front of Flask: a hit can be sent without the app, a miss goes to
        the app, which computes it.
        """
        spec, key, extension = self._locate(real_path, info, source_name, spec)
        entry = self.cache.lookup(key, extension)
        return _variant(spec, key, entry) if entry is not None else None

    def _locate(
        self, real_path: str, info: os.stat_result, source_name: str, spec: VariantSpec
    ) -> tuple[VariantSpec, str, str]:
        spec = self.resolve(spec, source_name)
        assert spec.format is not None
        return spec, variant_key(real_path, info, spec), transform.EXTENSIONS[spec.format]


def _variant(spec: VariantSpec, key: str, entry: CacheEntry) -> Variant:
    assert spec.format is not None
    return Variant(
        path=entry.path,
        size=entry.size,
        media_type=transform.MEDIA_TYPES[spec.format],
        extension=transform.EXTENSIONS[spec.format],
        etag=f"v-{key[:ETAG_HEX_DIGITS]}",
        hit=entry.hit,
    )
