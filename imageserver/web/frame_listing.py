"""What a listing adds for frames: video times, the near-duplicate collapse and image facts.

docs/API.md#get-apidirectoriesidimages. Each worker keeps the video times and the collapsed
lists of recently listed directories, keyed by the directory's `load_seq` (and `delta_seq`
for live folders), so paging through `?unique=true` collapses the folder once, not once per
page; a re-load moves the key and the next listing reads afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imageserver.frames import catalog
from imageserver.frames import phash
from imageserver.state import frame_rows
from imageserver.state import image_facts
from imageserver.state import index_hashes
from imageserver.state.image_facts import FileFacts
from imageserver.state.indexer import ImageEntry
from imageserver.state.registry import Directory
from imageserver.video import framecache
from imageserver.web.context import Services
from imageserver.web.video_loading import is_frames_folder

# Directories whose times and collapsed lists a worker keeps (least recently used out).
CACHED_DIRECTORIES = 32

_lock = threading.Lock()
_times: OrderedDict[tuple[str, int, int], dict[str, float] | None] = OrderedDict()
_kept: OrderedDict[tuple[str, int, int, int], list[dict[str, Any]]] = OrderedDict()


def _remember(cache: OrderedDict, key: Any, value: Any) -> Any:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHED_DIRECTORIES:
            cache.popitem(last=False)
    return value


def frame_times(svc: Services, directory: Directory) -> dict[str, float] | None:
    """Return name -> seconds for a video's frames, or None for an ordinary folder.

    Keyed by `delta_seq` too: frames of a running extraction arrive in batches.
    """
    key = (directory.id, directory.load_seq, directory.delta_seq)
    if key in _times:
        return _times[key]
    times = None
    if is_frames_folder(svc.config, directory.real_path):
        times = frame_rows.times(svc.registry.store, directory.real_path)
        if not times:
            try:  # a folder finished before frame times were stored
                times = framecache.read_manifest(Path(directory.real_path))
            except (OSError, ValueError, KeyError):
                times = {}  # a damaged manifest costs the `t` keys, not the listing
    return _remember(_times, key, times)


def kept_frames(
    svc: Services, directory: Directory, distance: int, times: dict[str, float] | None
) -> list[dict[str, Any]]:
    """Return the frames `?unique=true` keeps, each with `duplicates` (and `t_from`/`t_to`).

    A list another worker (or an earlier load of the same files) stored is reused when the
    index digest matches. Otherwise one query reads the index with the stored hashes that
    still hold (`index_hashes`), hashes missing from the state database are computed (a
    thread pool), and only kept frames become dicts; the result is stored for the other
    workers. Everything read comes from one snapshot, so the digest names exactly those rows.
    """
    key = (directory.id, directory.load_seq, directory.delta_seq, distance)
    cached = _kept.get(key)
    if cached is not None:
        return cached
    store, root = svc.registry.store, directory.real_path
    with store.read() as conn:
        digest = image_facts.index_digest(conn, directory.id)
        stored = image_facts.stored_unique(conn, root, digest, distance)
        kept = None if stored is None else _from_stored(stored, times)
        if kept is None:
            index = index_hashes.read(conn, directory.id, root)
            missing = index.missing()
            # The common case (every hash stored) collapses here and reads the sizes of
            # the kept frames only; files to hash need every size, read while we are here.
            positions = None if missing else phash.kept_indices_hex(index.hashes, distance)
            wanted = None if missing else [index.names[i] for i in positions]
            known = index_hashes.sizes(conn, directory.id, wanted)
    if kept is None:
        if missing:
            _hash_missing(svc, directory, index, missing, known)
            positions = phash.kept_indices_hex(index.hashes, distance)
        kept, runs = _collapse(index, positions, known, times)
        image_facts.save_unique(store, root, digest, distance, runs)
    return _remember(_kept, key, kept)


def _hash_missing(
    svc: Services,
    directory: Directory,
    index: index_hashes.IndexHashes,
    missing: list[int],
    known: dict[str, tuple[int, int]],
) -> None:
    """Compute (and store) the facts of the files without a current row; fill their hashes."""
    entries = [ImageEntry(index.names[i], *known[index.names[i]]) for i in missing]
    found = catalog.ensure(svc.registry.store, directory.real_path, entries)
    for i, entry in zip(missing, entries, strict=True):
        index.hashes[i] = found[entry.name].hash or ""


def _collapse(
    index: index_hashes.IndexHashes,
    positions: list[int],
    known: dict[str, tuple[int, int]],
    times: dict[str, float] | None,
) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """The kept frames (at `positions`), and `[name, size, mtime_ns, duplicates, last
    dropped name]` each."""
    names = index.names
    ends = positions[1:] + [len(names)] if positions else []
    kept, runs = [], []
    for start, end in zip(positions, ends, strict=True):
        name = names[start]
        size, mtime_ns = known[name]
        row: dict[str, Any] = {"name": name, "size": size, "mtime_ns": mtime_ns}
        if times is not None and name in times:
            row["t"] = times[name]
        row["duplicates"] = end - start - 1
        if times is not None:
            _add_span(row, times, names[start + 1 : end])
        kept.append(row)
        runs.append(
            [name, size, mtime_ns, end - start - 1, names[end - 1] if end - start > 1 else None]
        )
    return kept, runs


def _from_stored(
    stored: list[list[Any]], times: dict[str, float] | None
) -> list[dict[str, Any]] | None:
    """The kept frames of a stored list; None when its `t_to` cannot be told from it (a
    last dropped frame without a time), so the list is computed afresh."""
    kept = []
    for name, size, mtime_ns, duplicates, last in stored:
        row: dict[str, Any] = {"name": name, "size": size, "mtime_ns": mtime_ns}
        if times is not None and name in times:
            row["t"] = times[name]
        row["duplicates"] = duplicates
        if times is not None:
            if "t" in row:
                row["t_from"] = row["t_to"] = row["t"]
            if last is not None:
                if last not in times:
                    return None
                row["t_to"] = times[last]
        kept.append(row)
    return kept


def _add_span(row: dict[str, Any], times: dict[str, float], dropped: list[str]) -> None:
    """`t_from` and `t_to` of a kept frame, exactly as `phash.collapse` gives them."""
    if "t" in row:
        row["t_from"] = row["t_to"] = row["t"]
    for name in reversed(dropped):
        if name in times:
            row["t_to"] = times[name]
            break


def facts_of(
    svc: Services, directory: Directory, rows: Sequence[dict[str, Any]]
) -> dict[str, FileFacts]:
    """Return the facts of the listed rows (computed and stored when missing)."""
    entries = [ImageEntry(r["name"], r["size"], r["mtime_ns"]) for r in rows]
    return catalog.ensure(svc.registry.store, directory.real_path, entries)


def entry_extras(
    row: dict[str, Any], times: dict[str, float] | None, facts: FileFacts | None
) -> dict[str, Any]:
    """The keys a listing entry gets after the pinned four, in their documented order."""
    extras: dict[str, Any] = {}
    if times is not None and row["name"] in times:
        extras["t"] = times[row["name"]]
    if "duplicates" in row:
        extras["duplicates"] = row["duplicates"]
        if "t_from" in row:
            extras["t_from"], extras["t_to"] = row["t_from"], row["t_to"]
    if facts is not None:
        extras.update(width=facts.width, height=facts.height, format=facts.format)
    return extras
