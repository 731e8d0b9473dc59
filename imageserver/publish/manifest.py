"""What a publish remembers between runs: for each key, the source's fingerprint and ETag.

The manifest only saves work (reading and hashing every file, rendering every variant):
the store's listing decides. An object is skipped without being read when the manifest
has its fingerprint (size, mtime, variant) and the listing shows the same ETag; otherwise
its bytes are hashed and compared with the listing. So a lost, stale or corrupt manifest
costs time, never correctness. It is written atomically (temporary file, then rename), so a
run killed at any moment leaves the previous version or the new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from imageserver.loader.output import write_json_atomic
from imageserver.publish.objects import SourceObject
from imageserver.settings.publish_target import Target

log = logging.getLogger(__name__)

VERSION = 1


def manifest_path(state_dir: str, endpoint: str | None, target: Target, root: str) -> Path:
    """Return the manifest file of one folder published to one target at one endpoint."""
    identity = "\0".join((endpoint or "", target.bucket, target.prefix, root))
    digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return Path(state_dir) / "publish" / f"{digest}.json"


class Manifest:
    """Fingerprint and ETag per object key, loaded from and saved to one JSON file."""

    def __init__(self, path: Path, entries: dict[str, list[str]] | None = None) -> None:
        self.path = path
        self._entries = entries or {}
        self._dirty = False

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read the manifest at `path`; a missing or unreadable one is empty (and logged)."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            entries = document["objects"] if document.get("version") == VERSION else {}
            if not isinstance(entries, dict):
                raise ValueError("objects is not a mapping")
        except FileNotFoundError:
            entries = {}
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            log.warning("ignoring the unreadable manifest %s: %s", path, exc)
            entries = {}
        return cls(path, entries)

    def known_etag(self, obj: SourceObject) -> str | None:
        """Return the ETag recorded for `obj` when its fingerprint has not changed since."""
        entry = self._entries.get(obj.key)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == obj.fingerprint():
            return entry[1]
        return None

    def record(self, obj: SourceObject, etag: str) -> None:
        """Remember that `obj`, as it is now, is stored with `etag`."""
        entry = [obj.fingerprint(), etag]
        if self._entries.get(obj.key) != entry:
            self._entries[obj.key] = entry
            self._dirty = True

    def save(self) -> None:
        """Write the manifest atomically if anything changed since the last save.

        :raise OSError: the state directory cannot be written.
        """
        if not self._dirty:
            return
        write_json_atomic(self.path, {"version": VERSION, "objects": self._entries})
        self._dirty = False
