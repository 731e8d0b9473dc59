"""`?unique=true`'s fast path gives exactly what `phash.collapse` gives (#23).

The listing reads the index and the current hashes in one join, collapses over ints and
stores the result per folder digest (docs/API.md#near-duplicates-and-facts); these check it
against the plain dict-based collapse, including the reuse of a stored list and its drop.
"""

from __future__ import annotations

import random
from operator import itemgetter
from types import SimpleNamespace

import pytest

from imageserver.frames import catalog
from imageserver.frames import phash
from imageserver.state import image_facts
from imageserver.state import index_hashes
from imageserver.state.image_facts import FileFacts
from imageserver.state.store import Store
from imageserver.web import frame_listing


def reference(entries, distance):
    """The collapse as first written: one walk, dicts all the way."""
    kept, last, current = [], None, None
    for entry in sorted(entries, key=itemgetter("name")):
        h = entry.get("hash")
        near = h is not None and last is not None and (h ^ last).bit_count() <= distance
        if current is not None and near:
            current["duplicates"] += 1
            if "t" in entry:
                current["t_to"] = entry["t"]
            continue
        current = dict(entry, duplicates=0)
        if "t" in entry:
            current["t_from"] = current["t_to"] = entry["t"]
        kept.append(current)
        last = h
    return kept


def same(a, b):
    return a == b and [list(x) for x in a] == [list(x) for x in b]


def test_collapse_matches_the_reference():
    rng = random.Random(3)
    for _ in range(2000):
        entries = []
        for i in range(rng.randint(0, 30)):
            entry = {"name": f"{rng.randint(0, 99):03d}-{i}", "hash": rng.getrandbits(6)}
            if rng.random() < 0.1:
                entry["hash"] = None
            if rng.random() < 0.7:
                entry["t"] = rng.random()
            entries.append(entry)
        distance = rng.randint(0, 6)
        assert same(phash.collapse(entries, distance), reference(entries, distance))


@pytest.mark.parametrize("seed", range(12))
def test_kept_frames_match_and_are_reused(tmp_path, seed):
    rng = random.Random(seed)
    store = Store(str(tmp_path / "state.sqlite3"))
    store.initialise()
    image_facts.create_schema(store.connection())
    root = str(tmp_path)  # no files: rows left to compute hash as None (unreadable)
    names = sorted({f"f{rng.randint(0, 999):03d}é.jpg" for _ in range(rng.randint(0, 60))})
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO images VALUES ('d', ?, ?, 5)", [(n, rng.randint(1, 3)) for n in names]
        )
    facts = [
        FileFacts(n, rng.choice([1, 2, 3]), 5, format(rng.getrandbits(8), "064x"), 1, 1, "PNG")
        for n in names
        if rng.random() > 0.1
    ]
    image_facts.save(store, root, facts)
    times = None if seed % 3 == 0 else {n: rng.random() for n in names if rng.random() < 0.8}
    distance = rng.randint(0, 4)
    known = {f.name: f for f in facts}
    entries = []
    for name, size in store.connection().execute("SELECT name, size FROM images"):
        row = known.get(name)
        current = row is not None and row.size == size
        entries.append({"name": name, "size": size, "mtime_ns": 5})
        entries[-1]["hash"] = catalog.hash_value(row) if current else None
        if times is not None and name in times:
            entries[-1]["t"] = times[name]
    expected = reference(entries, distance)
    for row in expected:
        del row["hash"]
    svc = SimpleNamespace(registry=SimpleNamespace(store=store))

    def listed(load_seq):
        directory = SimpleNamespace(id="d", load_seq=load_seq, delta_seq=0, real_path=root)
        return frame_listing.kept_frames(svc, directory, distance, times)

    assert same(listed(seed * 10 + 1), expected)
    with store.read() as conn:
        digest = image_facts.index_digest(conn, "d")
        assert image_facts.stored_unique(conn, root, digest, distance) is not None
    assert same(listed(seed * 10 + 2), expected)  # a "re-load": from the stored list
    image_facts.save(store, root, facts[:1])
    with store.read() as conn:
        assert not facts or image_facts.stored_unique(conn, root, digest, distance) is None
    store.close()


def test_a_load_records_the_digest_a_listing_would_compute(tmp_path):
    from imageserver.state.registry import Registry

    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("b.png", "a.png", "ü.png"):
        (folder / name).write_bytes(b"x" * len(name))
    store = Store(str(tmp_path / "state" / "state.sqlite3"))
    registry = Registry(store, lambda: 0.0, 0)
    registry.initialise()
    directory = registry.load(str(folder), str(folder), False, 0)
    with store.read() as conn:
        recorded = image_facts.index_digest(conn, directory.id)
        conn.execute("UPDATE directories SET delta_seq = 1")  # as a live-folder batch would
        computed = image_facts.index_digest(conn, directory.id)
    assert recorded == computed
    again = registry.load(str(folder), str(folder), False, 0)  # unchanged files: same digest
    with store.read() as conn:
        assert image_facts.index_digest(conn, again.id) == recorded
    store.close()


def test_the_hex_collapse_keeps_what_the_int_collapse_keeps():
    rng = random.Random(5)
    for _ in range(2000):
        # Few distinct values, so runs of equal hashes (the text shortcut) are common.
        values = [rng.choice([None, *(rng.getrandbits(8) for _ in range(4))]) for _ in range(30)]
        texts = ["" if v is None else format(v, "02x") for v in values]
        distance = rng.randint(0, 6)
        assert phash.kept_indices_hex(texts, distance) == phash.kept_indices(values, distance)


def test_index_hashes_are_in_name_order_with_missing_and_unreadable_marked(tmp_path):
    store = Store(str(tmp_path / "state.sqlite3"))
    store.initialise()
    image_facts.create_schema(store.connection())
    names = ["b.jpg", "a,1.jpg", "c.jpg", "é.jpg"]  # a comma: names are split on NUL
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO images (dir_id, name, size, mtime_ns) VALUES ('d', ?, 10, 20)",
            [(n,) for n in names],
        )
    facts = [
        FileFacts("a,1.jpg", 10, 20, "ab" * 46, 1, 1, "JPEG"),
        FileFacts("b.jpg", 10, 20, None, None, None, None),  # unreadable
        FileFacts("c.jpg", 11, 20, "cd" * 46, 1, 1, "JPEG"),  # stale: another size
    ]
    image_facts.save(store, "/root", facts)
    with store.read() as conn:
        index = index_hashes.read(conn, "d", "/root")
        empty = index_hashes.read(conn, "nothing", "/root")
        some = index_hashes.sizes(conn, "d", ["é.jpg", "gone.jpg"])
        every = index_hashes.sizes(conn, "d")
    assert index.names == sorted(names)
    assert index.hashes == ["ab" * 46, "", index_hashes.MISSING, index_hashes.MISSING]
    assert index.missing() == [2, 3]
    assert some == {"é.jpg": (10, 20)} and sorted(every) == sorted(names)
    assert empty.names == empty.hashes == [] and empty.missing() == []
