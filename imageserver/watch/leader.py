"""One watcher for the whole server, elected among the worker processes with a file lock.

Why a lock and not granian's main process: the engine (granian, run by
`engines/granian_runner.py`) builds the app only in its workers, after the fork, and owns its
main process; a lock needs no engine hook. Every worker runs a `WatchLeader` thread that tries
`flock(LOCK_EX | LOCK_NB)` on `<state dir>/watch.lock` once per `RETRY_SECONDS`. The worker
that holds it runs the `Watcher`; the kernel releases the lock when that process exits, however
it dies (`kill -9` included), and another worker takes over on its next try, starting with a
rescan that catches what changed in between. The others cost one system call a second. Several
servers on one state directory share one watcher too.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import threading
from collections.abc import Callable

from imageserver.settings.config import Config
from imageserver.state.store import Store
from imageserver.watch.watcher import Watcher

log = logging.getLogger(__name__)

# Where `web.app.create_api_app` keeps this worker's `WatchLeader` (absent: no watcher in this app).
WATCH_EXTENSION_KEY = "imageserver.watch"
RETRY_SECONDS = 1.0
LOCK_FILE = "watch.lock"
# The thread's name in `top -H` and /proc/<pid>/task/*/comm (the bench reads its CPU there).
NATIVE_THREAD_NAME = b"live-watcher"
_PR_SET_NAME = 15


class WatchLeader:
    """A daemon thread that runs the watcher whenever this process holds the lock.

    :param make_watcher: builds a fresh `Watcher` each time the lock is won.
    """

    def __init__(self, lock_path: str, make_watcher: Callable[[], Watcher]) -> None:
        self.lock_path = lock_path
        self._make_watcher = make_watcher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch-leader", daemon=True)
        self.leading = threading.Event()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (releasing the lock) and wait briefly for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        _name_native_thread(NATIVE_THREAD_NAME)
        while not self._stop.is_set():
            fd = _try_lock(self.lock_path)
            if fd is None:
                self._stop.wait(RETRY_SECONDS)
                continue
            try:
                self._lead()
            finally:
                self.leading.clear()
                os.close(fd)  # releases the lock for the next worker

    def _lead(self) -> None:
        log.info("live folders: worker %d watches the folders", os.getpid())
        self.leading.set()
        try:
            self._make_watcher().run(self._stop)
        except Exception:  # never let one bad pass end the watching for good
            log.exception("live folders: the watcher failed; restarting it")
            self._stop.wait(RETRY_SECONDS)


def _try_lock(path: str) -> int | None:
    """Take the lock file without waiting; return its descriptor, or None when taken."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("live folders: cannot open %s: %s", path, exc)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _name_native_thread(name: bytes) -> None:
    # Python 3.11 names no OS thread; a name lets `top -H` and the bench tell it apart.
    # Off Linux (no prctl) only the label is lost.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)


def start(config: Config, store: Store) -> WatchLeader:
    """Start this worker's candidate for the server's one watcher."""
    leader = WatchLeader(
        os.path.join(config.state_dir, LOCK_FILE),
        lambda: Watcher(store, config.watch_poll_seconds, config.watch_mode),
    )
    leader.start()
    return leader
