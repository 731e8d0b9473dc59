"""Who owns a job: host, process id and the process's start time, and whether it still lives.

The start time tells a reused process id (common in containers, where a restarted server gets
the same small pids) from the process that owned the job.
"""

from __future__ import annotations

import os
import socket


def this_owner() -> str:
    """Return the owner name of this process: `host:pid:start time`."""
    return owner_of(os.getpid())


def owner_of(pid: int) -> str:
    """Return the owner name of process `pid` on this host."""
    return f"{socket.gethostname()}:{pid}:{started(pid)}"


def started(pid: int) -> str:
    """Return when process `pid` started (clock ticks since boot, from /proc), or ''."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The command name (field 2) may hold spaces: count fields after its `)`.
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def is_local(owner: str | None) -> bool:
    """Tell whether `owner` names a process of this host."""
    host, pid, _ = (owner or "::").rsplit(":", 2)
    return host == socket.gethostname() and pid.isdigit()


def pid_of(owner: str | None) -> int | None:
    """Return the process id in `owner`, or None."""
    pid = (owner or "::").rsplit(":", 2)[1]
    return int(pid) if pid.isdigit() else None


def alive(owner: str | None) -> bool:
    """Tell whether the local process `owner` names still runs (a zombie counts as gone)."""
    if not is_local(owner):
        return False
    _, pid, start = (owner or "::").rsplit(":", 2)
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):  # gone, or another user's process now
        return False
    return (not start or started(int(pid)) == start) and not _zombie(int(pid))


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True
