"""Store checked uploads in an inbox, all or nothing, and re-index it so they are served.

Every file of a request is validated first; only then are they moved in. The move is a hard
link from the temporary file (then the temporary name goes): unlike a rename, a link never
replaces an existing file, so two uploads racing for one name cannot overwrite each other.
If one link fails, the ones already made are undone. The inbox is then loaded like any
directory, without becoming the current one, with the server's default timeout as its
deadline (re-armed by each upload). docs/API.md#uploads.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from http import HTTPStatus

from imageserver.settings.config import Config
from imageserver.state import inboxes
from imageserver.state.registry import Directory
from imageserver.state.registry import Registry
from imageserver.state.registry import directory_id
from imageserver.uploads.errors import UploadError
from imageserver.uploads.errors import too_large
from imageserver.uploads.names import sanitised
from imageserver.uploads.names import with_format_extension
from imageserver.uploads.spool import SpoolFile
from imageserver.uploads.validate import ImageFacts
from imageserver.uploads.validate import validate

MIB = 1024 * 1024


@dataclass(frozen=True)
class StoredImage:
    """One image of the answer: stored now, or found already stored (same bytes)."""

    name: str
    size: int
    facts: ImageFacts


@dataclass
class _Checked:
    spool: SpoolFile
    facts: ImageFacts
    name: str


class Inbox:
    """One inbox of one server: `<state_dir>/inboxes/<name>/`."""

    def __init__(self, registry: Registry, config: Config, name: str) -> None:
        self.registry = registry
        self.max_pixels = config.max_pixels
        self.quota_bytes = config.upload_quota_mb * MIB
        self.total_bytes = config.upload_total_mb * MIB
        self.root = inboxes.inboxes_root(config.state_dir)
        self.folder = os.path.join(self.root, name)
        self.id = directory_id(self.folder)

    def temp_folder(self) -> str:
        """Return the folder where this server spools upload bodies."""
        return inboxes.temp_folder(self.root)

    def store(self, spools: list[SpoolFile]) -> tuple[Directory, list[StoredImage]]:
        """Validate every spooled file, then store the new ones and re-index the inbox.

        :raise UploadError: 415/422 (not an image, broken, polyglot, a misleading name),
            409 (another file has the name), 413 (over the inbox's quota); nothing stored.
        """
        if not spools:
            raise UploadError(HTTPStatus.UNPROCESSABLE_ENTITY, "No file in the request")
        unique = self._unique([self._checked(spool) for spool in spools])
        answer: dict[str, StoredImage] = {}
        new: list[_Checked] = []
        for item in unique:
            existing = self._already_stored(item)
            if existing is not None:
                answer[item.spool.sha256] = existing
            else:
                new.append(item)
                answer[item.spool.sha256] = StoredImage(item.name, item.spool.size, item.facts)
        self._check_quota(new)
        os.makedirs(self.folder, exist_ok=True)
        self._link_all(new)
        with self.registry.store.write() as conn:
            inboxes.record(conn, self.id, [(c.spool.sha256, c.name) for c in new])
        directory = self.registry.load(self.folder, self.folder, False, None, make_current=False)
        return directory, [answer[item.spool.sha256] for item in unique]

    def _checked(self, spool: SpoolFile) -> _Checked:
        spool.close()  # complete: validation reads it back from disk
        facts = validate(spool.path, self.max_pixels)
        name = with_format_extension(sanitised(spool.filename), facts.format, spool.sha256)
        return _Checked(spool, facts, name)

    @staticmethod
    def _unique(checked: list[_Checked]) -> list[_Checked]:
        """Drop repeats of the same bytes; refuse two different files under one name."""
        by_hash: dict[str, _Checked] = {}
        names: dict[str, str] = {}
        for item in checked:
            if item.spool.sha256 in by_hash:
                continue
            if names.setdefault(item.name, item.spool.sha256) != item.spool.sha256:
                raise _clash(item.name, "two different files of this request")
            by_hash[item.spool.sha256] = item
        return list(by_hash.values())

    def _already_stored(self, item: _Checked) -> StoredImage | None:
        """Return the stored copy of these bytes, if the inbox has them."""
        with self.registry.store.read() as conn:
            name = inboxes.stored_name(conn, self.id, item.spool.sha256)
        for candidate in dict.fromkeys(n for n in (name, item.name) if n):
            path = os.path.join(self.folder, candidate)
            if _holds(path, item.spool.sha256):
                return StoredImage(candidate, os.path.getsize(path), item.facts)
        if os.path.lexists(os.path.join(self.folder, item.name)):
            raise _clash(item.name, "the inbox")
        return None

    def _check_quota(self, new: list[_Checked]) -> None:
        """:raise UploadError 413: past this inbox's quota, or past every inbox's total."""
        with self.registry.store.read() as conn:
            used = inboxes.used_bytes(conn, self.id)
            everywhere = inboxes.total_bytes(conn)
        adding = sum(item.spool.size for item in new)
        if used + adding > self.quota_bytes:
            raise too_large(
                f"The inbox is full: it holds {used // MIB} MB of its "
                f"{self.quota_bytes // MIB} MB quota (IMAGE_SERVER_UPLOAD_QUOTA_MB); "
                "unload it or use another inbox"
            )
        # Without this bound, new inbox names would each take a full quota, without end.
        if everywhere + adding > self.total_bytes:
            raise too_large(
                f"The inboxes are full: together they hold {everywhere // MIB} MB of "
                f"{self.total_bytes // MIB} MB (IMAGE_SERVER_UPLOAD_TOTAL_MB); unload an inbox"
            )

    def _link_all(self, new: list[_Checked]) -> None:
        """Link every new file into the inbox, or none of them."""
        done: list[str] = []
        try:
            for item in new:
                target = os.path.join(self.folder, item.name)
                try:
                    os.link(item.spool.path, target)
                except FileExistsError:
                    if _holds(target, item.spool.sha256):
                        continue  # the same bytes won a race for the name: nothing to do
                    raise _clash(item.name, "the inbox") from None
                done.append(target)
        except BaseException:
            for target in done:
                os.unlink(target)
            raise


def _clash(name: str, where: str) -> UploadError:
    return UploadError(
        HTTPStatus.CONFLICT,
        f"A different file named {name!r} is already in {where}; "
        "files are never overwritten: choose another name",
    )


def _holds(path: str, sha256: str) -> bool:
    """Tell whether the file at `path` exists and has exactly these bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            while block := file.read(1024 * 1024):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == sha256
