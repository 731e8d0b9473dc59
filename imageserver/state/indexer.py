"""Build a directory's image index once, at load time, with `os.scandir`.

The index is what every request reads afterwards (names, sizes, modification times), so no
request ever rescans the directory. Only entries a request could actually be served are
indexed: regular files (or symlinks to regular files that stay under the root) with an image
extension and a name that is valid UTF-8 without a backslash.
"""

from __future__ import annotations

import os
import stat
from functools import partial
from operator import itemgetter
from typing import NamedTuple

from imageserver.security.confinement import is_safe_segment
from imageserver.security.confinement import is_within
from imageserver.security.confinement import resolve_image_file
from imageserver.settings.media_types import is_image_name


class ImageEntry(NamedTuple):
    """One indexed image: its name relative to the root (`/`-separated), size and mtime.

    A named tuple, not a dataclass: a load makes one per file (`_entry` makes it without
    the Python-level constructor, 20 times faster than a frozen dataclass), and a tuple is
    already the `(name, size, mtime_ns)` row the index and its digest take."""

    name: str
    size: int
    mtime_ns: int


_entry = partial(tuple.__new__, ImageEntry)  # _entry((name, size, mtime_ns))


def _encodable(name: str) -> bool:
    if name.isascii():  # the common case, without building the encoded bytes
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from the file system (surrogate escapes)
        return False
    return True


def _entry_if_image(entry: os.DirEntry[str], root_real: str, name: str) -> ImageEntry | None:
    if not is_image_name(entry.name) or not is_safe_segment(entry.name):
        return None
    if not _encodable(entry.name):
        return None
    try:
        if entry.is_symlink() and not is_within(os.path.realpath(entry.path), root_real):
            return None
        info = entry.stat()  # follows a symlink to its (confined) target
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return _entry((name, info.st_size, info.st_mtime_ns))


def scan_directory(root_real: str, recursive: bool = False) -> list[ImageEntry]:
    """Return the images under `root_real`, sorted by name in code-point order.

    With `recursive`, sub-folders are walked too (symlinked folders are not followed, so a
    loop or an escape is impossible) and names carry their relative path (`sub/frame.jpg`).

    :raise OSError: the root itself cannot be listed.
    """
    found: list[ImageEntry] = []
    pending: list[tuple[str, str]] = [(root_real, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            iterator = os.scandir(folder)
        except OSError:
            if not prefix:
                raise
            continue  # an unreadable sub-folder is skipped, not fatal
        with iterator:
            for entry in iterator:
                name = prefix + entry.name
                if recursive and _is_real_subfolder(entry):
                    if is_safe_segment(entry.name) and _encodable(entry.name):
                        pending.append((entry.path, name + "/"))
                    continue
                image = _entry_if_image(entry, root_real, name)
                if image is not None:
                    found.append(image)
    found.sort(key=itemgetter(0))  # by name
    return found


def _is_real_subfolder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def entry_for_name(root_real: str, name: str) -> ImageEntry | None:
    """Return the index entry of one relative name (`sub/frame.jpg`), or None.

    The rules of `scan_directory` apply: a regular file (or a symlink to one that stays under
    the root) with an image extension and a UTF-8 name. A live folder uses it per event.
    """
    if not _encodable(name):
        return None
    found = resolve_image_file(root_real, name)
    if found is None:
        return None
    info = found[1]
    return ImageEntry(name, info.st_size, info.st_mtime_ns)
