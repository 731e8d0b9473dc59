"""The inotify watches of watched directories, and what each event means for an index.

One watch per folder (sub-folders too for a recursive load), never one per file, so a folder
of 100,000 frames costs one watch and nothing at rest. A frame enters the index on
`IN_CLOSE_WRITE` (its writer closed it: complete) or `IN_MOVED_TO` (renamed into place),
never on `IN_CREATE`, so a file still being written is never listed or served truncated; a
file that is being rewritten (`IN_MODIFY` on an indexed name) leaves the index until it is
closed again. Two watched directories may share a folder (one nested in the other): the
kernel gives both the same watch descriptor, so `WatchTable` counts its users.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from dataclasses import field

from inotify_simple import INotify
from inotify_simple import flags

from imageserver.security.confinement import is_safe_segment
from imageserver.settings.media_types import is_image_name
from imageserver.state.indexer import entry_for_name
from imageserver.watch.names import is_temporary_name
from imageserver.watch.sync import Batch

WATCH_MASK = (
    flags.CLOSE_WRITE
    | flags.MOVED_TO
    | flags.MOVED_FROM
    | flags.CREATE
    | flags.DELETE
    | flags.MODIFY
    | flags.DELETE_SELF
    | flags.MOVE_SELF
    | flags.ONLYDIR
    | flags.DONT_FOLLOW
    | flags.EXCL_UNLINK
)
_GONE = flags.DELETE | flags.MOVED_FROM
_ARRIVED = flags.CREATE | flags.MOVED_TO
_ROOT_LOST = flags.IGNORED | flags.DELETE_SELF | flags.MOVE_SELF | flags.UNMOUNT


class WatchLimitReached(OSError):
    """The kernel refused another watch (`fs.inotify.max_user_watches`)."""


@dataclass
class Outcome:
    """What events asked of the watcher besides index changes."""

    new_folders: list[str] = field(default_factory=list)  # prefixes to scan (`sub/`)
    root_lost: bool = False


class WatchTable:
    """Watch descriptors of one inotify instance and the trees that use each."""

    def __init__(self, inotify: INotify) -> None:
        self.inotify = inotify
        self._users: dict[int, list[Tree]] = {}

    def add(self, tree: Tree, path: str) -> int:
        """Watch one folder for `tree`. :raise WatchLimitReached: :raise OSError: gone."""
        try:
            wd = self.inotify.add_watch(path, WATCH_MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise WatchLimitReached(exc.errno, "inotify watch limit reached") from None
            raise
        users = self._users.setdefault(wd, [])
        if tree not in users:
            users.append(tree)
        return wd

    def release(self, tree: Tree, wd: int) -> None:
        """Stop watching a folder for `tree`; the kernel watch goes with its last user."""
        users = self._users.get(wd, [])
        if tree in users:
            users.remove(tree)
        if not users:
            self._users.pop(wd, None)
            # Already gone with its folder when the kernel sent IN_IGNORED.
            with contextlib.suppress(OSError):
                self.inotify.rm_watch(wd)

    def trees(self, wd: int) -> list[Tree]:
        """Return the trees watching a descriptor."""
        return list(self._users.get(wd, ()))

    def forget(self, wd: int) -> None:
        """Drop a descriptor the kernel removed (IN_IGNORED)."""
        for tree in self._users.pop(wd, []):
            tree.prefixes.pop(wd, None)


class Tree:
    """The watched folders of one directory: descriptor -> relative prefix (`""`, `sub/`)."""

    def __init__(self, table: WatchTable, dir_id: str, root: str, recursive: bool) -> None:
        self.table = table
        self.dir_id = dir_id
        self.root = root
        self.recursive = recursive
        self.prefixes: dict[int, str] = {}
        self.writing: set[str] = set()  # names seen modified and not closed yet

    def watch(self, prefix: str = "") -> None:
        """Watch the folder at `prefix` and, when recursive, every real sub-folder below it.

        :raise WatchLimitReached: the kernel's limit. :raise OSError: the root is gone.
        """
        pending = [prefix]
        while pending:
            current = pending.pop()
            try:
                wd = self.table.add(self, os.path.join(self.root, current))
            except WatchLimitReached:
                raise
            except OSError:
                if not current:
                    raise
                continue  # a sub-folder that vanished meanwhile
            self.prefixes[wd] = current
            if self.recursive:
                pending.extend(_subfolders(self.root, current))

    def unwatch(self, prefix: str = "") -> None:
        """Stop watching the folder at `prefix` and everything below it."""
        for wd, known in list(self.prefixes.items()):
            if known.startswith(prefix):
                del self.prefixes[wd]
                self.table.release(self, wd)

    def handle(self, wd: int, mask: int, name: str, batch: Batch, outcome: Outcome) -> None:
        """Turn one event on one of this tree's folders into index changes."""
        prefix = self.prefixes.get(wd)
        if prefix is None:
            return
        if mask & _ROOT_LOST and not name:
            if prefix == "":
                outcome.root_lost = True
            return
        if mask & flags.ISDIR:
            self._folder_event(mask, prefix + name + "/", name, batch, outcome)
        elif is_image_name(name) and not is_temporary_name(name):
            self._file_event(mask, prefix + name, batch)

    def _folder_event(
        self, mask: int, folder: str, name: str, batch: Batch, outcome: Outcome
    ) -> None:
        if not self.recursive:
            return
        if mask & _GONE:
            self.unwatch(folder)
            batch.remove_prefix(folder)
        elif mask & _ARRIVED and is_safe_segment(name):
            outcome.new_folders.append(folder)

    def _file_event(self, mask: int, name: str, batch: Batch) -> None:
        if mask & (flags.CLOSE_WRITE | flags.MOVED_TO):
            self.writing.discard(name)
            batch.put(name, entry_for_name(self.root, name))  # None if it vanished again
        elif mask & _GONE:
            self.writing.discard(name)
            batch.put(name, None)
        elif mask & flags.MODIFY and name not in self.writing:
            # Being (re)written: out of the index until closed (a no-op for a new file).
            self.writing.add(name)
            batch.put(name, None)
        elif mask & flags.CREATE and _linked(os.path.join(self.root, name)):
            batch.put(name, entry_for_name(self.root, name))


def _linked(path: str) -> bool:
    """Tell whether a name just created is a link, which no writer will close.

    A symlink, or a hard link to an existing file (`ln frame.jpg latest.jpg`): a file being
    written has one link until it is closed.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink > 1)


def _subfolders(root: str, prefix: str) -> list[str]:
    # Symlinked folders are not followed (as in `indexer.scan_directory`): no loop, no escape.
    try:
        with os.scandir(os.path.join(root, prefix)) as entries:
            return [
                f"{prefix}{entry.name}/"
                for entry in entries
                if is_safe_segment(entry.name) and entry.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []
