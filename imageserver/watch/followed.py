"""One watched directory as the watcher follows it: its watches, its batch, its rescans.

A rescan cannot see whether a file is still open for writing, so a file it finds is taken
only once it has settled: its mtime is old enough, or its size and mtime held since the
previous look. With inotify that look comes `SETTLE_SECONDS` later (one `stat` per pending
file, not a rescan), and the file's `IN_CLOSE_WRITE` usually beats it. A polled folder has
no events to correct a guess, so there a file must hold still for a whole poll interval.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from dataclasses import field

from imageserver.state.indexer import ImageEntry
from imageserver.state.indexer import entry_for_name
from imageserver.state.indexer import scan_directory
from imageserver.state.store import Store
from imageserver.watch import sync
from imageserver.watch.names import is_temporary_name
from imageserver.watch.sync import Batch
from imageserver.watch.sync import WatchedDirectory
from imageserver.watch.tree import Tree

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.5

Stats = tuple[int, int]


@dataclass
class Followed:
    """A watched directory, its inotify watches (None: polled) and its gathered changes."""

    info: WatchedDirectory
    load_seq: int
    tree: Tree | None = None
    next_poll: float = 0.0
    pending: dict[str, Stats] = field(default_factory=dict)  # found by a scan, not settled
    recheck_at: float | None = None
    batch: Batch = field(default_factory=Batch)
    batch_since: float | None = None

    def scan(self, store: Store, prefix: str, poll_seconds: float) -> None:
        """Compare the folder (or one sub-folder, `sub/`) with the index; batch the difference."""
        self.next_poll = time.monotonic() + poll_seconds
        try:
            scanned = _scan_entries(self.info, prefix)
        except OSError:
            log.debug("live folders: cannot scan %s", self.info.real_path)
            return
        indexed = {
            name: entry
            for name, entry in sync.indexed_entries(store, self.info.id).items()
            if name.startswith(prefix)
        }
        now = time.time()
        settle = SETTLE_SECONDS if self.tree is not None else max(SETTLE_SECONDS, poll_seconds)
        complete = {e.name for e in scanned if _settled(e, now, self.pending.get(e.name), settle)}
        for entry in scanned:
            if entry.name not in complete and indexed.get(entry.name) != entry:
                self.pending[entry.name] = (entry.size, entry.mtime_ns)
            else:
                self.pending.pop(entry.name, None)
        self.merge(sync.diff_scan(scanned, indexed, complete))

    def recheck(self) -> None:
        """Take the pending files whose size and mtime held since they were seen."""
        batch = Batch()
        for name, stats in list(self.pending.items()):
            entry = entry_for_name(self.info.real_path, name)
            if entry is None or (entry.size, entry.mtime_ns) == stats:
                del self.pending[name]
                if entry is not None:
                    batch.put(name, entry)
            else:
                self.pending[name] = (entry.size, entry.mtime_ns)
        self.recheck_at = None
        self.merge(batch)

    def merge(self, batch: Batch) -> None:
        """Add changes to the batch being gathered; schedule the look at pending files."""
        for prefix in batch.removed_prefixes:
            self.batch.remove_prefix(prefix)
        for name, entry in batch.names.items():
            self.batch.put(name, entry)
        self.touched()
        if self.pending and self.recheck_at is None and self.tree is not None:
            self.recheck_at = time.monotonic() + SETTLE_SECONDS

    def touched(self) -> None:
        """Start the batch window when the first change of a batch arrives."""
        if self.batch and self.batch_since is None:
            self.batch_since = time.monotonic()

    def take_batch(self) -> Batch:
        """Return the gathered changes and start a new, empty batch."""
        batch, self.batch, self.batch_since = self.batch, Batch(), None
        return batch


def _scan_entries(info: WatchedDirectory, prefix: str) -> list[ImageEntry]:
    """Scan the folder or one sub-folder; a writer's temporary files are left out."""
    if prefix:
        found = scan_directory(os.path.join(info.real_path, prefix), True)
        found = [ImageEntry(prefix + e.name, e.size, e.mtime_ns) for e in found]
    else:
        found = scan_directory(info.real_path, info.recursive)
    return [e for e in found if not is_temporary_name(e.name.rsplit("/", 1)[-1])]


def _settled(entry: ImageEntry, now: float, seen: Stats | None, settle: float) -> bool:
    """Tell whether a scanned file may be indexed: unchanged since seen, or old enough."""
    if seen == (entry.size, entry.mtime_ns):
        return True
    return now - entry.mtime_ns / 1e9 >= settle
