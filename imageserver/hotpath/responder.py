"""The image hot path: answers plain image GET and HEAD without any framework.

Flask costs about 8x on a request that only sends a file, so the common case never reaches
it: `GET|HEAD /d/<id>/<name>` and `/images/<name>` with no query (or only a valid `exp`/`sig`,
or only the parameters of an already cached variant), for a name in the load-time index of a
live directory. That case is one mmap read (has the state changed?), one dict lookup, one
hash lookup, `open` + `fstat`, cached headers, and the bytes. A matching `If-None-Match` or
`If-Modified-Since` gets its 304 here, and a single satisfiable byte range its 206.

Everything else is left to Flask, which is also how every *refusal* is answered: a missing
name, an expired directory, a bad signature, a symlink, a variant still to compute, an
unsatisfiable range. So the error bodies, the 404/403 rules and the documented behaviours have
one implementation; this module only ever says yes, and says it exactly as Flask would (the
headers match Werkzeug's `send_file`; `tests/test_fastpath.py` compares the two).

`ImageResponder.respond` is a pure decision over an `ImageRequest`; the engines' adapters
(`asgi.py` for granian, `wsgi.py` for WSGI servers) turn the `ImageAnswer` into bytes on the
wire. What may be served comes from `served_index.py`, rebuilt only when the store's change
counter moves (a load, unload, timeout change or sweep in any worker), never by a SQLite
query per request.
"""

from __future__ import annotations

import os
import stat
import time
from urllib.parse import parse_qsl

from pydantic import ValidationError

from imageserver.hotpath.answer import IMAGES_ROUTE
from imageserver.hotpath.answer import SMALL_FILE_BYTES
from imageserver.hotpath.answer import STABLE_ROUTE
from imageserver.hotpath.answer import ImageAnswer
from imageserver.hotpath.answer import ImageRequest
from imageserver.hotpath.answer import answer_range
from imageserver.hotpath.answer import expires_value
from imageserver.hotpath.answer import file_headers
from imageserver.hotpath.conditional import is_modified
from imageserver.hotpath.served_index import ServedDirectory
from imageserver.hotpath.served_index import ServedIndex
from imageserver.hotpath.served_index import Snapshot
from imageserver.security.confinement import is_safe_relative_name
from imageserver.security.confinement import name_from_raw_path
from imageserver.security.confinement import resolve_image_file
from imageserver.security.signing import EXPIRY_PARAM
from imageserver.security.signing import SIGNATURE_PARAM
from imageserver.security.signing import signature_is_valid
from imageserver.settings.config import Config
from imageserver.settings.media_types import is_image_name
from imageserver.settings.media_types import media_type_for
from imageserver.state.registry import Registry
from imageserver.state.timers import Clock
from imageserver.variants.params import TRANSFORM_KEYS
from imageserver.variants.params import VariantQuery
from imageserver.variants.params import VariantSpec
from imageserver.variants.service import Variant
from imageserver.variants.service import VariantService

# (directory, decoded name, signed path, media type) of an indexed image request.
Found = tuple[ServedDirectory, str, str, str]
# Raw paths remembered per state generation; past this many the memory starts afresh.
FOUND_CACHE_SIZE = 65536
_SIGNATURE_KEYS = frozenset({EXPIRY_PARAM, SIGNATURE_PARAM})
# O_NONBLOCK: a FIFO swapped in for an indexed file must not hang a worker on open; regular
# files ignore the flag, and anything that is not a regular file is refused after fstat.
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK


