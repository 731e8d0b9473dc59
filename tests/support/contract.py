"""Values pinned by docs/API.md, written once for every test (not imported from the server)."""

from __future__ import annotations

NOTHING_LOADED = {
    "current_directory": None,
    "image_count": 0,
    "image_list": [],
    "load_time": None,
    "timeout_minutes": None,
    "auto_unload_at": None,
    "time_remaining": None,
}
