"""What each process may serve: the loaded directories and their names, cached.

The image fast path reads this snapshot on every request. It costs one read of the shared
change counter (`state/generation.py`) while nothing changes; after a change it re-reads the
directories, and the names only of directories loaded since; a live folder's batches are
applied to the cached names from their log (`state/index_log.py`), so a frame added to a
folder of 100,000 costs a few changed names, not 100,000. Never a SQLite query per request,
never a directory scan.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from imageserver.state.index_log import Change
from imageserver.state.registry import Directory
from imageserver.state.registry import Registry

# Up to this many changed names are spliced into a copy of a set; more rebuild it.
SPLICE_LIMIT = 256


class NameSet:
    """Membership in a directory's load-time index, in 8 bytes per name.

    A `frozenset` of 100,000 names costs about 13 MB in every worker; the sorted 64-bit
    hashes of the names cost 0.8 MB and answer with one binary search. Python's string hash
    is keyed per process (SipHash), so nobody can craft a collision; an accidental one (about
    n / 2**64) would only let through a name that still passes every confinement check.
    """

    __slots__ = ("_hashes",)

    def __init__(self, names: Iterable[str]) -> None:
        self._hashes = array("q", sorted(hash(name) for name in names))

    def __contains__(self, name: object) -> bool:
        digest = hash(name)
        hashes = self._hashes
        at = bisect_left(hashes, digest)
        return at < len(hashes) and hashes[at] == digest

    def __len__(self) -> int:
        return len(self._hashes)

    def changed(self, changes: Iterable[Change]) -> NameSet:
        """Return a new set with a live folder's changes applied, in order (this one stays).

        A few changes are spliced into a copy (one memmove each); many rebuild the array.
        """
        final = dict(changes)  # the last change of each name wins
        result = NameSet(())
        if len(final) > SPLICE_LIMIT:
            present = set(self._hashes)
            present.difference_update(hash(n) for n, kept in final.items() if not kept)
            present.update(hash(n) for n, kept in final.items() if kept)
            result._hashes = array("q", sorted(present))
            return result
        hashes = array("q", self._hashes)
        for name, kept in final.items():
            digest = hash(name)
            at = bisect_left(hashes, digest)
            found = at < len(hashes) and hashes[at] == digest
            if kept and not found:
                hashes.insert(at, digest)
            elif not kept and found:
                del hashes[at]
        result._hashes = hashes
        return result


@dataclass(frozen=True)
class ServedDirectory:
    """A loaded directory and the names of its load-time index."""

    directory: Directory
    names: NameSet


@dataclass(frozen=True)
class Snapshot:
    """What may be served, as of one published generation of the state."""

    generation: int
    current: ServedDirectory | None
    by_id: dict[str, ServedDirectory]


class ServedIndex:
    """The per-process cache of loaded directories and their names.

    `snapshot()` costs one read of the shared change counter while nothing changes; after a
    change it re-reads the directories and only the names of directories loaded since.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def stale(self) -> bool:
        """Tell whether the next `snapshot()` would rebuild. :raise OSError: as `snapshot`."""
        snapshot = self._snapshot
        return snapshot is None or snapshot.generation != self.registry.store.changes.read()

    def snapshot(self) -> Snapshot:
        """Return the current snapshot, rebuilding it when the state has changed."""
        generation = self.registry.store.changes.read()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.generation == generation:
                return snapshot
            # The counter was read before the database: the rebuilt state is at least as new
            # as `generation`, so the cache can never hide a commit it has seen announced.
            snapshot = self._rebuild(generation, snapshot)
            self._snapshot = snapshot
            return snapshot

    def _rebuild(self, generation: int, previous: Snapshot | None) -> Snapshot:
        old = previous.by_id if previous else {}
        known = {
            dir_id: (served.directory.load_seq, served.directory.delta_seq)
            for dir_id, served in old.items()
        }
        current_id, directories, fresh, changes = self.registry.served_state(known, NameSet)
        by_id = {d.id: ServedDirectory(d, _names(d.id, fresh, changes, old)) for d in directories}
        return Snapshot(generation, by_id.get(current_id) if current_id else None, by_id)


def _names(
    dir_id: str,
    fresh: dict[str, NameSet],
    changes: dict[str, list[Change]],
    old: dict[str, ServedDirectory],
) -> NameSet:
    """The names of one directory: read anew, the cached ones changed, or the cached ones."""
    if dir_id in fresh:
        return fresh[dir_id]
    if dir_id in changes:
        return old[dir_id].names.changed(changes[dir_id])
    return old[dir_id].names
