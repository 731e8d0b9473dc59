"""Hashes and facts of a folder's files: read from the state database, computed when missing.

A row is reused while the file keeps the size and mtime the index recorded; otherwise the
file is read again (docs/API.md#get-apidirectoriesidimages). Missing rows are computed on a
thread pool (Pillow releases the GIL while decoding) and stored in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from imageserver.frames import facts as header_facts
from imageserver.frames import phash
from imageserver.state import image_facts
from imageserver.state.image_facts import FileFacts
from imageserver.state.indexer import ImageEntry
from imageserver.state.store import Store

HASH_HEX_DIGITS = phash.HASH_BITS // 4
# Threads that read files for one request: the machine's cores, a few more for I/O waits.
WORKERS = min(8, (os.cpu_count() or 1) + 2)


def read_file_facts(root: str, entry: ImageEntry) -> FileFacts:
    """Hash and measure one indexed file; None fields for what cannot be read."""
    path = os.path.join(root, entry.name)
    value = phash.hash_file_or_none(path)
    found = header_facts.image_facts(path)
    return FileFacts(
        name=entry.name,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        hash=None if value is None else format(value, f"0{HASH_HEX_DIGITS}x"),
        width=found.width if found else None,
        height=found.height if found else None,
        format=found.format if found else None,
    )


def is_current(row: FileFacts | None, entry: ImageEntry) -> bool:
    """Tell whether a stored row still describes the file the index knows."""
    return row is not None and row.size == entry.size and row.mtime_ns == entry.mtime_ns


def ensure(
    store: Store, root: str, entries: Sequence[ImageEntry], whole_folder: bool = False
) -> dict[str, FileFacts]:
    """Return the facts of `entries`, computing and storing the missing or stale ones.

    :param whole_folder: `entries` is the whole index: read every row of `root` at once.
    """
    if whole_folder:
        known = image_facts.stored_all(store, root)
    else:
        known = image_facts.stored(store, root, [e.name for e in entries])
    missing = [e for e in entries if not is_current(known.get(e.name), e)]
    if missing:
        fresh = _compute(root, missing)
        image_facts.save(store, root, fresh)
        known.update((f.name, f) for f in fresh)
    return {e.name: known[e.name] for e in entries}


def _compute(root: str, entries: Sequence[ImageEntry]) -> list[FileFacts]:
    if len(entries) < 4:
        return [read_file_facts(root, e) for e in entries]
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda e: read_file_facts(root, e), entries, chunksize=8))


def hash_value(row: FileFacts) -> int | None:
    """The row's hash as an int (None for an unreadable file: never a duplicate)."""
    return None if row.hash is None else int(row.hash, 16)
