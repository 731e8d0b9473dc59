"""Stream an upload body into a temporary file, counting and hashing it as it arrives.

The temporary file lives in `<state_dir>/inboxes/.tmp/`: on the inbox's file system, so the
move into the inbox is a rename, and outside every inbox, so it is never indexed or served.
It is deleted unless the upload commits, so a cut or refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from http import HTTPStatus
from typing import BinaryIO

from imageserver.uploads.errors import UploadError
from imageserver.uploads.errors import too_large

BLOCK = 256 * 1024


class SpoolFile:
    """A temporary file being filled; refuses to grow past `limit` bytes.

    Werkzeug's multipart parser writes each file part into one of these (the
    `stream_factory`); a raw body is copied with `copy_from`.
    """

    def __init__(self, folder: str, limit: int, filename: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
        # mkstemp's 0600 would hide the stored image from the folder's other readers.
        os.fchmod(fd, 0o644)
        self._file = os.fdopen(fd, "w+b")
        self.limit = limit
        self.filename = filename  # the client's name for it, if any
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        """Append `data`. :raise UploadError 413: the file grows past the limit."""
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(f"A file is larger than the upload limit of {_mib(self.limit)}")
        self._hash.update(data)
        return self._file.write(data)

    def copy_from(self, stream: BinaryIO, expected: int | None) -> None:
        """Copy a whole body from `stream`.

        :param expected: the declared Content-Length; a body that ends sooner was cut (the
            client went away), and is refused rather than stored half.
        :raise UploadError 400: the body ended before `expected` bytes.
        """
        while True:
            block = stream.read(BLOCK)
            if not block:
                break
            self.write(block)
        if expected is not None and self.size < expected:
            raise UploadError(HTTPStatus.BAD_REQUEST, "The upload was cut short")

    @property
    def sha256(self) -> str:
        """The hex sha256 of what was written."""
        return self._hash.hexdigest()

    def seek(self, offset: int, whence: int = 0) -> int:
        """Werkzeug rewinds each part once it is complete."""
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        """Read back (Werkzeug's FileStorage may)."""
        return self._file.read(size)

    def close(self) -> None:
        """Close the file (it stays on disk until `discard` or the commit's rename)."""
        self._file.close()

    def discard(self) -> None:
        """Close and delete the temporary file; safe to call twice."""
        self.close()
        with suppress(FileNotFoundError):
            os.unlink(self.path)


@contextmanager
def spooled_files() -> Iterator[list[SpoolFile]]:
    """Collect the spool files of one request; every one left is deleted on the way out.

    The commit removes a file from the list's disk (it is renamed away), so the final
    unlink finds nothing to delete for a stored file and everything for a refused one.
    """
    files: list[SpoolFile] = []
    try:
        yield files
    finally:
        for spool in files:
            spool.discard()


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"
