"""Which file names a live folder waits for: temporary names of common writers are skipped.

A writer that saves `frame.jpg.part`, `frame.jpg.tmp` (ffmpeg's `-atomic_writing`), `.frame.jpg.
Ab12Cd` (rsync), `frame.jpg~` or `.#frame.jpg` (editors) and renames it when done is followed
by the rename, never by the temporary file. Most of these fail the image-extension test
anyway; this predicate says so by name, and also covers temporary names that keep an image
extension (`frame.tmp.jpg`, `.~frame.jpg`). A hidden image written in place (`.cover.png`) is
not temporary: hidden files are served (docs/API.md#images).
"""

from __future__ import annotations

TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp")
TEMPORARY_PREFIXES = (".#", ".~", "~$")
TEMPORARY_INFIXES = (".tmp.", ".part.")


def is_temporary_name(basename: str) -> bool:
    """Tell whether a file name (no folder) is a writer's temporary name, not a frame."""
    lowered = basename.lower()
    if lowered.endswith("~") or lowered.endswith(TEMPORARY_SUFFIXES):
        return True
    if basename.startswith(TEMPORARY_PREFIXES):
        return True
    return any(infix in lowered for infix in TEMPORARY_INFIXES)
