"""A shared-memory change counter next to the state database.

Every committed write publishes the store's new generation number into an 8-byte file that
each process maps into memory. A process that caches state (the image fast path) compares one
integer per request instead of asking SQLite, and rebuilds its cache only when the number moved.

Why a value and not an increment: the value is written after the commit, outside SQLite's
lock, so two writers may publish out of order. A reader treats any *change* as "re-read the
database", and it always re-reads after seeing the value, so it can never keep state older
than the last commit it observed.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading

_COUNTER = struct.Struct("<q")


class ChangeSignal:
    """The mapped counter file of one state database (`<database>.changes`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def publish(self, generation: int) -> None:
        """Make `generation` visible to every process. :raise OSError: the file is unusable."""
        _COUNTER.pack_into(self._mapped(), 0, generation)

    def read(self) -> int:
        """Return the last published generation. :raise OSError: the file is unusable."""
        return _COUNTER.unpack_from(self._mapped(), 0)[0]

    def _mapped(self) -> mmap.mmap:
        current = self._map
        if current is not None and self._pid == os.getpid():
            return current
        with self._lock:
            if self._map is None or self._pid != os.getpid():
                self._map = _map_counter_file(self.path)
                self._pid = os.getpid()
            return self._map


def _map_counter_file(path: str) -> mmap.mmap:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_size < _COUNTER.size:
            os.ftruncate(fd, _COUNTER.size)
        return mmap.mmap(fd, _COUNTER.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)  # the mapping keeps its own reference to the file
