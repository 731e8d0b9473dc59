"""The disk cache of variants: one file per key, bounded in size, least recently used out first.

- Layout: `<root>/<key[:2]>/<key><ext>`; temporary files in `<root>/.tmp`, lock files in
  `<root>/.locks`, the byte total in `<root>/.usage`.
- Writes are atomic: a temporary file in the same file system, then `os.replace`, so a reader
  sees the whole variant or none. A zero-byte file (a crash between the two) counts as none.
- Compute once: a per-key `threading.Lock` for the threads of one worker, and a per-key
  `fcntl.flock` for the other worker processes. Whoever gets the lock second finds the file.
- Bound: the byte total lives in `.usage`, updated under its own flock on every write; when
  it passes the bound, the oldest files by modification time go until it is back under 90%.
  A hit refreshes the modification time (at most once a minute per file), which makes that
  time the "last used" clock: access times are unreliable on `relatime`/`noatime` mounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TOUCH_INTERVAL_SECONDS = 60.0
LOW_WATER_RATIO = 0.9  # evict a little more than needed, so the next write does not evict too
STALE_TEMP_SECONDS = 3600.0  # a temporary file this old was left by a crashed worker


@dataclass(frozen=True)
class CacheEntry:
    """A cached variant: where it is, how big, and whether it was already there."""

    path: Path
    size: int
    hit: bool


class VariantCache:
    """A size-bounded directory of variants shared by every thread and worker process."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._guard = threading.Lock()
        self._key_locks: dict[str, list] = {}  # key -> [Lock, number of threads using it]

    def path_for(self, key: str, ext: str) -> Path:
        """Return where the variant `key` with extension `ext` lives."""
        return self.root / key[:2] / f"{key}{ext}"

    def lookup(self, key: str, ext: str) -> CacheEntry | None:
        """Return the cached variant and mark it used, or None when it is not cached."""
        path = self.path_for(key, ext)
        try:
            info = path.stat()
        except OSError:
            return None
        if info.st_size == 0:
            return None
        now = time.time()
        if now - info.st_mtime > TOUCH_INTERVAL_SECONDS:
            with contextlib.suppress(OSError):  # evicted meanwhile: the caller's open will tell
                os.utime(path, (now, now))
        return CacheEntry(path, info.st_size, hit=True)

    def get_or_create(self, key: str, ext: str, produce: Callable[[], bytes]) -> CacheEntry:
        """Return the cached variant, calling `produce` to make it when nobody has yet.

        Concurrent callers for one key, in any thread or process, run `produce` once; the
        others wait and get the file. An exception from `produce` reaches the caller and
        leaves nothing behind.
        """
        entry = self.lookup(key, ext)
        if entry is not None:
            return entry
        with self._thread_lock(key), self._process_lock(key):
            entry = self.lookup(key, ext)
            if entry is not None:
                return entry
            data = produce()
            path = self._write(key, ext, data)
        self._account(len(data), keep=path)
        return CacheEntry(path, len(data), hit=False)

    def users(self, key: str) -> int:
        """Return how many threads of this process hold or wait for the lock of `key`."""
        with self._guard:
            slot = self._key_locks.get(key)
            return slot[1] if slot else 0

    def usage(self) -> int:
        """Return the bytes the cache holds, as accounted in `.usage` (scanned when missing)."""
        total = self._read_usage()
        return total if total is not None else self._scan()[0]

    # -- locks ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _thread_lock(self, key: str) -> Iterator[None]:
        with self._guard:
            slot = self._key_locks.setdefault(key, [threading.Lock(), 0])
            slot[1] += 1
        try:
            with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if slot[1] == 0:
                    del self._key_locks[key]

    @contextlib.contextmanager
    def _process_lock(self, key: str) -> Iterator[None]:
        with _flock(self.root / ".locks" / f"{key}.lock", remove=True):
            yield

    # -- files ----------------------------------------------------------------------------

    def _write(self, key: str, ext: str, data: bytes) -> Path:
        path = self.path_for(key, ext)
        temp_dir = self.root / ".tmp"
        path.parent.mkdir(parents=True, exist_ok=True)
        temp_dir.mkdir(parents=True, exist_ok=True)
        temporary = temp_dir / f"{key}.{os.getpid()}.{secrets.token_hex(4)}"
        # No fsync: this is a cache, and a file emptied by a crash reads as a miss (lookup).
        try:
            with open(temporary, "xb") as stream:
                stream.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return path

    def _account(self, added: int, keep: Path) -> None:
        """Add a write to the byte total; evict the least recently used files when over."""
        with _flock(self.root / ".usage.lock", remove=False):
            total = self._read_usage()
            total = self._scan()[0] if total is None else total + added
            if total > self.max_bytes:
                total = self._evict(keep)
            _write_text(self.root / ".usage", str(total))

    def _evict(self, keep: Path) -> int:
        total, files = self._scan()
        target = self.max_bytes * LOW_WATER_RATIO
        for _, size, path in sorted(files):
            if total <= target:
                break
            if path == str(keep):
                continue  # just written for a request that is about to send it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                total -= size
        return total

    def _scan(self) -> tuple[int, list[tuple[int, int, str]]]:
        """Return the bytes held and every (mtime_ns, size, path); drop stale temporaries."""
        files: list[tuple[int, int, str]] = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root) as top:
            for folder in top:
                if folder.name == ".tmp":
                    _remove_stale(folder.path)
                elif folder.is_dir(follow_symlinks=False) and not folder.name.startswith("."):
                    files.extend(_files_in(folder.path))
        return sum(size for _, size, _ in files), files

    def _read_usage(self) -> int | None:
        try:
            return int((self.root / ".usage").read_text().strip())
        except (OSError, ValueError):
            return None


@contextlib.contextmanager
def _flock(path: Path, remove: bool) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`; with `remove`, delete the lock file when done.

    A lock file deleted by its holder may still be open in a waiter, which would then hold a
    lock on a file nobody else sees: after locking, check that the path still names our file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # still locked: nobody can take the old file meanwhile
        os.close(fd)  # closing releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _files_in(folder: str) -> Iterator[tuple[int, int, str]]:
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    yield info.st_mtime_ns, info.st_size, entry.path


def _remove_stale(folder: str) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    for _, _, path in _files_in(folder):
        with contextlib.suppress(OSError):
            if os.stat(path).st_mtime < cutoff:
                os.unlink(path)


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
