"""The watcher: follows every watched directory and writes their changes in batches.

One thread, in one worker of the whole server (`leader.py` elects it). Each step it:
1. re-reads the set of watched directories when the shared change counter moved (a load with
   `"watch": true`, an unload, a re-load), starting or stopping the folders' watches;
2. reads inotify events (or just waits, when polling) for at most `TICK_SECONDS`;
3. writes each directory's gathered changes once they are `BATCH_WINDOW_SECONDS` old, in one
   transaction (`sync.apply_batch`), which moves the counter for every worker;
4. rescans the directories that are polled, and re-checks files found by a rescan that had
   not settled yet.

Starting to follow a directory always ends with a rescan compared to the stored index, so
what changed while nobody watched (the server was down, another worker held the watch, the
kernel queue overflowed) is caught. A rescan cannot see whether a file is still open, so it
takes a file only once its size and mtime have held for `SETTLE_SECONDS`; events need no
such wait. Polling replaces inotify when it is unavailable, when its limits are reached, when
a watched root disappears, or when `IMAGE_SERVER_WATCH_MODE=poll` says so; the log says which.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from inotify_simple import INotify
from inotify_simple import flags

from imageserver.state.store import Store
from imageserver.watch import sync
from imageserver.watch.followed import Followed
from imageserver.watch.sync import WatchedDirectory
from imageserver.watch.tree import Outcome
from imageserver.watch.tree import Tree
from imageserver.watch.tree import WatchLimitReached
from imageserver.watch.tree import WatchTable

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1
BATCH_WINDOW_SECONDS = 0.05
RETRY_WRITE_SECONDS = 1.0
INOTIFY, POLL = "inotify", "poll"


class Watcher:
    """Follow the watched directories of one state database until `stop` is set.

    :param mode: `auto` (inotify, polling where it cannot be used) or `poll`.
    :param inotify_factory: opens the inotify instance (tests inject a failing one).
    """

    def __init__(
        self,
        store: Store,
        poll_seconds: float,
        mode: str = "auto",
        inotify_factory: Callable[[], INotify] = INotify,
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.mode = mode
        self._inotify_factory = inotify_factory
        self._table: WatchTable | None = None
        self._followed: dict[str, Followed] = {}
        self._generation: int | None = None

    def run(self, stop: threading.Event) -> None:
        """Follow until `stop` is set; release every watch on the way out."""
        self._table = self._open_inotify()
        try:
            while not stop.is_set():
                self.step(stop)
        finally:
            for dir_id in list(self._followed):
                self._drop(dir_id)
            if self._table is not None:
                self._table.inotify.close()

    def step(self, stop: threading.Event) -> None:
        """One pass: reconcile, wait for events, then write and rescan what is due."""
        self._reconcile()
        timeout = self._next_timeout(time.monotonic())
        if self._table is not None:
            self._read_events(self._table, timeout)
        else:
            stop.wait(timeout)
        now = time.monotonic()
        for followed in list(self._followed.values()):
            self._due_work(followed, now)

    # -- which directories ----------------------------------------------------------------

    def _open_inotify(self) -> WatchTable | None:
        if self.mode == POLL:
            log.warning(
                "live folders: polling every %gs (IMAGE_SERVER_WATCH_MODE=poll)", self.poll_seconds
            )
            return None
        try:
            return WatchTable(self._inotify_factory())
        except OSError as exc:  # ENOSYS, EMFILE (fs.inotify.max_user_instances), ...
            log.warning(
                "live folders: inotify unavailable (%s); polling every %gs instead",
                exc,
                self.poll_seconds,
            )
            return None

    def _reconcile(self) -> None:
        generation = self.store.changes.read()
        if generation == self._generation:
            return
        self._generation = generation
        wanted = sync.watched_directories(self.store)
        for dir_id, followed in list(self._followed.items()):
            info = wanted.get(dir_id)
            if info is None or _replaced(followed, info):
                self._drop(dir_id)
        for dir_id, info in wanted.items():
            if dir_id not in self._followed:
                self._follow(info)

    def _follow(self, info: WatchedDirectory) -> None:
        followed = Followed(info, info.load_seq)
        self._followed[info.id] = followed
        if self._table is not None:
            tree = Tree(self._table, info.id, info.real_path, info.recursive)
            try:
                tree.watch()
                followed.tree = tree
            except OSError as exc:
                tree.unwatch()
                self._explain_polling(info, exc)
        followed.scan(self.store, "", self.poll_seconds)
        self._flush(followed)
        # Set last: a status showing the mode means the folder is followed and caught up.
        mode = INOTIFY if followed.tree is not None else POLL
        if info.watch_mode != mode:
            sync.set_watch_mode(self.store, info.id, mode)

    def _explain_polling(self, info: WatchedDirectory, exc: OSError) -> None:
        if isinstance(exc, WatchLimitReached):
            reason = "inotify watch limit reached (raise fs.inotify.max_user_watches)"
        else:
            reason = f"cannot watch it ({exc.strerror or exc})"
        log.warning(
            "live folders: %s: %s; polling every %gs instead",
            info.real_path,
            reason,
            self.poll_seconds,
        )

    def _drop(self, dir_id: str) -> None:
        followed = self._followed.pop(dir_id)
        if followed.tree is not None:
            followed.tree.unwatch()
        try:
            sync.forget_unloaded(self.store)
        except Exception:  # only leftover log rows; the next drop tries again
            log.exception("live folders: cleaning the change log failed")

    def _to_polling(self, followed: Followed, exc: OSError) -> None:
        if followed.tree is not None:
            followed.tree.unwatch()
            followed.tree = None
        self._explain_polling(followed.info, exc)
        sync.set_watch_mode(self.store, followed.info.id, POLL)

    # -- events ---------------------------------------------------------------------------

    def _read_events(self, table: WatchTable, timeout: float) -> None:
        events = table.inotify.read(timeout=max(0, int(timeout * 1000)))
        touched: dict[str, Outcome] = {}
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                log.warning("live folders: inotify queue overflowed; rescanning")
                for followed in self._followed.values():
                    followed.scan(self.store, "", self.poll_seconds)
                continue
            for tree in table.trees(event.wd):
                outcome = touched.setdefault(tree.dir_id, Outcome())
                tree.handle(
                    event.wd, event.mask, event.name, self._followed[tree.dir_id].batch, outcome
                )
            if event.mask & flags.IGNORED:
                table.forget(event.wd)
        for dir_id, outcome in touched.items():
            self._after_events(self._followed[dir_id], outcome)

    def _after_events(self, followed: Followed, outcome: Outcome) -> None:
        if outcome.root_lost:
            self._to_polling(followed, FileNotFoundError(2, "the folder is gone"))
        for folder in outcome.new_folders:
            if followed.tree is None:
                break
            try:
                followed.tree.watch(folder)
            except OSError as exc:
                self._to_polling(followed, exc)
            # What was written in it before its watch existed.
            followed.scan(self.store, folder, self.poll_seconds)
        followed.touched()

    # -- writing and rescanning -----------------------------------------------------------

    def _next_timeout(self, now: float) -> float:
        wake = now + TICK_SECONDS
        for followed in self._followed.values():
            if followed.batch_since is not None:
                wake = min(wake, followed.batch_since + BATCH_WINDOW_SECONDS)
            if followed.recheck_at is not None:
                wake = min(wake, followed.recheck_at)
            if followed.tree is None:
                wake = min(wake, followed.next_poll)
        return max(0.0, wake - now)

    def _due_work(self, followed: Followed, now: float) -> None:
        if followed.tree is None and now >= followed.next_poll:
            followed.scan(self.store, "", self.poll_seconds)
        if followed.recheck_at is not None and now >= followed.recheck_at:
            followed.recheck()
        if followed.batch_since is not None and now - followed.batch_since >= BATCH_WINDOW_SECONDS:
            self._flush(followed)

    def _flush(self, followed: Followed) -> None:
        batch = followed.take_batch()
        if not batch:
            return
        try:
            batch = sync.prune(self.store, followed.info.id, batch)
            if batch:
                sync.apply_batch(self.store, followed.info.id, batch)
        except Exception:  # a locked or broken database: keep the changes, retry later
            log.exception("live folders: writing changes of %s failed", followed.info.real_path)
            followed.merge(batch)
            followed.batch_since = time.monotonic() + RETRY_WRITE_SECONDS
        # A directory unloaded or re-loaded meanwhile moved the change counter: the next
        # reconcile drops it, or follows the new load with a fresh rescan.


def _replaced(followed: Followed, info: WatchedDirectory) -> bool:
    """Tell whether a stored directory is no longer what the watcher follows."""
    return (
        info.real_path != followed.info.real_path
        or info.recursive != followed.info.recursive
        or info.load_seq != followed.load_seq
    )