class ImageResponder:
    """Decides whether an image request can be answered here, and answers it."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        clock: Clock,
        variants: VariantService | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock
        self.index = ServedIndex(registry)
        self._found: dict[str, Found] = {}
        self._found_generation = -1
        self.signing_keys = config.signing_keys
        self.cache_control = f"public, max-age={config.cache_max_age}".encode()
        # Cached variants are sent from here too; a miss goes to Flask, which computes it.
        self.variants = variants or VariantService.for_config(config)

    def respond(self, request: ImageRequest) -> ImageAnswer | None:
        """Answer `request`, or return None to leave it to Flask (every refusal is Flask's)."""
        try:
            return self._respond(request)
        except (OSError, ValueError):
            return None  # let Flask decide: it has the one implementation of errors

    def _respond(self, request: ImageRequest) -> ImageAnswer | None:
        found = self._find(request.raw_path)
        if found is None:
            return None
        served, name, signed_path, media_type = found
        directory = served.directory
        now = self.clock()
        if directory.deadline is not None and directory.deadline <= now:
            return None  # expired: Flask sweeps it and answers like for any unloaded directory
        query = request.query
        spec = self._variant_spec(query, signed_path, now) if query else None
        if spec is None and not self._query_allows(query, signed_path, now):
            return None
        if request.other_precondition:
            return None
        fd = self._open(directory.real_path, name)
        if fd is None:
            return None
        variant = None
        if spec is not None:
            variant = self._open_variant(fd, directory.real_path, name, spec)
            if variant is None:
                return None
            fd = variant[0]
        answer = None
        try:
            answer = self._answer(request, fd, name, media_type, variant)
        finally:
            # The descriptor is closed here unless the answer streams it (the sender closes it).
            if answer is None or answer.stream_fd is None:
                os.close(fd)
        if answer is None:
            return None
        if self.registry.slide_wanted(directory):
            answer.touched = directory
        answer.route = IMAGES_ROUTE if signed_path.startswith("/images/") else STABLE_ROUTE
        answer.directory_id = directory.id
        answer.variant = variant is not None
        return answer

    def _find(self, raw_path: str) -> Found | None:
        """Return the directory, name, signed path and type of an image request, or None.

        Answers for a raw path are remembered until the state changes (the snapshot's
        generation moves): a frame is usually fetched more than once (a HEAD check, then the
        model's GET), and the decoding and checks cost more than the file itself.
        """
        snapshot = self.index.snapshot()
        if snapshot.generation != self._found_generation:
            self._found, self._found_generation = {}, snapshot.generation
        found = self._found.get(raw_path)
        if found is None:
            found = _look_up(snapshot, raw_path)
            if found is None:
                return None
            if len(self._found) >= FOUND_CACHE_SIZE:
                self._found = {}
            self._found[raw_path] = found
        return found

    def _query_allows(self, query: str, signed_path: str, now: float) -> bool:
        """Tell whether the query keeps this request on the fast path."""
        if not query:
            return not self.signing_keys
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key not in _SIGNATURE_KEYS for key, _ in pairs):
            return False  # a variant (`w`, `format`...) or an unknown parameter: Flask's call
        if not self.signing_keys:
            return True
        return signature_is_valid(self.signing_keys, signed_path, pairs, now)

    def _variant_spec(self, query: str, signed_path: str, now: float) -> VariantSpec | None:
        """Return the variant a query asks for when this layer may send it, else None.

        Only transform parameters (and a valid signature) qualify: unknown parameters, a
        repeated key, an invalid value (Flask's 422) and data URIs are Flask's.
        """
        pairs = parse_qsl(query, keep_blank_values=True)
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys) or not any(key in TRANSFORM_KEYS for key in keys):
            return None
        if any(key not in TRANSFORM_KEYS and key not in _SIGNATURE_KEYS for key in keys):
            return None
        if self.signing_keys and not signature_is_valid(self.signing_keys, signed_path, pairs, now):
            return None
        try:
            parsed = VariantQuery.model_validate(
                dict(pairs), context={"bounded": not self.signing_keys}
            )
        except ValidationError:
            return None
        spec = parsed.spec()
        return None if spec.datauri else spec

    def _open_variant(
        self, source_fd: int, root_real: str, name: str, spec: VariantSpec
    ) -> tuple[int, Variant, int] | None:
        """Swap the source's descriptor for its cached variant's; None on a miss.

        Returns the variant's descriptor, the variant, and the source's mtime (the variant
        changes when its source does: Last-Modified is the source's, as in Flask).
        """
        try:
            info = os.fstat(source_fd)
        finally:
            os.close(source_fd)
        real_path = (
            os.path.realpath(f"{root_real}/{name}") if "/" in name else f"{root_real}/{name}"
        )
        variant = self.variants.cached(real_path, info, name, spec)
        if variant is None:
            return None
        try:
            return os.open(variant.path, _OPEN_FLAGS), variant, int(info.st_mtime)
        except OSError:  # evicted meanwhile: Flask produces it again
            return None

    @staticmethod
    def _open(root_real: str, name: str) -> int | None:
        """Open the file of an indexed name, or None when only the slow path may serve it."""
        if "/" in name:
            # Nested names: every component must be checked (`realpath`), as Flask does.
            resolved = resolve_image_file(root_real, name)
            if resolved is None:
                return None
            return os.open(resolved[0], _OPEN_FLAGS)
        # The root is a real path, so refusing a symlink as the last component is enough to
        # stay inside it; a symlinked file (even one that stays inside) goes to Flask.
        try:
            return os.open(f"{root_real}/{name}", _OPEN_FLAGS | os.O_NOFOLLOW)
        except OSError:
            return None

    def _answer(
        self,
        request: ImageRequest,
        fd: int,
        name: str,
        media_type: str,
        variant: tuple[int, Variant, int] | None,
    ) -> ImageAnswer | None:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        download_name = name.rsplit("/", 1)[-1]
        etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        modified = int(info.st_mtime)
        if variant is not None:
            _, cached, modified = variant
            download_name = download_name.rsplit(".", 1)[0] + cached.extension
            etag, media_type = f'"{cached.etag}"', cached.media_type
        block = file_headers(
            download_name, etag, media_type, modified, info.st_size, variant is not None
        )
        expires = (b"Expires", expires_value(int(time.time()), self.config.cache_max_age))
        common = [block.disposition, (b"Cache-Control", self.cache_control), expires, *block.tail]
        if not is_modified(request.if_none_match, request.if_modified_since, etag, modified):
            return ImageAnswer(304, common)
        if request.range is not None:
            headers = [block.content_type, block.last_modified, *common]
            return answer_range(request, fd, info.st_size, headers)
        headers = [block.content_type, block.content_length, block.last_modified, *common]
        if request.head:
            return ImageAnswer(200, headers)
        if info.st_size > SMALL_FILE_BYTES:
            return ImageAnswer(200, headers, stream_fd=fd, stream_length=info.st_size)
        data = os.read(fd, info.st_size + 1)
        if len(data) != info.st_size:
            return None  # changed while we read it: let the slow path take a fresh look
        return ImageAnswer(200, headers, data)


def _look_up(snapshot: Snapshot, raw_path: str) -> Found | None:
    """Decode and check the name of an image request against the snapshot's indexes."""
    if raw_path.startswith("/images/"):
        served = snapshot.current
        name = _name(raw_path, len("/images/"), 1)
        signed_path = f"/images/{name}"
    elif raw_path.startswith("/d/"):
        dir_id, slash, _ = raw_path[len("/d/") :].partition("/")
        served = snapshot.by_id.get(dir_id) if slash else None
        name = _name(raw_path, len("/d/") + len(dir_id) + 1, 2)
        signed_path = f"/d/{dir_id}/{name}"
    else:
        return None
    if served is None or name is None or not is_image_name(name):
        return None
    if "/" in name and not served.directory.recursive:
        return None  # only a recursive load serves sub-folders
    if name not in served.names:
        return None
    return served, name, signed_path, media_type_for(name)


def _name(raw_path: str, start: int, prefix_segments: int) -> str | None:
    """Decode the image name of a raw path; the common unencoded case skips the decoder."""
    if "%" not in raw_path:
        name = raw_path[start:]
        return name if is_safe_relative_name(name) else None
    return name_from_raw_path(raw_path, prefix_segments)
