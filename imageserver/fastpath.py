"""The image hot path: a lean WSGI layer in front of Flask for image GET and HEAD.

Flask costs about 8x on a request that only sends a file, so the common case never reaches
it: `GET|HEAD /d/<id>/<name>` and `/images/<name>` with no query (or only a valid `exp`/`sig`,
or only the parameters of an already cached variant), for a name in the load-time index of a
live directory. That case is one mmap read (has the state changed?), one dict lookup, one
hash lookup, `open` + `fstat`, cached headers, and the bytes. A matching `If-None-Match` or
`If-Modified-Since` gets its 304 here, and a single satisfiable byte range its 206.

Everything else goes to Flask unchanged, which is also how every *refusal* is answered: a
missing name, an expired directory, a bad signature, a symlink, a variant still to compute,
an unsatisfiable range. So the error bodies, the 404/403 rules and the contract's behaviours
have one implementation; this layer only ever says yes, and says it exactly as Flask would
(the headers match Werkzeug's `send_file`; `tests/test_fastpath.py` compares the two).

What may be served comes from `served_index.py`, rebuilt only when the store's change
counter moves (a load, unload, timeout change or sweep in any worker), never by a SQLite
query per request.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from werkzeug.wsgi import FileWrapper

from imageserver.conditional import content_disposition
from imageserver.conditional import expires_header
from imageserver.conditional import is_modified
from imageserver.conditional import last_modified_header
from imageserver.conditional import single_range
from imageserver.config import Config
from imageserver.mediatypes import is_image_name
from imageserver.mediatypes import media_type_for
from imageserver.registry import Directory
from imageserver.registry import Registry
from imageserver.routes.images import CORS_HEADERS
from imageserver.security import EXPIRY_PARAM
from imageserver.security import SIGNATURE_PARAM
from imageserver.security import is_safe_relative_name
from imageserver.security import name_from_raw_path
from imageserver.security import raw_request_path
from imageserver.security import resolve_image_file
from imageserver.security import signature_is_valid
from imageserver.served_index import ServedDirectory
from imageserver.served_index import ServedIndex
from imageserver.timers import Clock
from imageserver.variants.params import TRANSFORM_KEYS
from imageserver.variants.params import VariantQuery
from imageserver.variants.params import VariantSpec
from imageserver.variants.service import Variant
from imageserver.variants.service import VariantService

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Files up to this size are sent as one bytes object; larger ones are streamed.
SMALL_FILE_BYTES = 512 * 1024
STREAM_BLOCK_BYTES = 256 * 1024
_SIGNATURE_KEYS = frozenset({EXPIRY_PARAM, SIGNATURE_PARAM})
# O_NONBLOCK: a FIFO swapped in for an indexed file must not hang a worker on open; regular
# files ignore the flag, and anything that is not a regular file is refused after fstat.
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
_FIXED_HEADERS = [
    ("Accept-Ranges", "bytes"),
    ("X-Content-Type-Options", "nosniff"),
    *CORS_HEADERS.items(),
]


class ImageFastPath:
    """WSGI middleware: answers plain image GET/HEAD itself, hands the rest to `app`."""

    def __init__(self, app: WSGIApp, config: Config, registry: Registry, clock: Clock) -> None:
        self.app = app
        self.config = config
        self.registry = registry
        self.clock = clock
        self.index = ServedIndex(registry)
        self.signing_keys = tuple(
            key for key in (config.signing_key, config.signing_key_previous) if key
        )
        self.idle_mode = config.timeout_mode == "idle"
        self.cache_control = f"public, max-age={config.cache_max_age}"
        # Cached variants are sent from here too; a miss goes to Flask, which computes it.
        self.variants = VariantService(
            config.variant_cache_dir, config.variant_cache_mb * 1024 * 1024, config.max_pixels
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD")
        range_header = environ.get("HTTP_RANGE")
        if range_header is not None and not range_header.lstrip().lower().startswith("bytes="):
            # RFC 9110 14.2: a Range in a unit the server does not know is ignored (Werkzeug
            # would answer 416); drop it here so every layer below sees a plain request.
            del environ["HTTP_RANGE"]
        if method == "GET" or method == "HEAD":
            path = environ.get("PATH_INFO", "")
            if path.startswith("/d/") or path.startswith("/images/"):
                try:
                    answer = self._serve(environ, start_response, method == "HEAD")
                except (OSError, ValueError):
                    answer = None  # let Flask decide: it has the one implementation of errors
                if answer is not None:
                    return answer
        return self.app(environ, start_response)

    # -- one request ----------------------------------------------------------------------

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any], head: bool
    ) -> Iterable[bytes] | None:
        found = self._find(raw_request_path(environ))
        if found is None:
            return None
        served, name, signed_path = found
        directory = served.directory
        now = self.clock()
        if directory.deadline is not None and directory.deadline <= now:
            return None  # expired: Flask sweeps it and answers like for any unloaded directory
        query = environ.get("QUERY_STRING", "")
        spec = self._variant_spec(query, signed_path, now) if query else None
        if spec is None and not self._query_allows(query, signed_path, now):
            return None
        if "HTTP_IF_RANGE" in environ or "HTTP_IF_MATCH" in environ:
            return None  # rare preconditions: Werkzeug's slower correct path
        fd = self._open(directory.real_path, name)
        if fd is None:
            return None
        variant = None
        if spec is not None:
            variant = self._open_variant(fd, directory.real_path, name, spec)
            if variant is None:
                return None
            fd = variant[0]
        try:
            return self._respond(environ, start_response, fd, name, head, directory, variant)
        except BaseException:
            os.close(fd)
            raise

    def _find(self, raw_path: str) -> tuple[ServedDirectory, str, str] | None:
        """Return the directory, the decoded name and the signed path of an image request."""
        snapshot = self.index.snapshot()
        if raw_path.startswith("/images/"):
            served = snapshot.current
            name = _name(raw_path, len("/images/"), 1)
            signed_path = f"/images/{name}"
        else:
            dir_id, slash, _ = raw_path[len("/d/") :].partition("/")
            served = snapshot.by_id.get(dir_id) if slash else None
            name = _name(raw_path, len("/d/") + len(dir_id) + 1, 2)
            signed_path = f"/d/{dir_id}/{name}"
        if served is None or name is None or not is_image_name(name):
            return None
        if "/" in name and not served.directory.recursive:
            return None  # only a recursive load serves sub-folders
        if name not in served.names:
            return None
        return served, name, signed_path

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
            fd = os.open(resolved[0], _OPEN_FLAGS)
        else:
            # The root is a real path, so refusing a symlink as the last component is enough
            # to stay inside it; a symlinked file (even one that stays inside) goes to Flask.
            try:
                fd = os.open(f"{root_real}/{name}", _OPEN_FLAGS | os.O_NOFOLLOW)
            except OSError:
                return None
        return fd

    def _respond(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        fd: int,
        name: str,
        head: bool,
        directory: Directory,
        variant: tuple[int, Variant, int] | None = None,
    ) -> Iterable[bytes] | None:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        if self.idle_mode:
            self.registry.touch(directory)
        download_name = name.rsplit("/", 1)[-1]
        etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        media_type, modified, extra = media_type_for(name), int(info.st_mtime), []
        if variant is not None:
            _, cached, modified = variant
            download_name = download_name.rsplit(".", 1)[0] + cached.extension
            etag, media_type = f'"{cached.etag}"', cached.media_type
            extra = [("X-Variant-Cache", "hit")]
        common = [
            ("Content-Disposition", content_disposition(download_name)),
            ("Cache-Control", self.cache_control),
            ("Expires", expires_header(int(time.time()), self.config.cache_max_age)),
            ("ETag", etag),
            *_FIXED_HEADERS,
            *extra,
        ]
        if not is_modified(environ, etag, modified):
            os.close(fd)
            start_response("304 Not Modified", common)
            return []
        range_header = environ.get("HTTP_RANGE")
        if range_header is not None:
            return self._respond_range(
                start_response,
                fd,
                info.st_size,
                range_header,
                head,
                [
                    ("Content-Type", media_type),
                    ("Last-Modified", last_modified_header(modified)),
                    *common,
                ],
            )
        headers = [
            ("Content-Type", media_type),
            ("Content-Length", str(info.st_size)),
            ("Last-Modified", last_modified_header(modified)),
            *common,
        ]
        if head:
            os.close(fd)
            start_response("200 OK", headers)
            return []
        if info.st_size <= SMALL_FILE_BYTES:
            with os.fdopen(fd, "rb", buffering=0) as stream:
                data = stream.read()
            if len(data) != info.st_size:
                return None  # changed while we read it: let the slow path take a fresh look
            start_response("200 OK", headers)
            return [data]
        stream = os.fdopen(fd, "rb")
        start_response("200 OK", headers)
        wrapper = environ.get("wsgi.file_wrapper", FileWrapper)
        return wrapper(stream, STREAM_BLOCK_BYTES)

    @staticmethod
    def _respond_range(
        start_response: Callable[..., Any],
        fd: int,
        size: int,
        range_header: str,
        head: bool,
        headers: list[tuple[str, str]],
    ) -> Iterable[bytes] | None:
        """Answer one satisfiable byte range with 206; anything else is Werkzeug's (416...)."""
        byte_range = single_range(range_header, size, SMALL_FILE_BYTES)
        if byte_range is None:
            os.close(fd)
            return None
        start, stop = byte_range
        try:
            data = b"" if head else os.pread(fd, stop - start, start)
        finally:
            os.close(fd)
        if not head and len(data) != stop - start:
            return None  # the file shrank meanwhile
        start_response(
            "206 Partial Content",
            [
                *headers[:1],
                ("Content-Length", str(stop - start)),
                *headers[1:],
                ("Content-Range", f"bytes {start}-{stop - 1}/{size}"),
            ],
        )
        return [data] if data else []


def _name(raw_path: str, start: int, prefix_segments: int) -> str | None:
    """Decode the image name of a raw path; the common unencoded case skips the decoder."""
    if "%" not in raw_path:
        name = raw_path[start:]
        return name if is_safe_relative_name(name) else None
    return name_from_raw_path(raw_path, prefix_segments)
