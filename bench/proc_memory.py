"""Memory of a running server, split between the web server and its extraction processes.

PSS (proportional set size) counts a page shared by N processes as 1/N to each, so the sum
over a process tree is what that tree costs the machine: the figure the brief's "idles under
100 MB" and issue 29's "402 MB after a day of recordings" are about. Read from
`/proc/<pid>/smaps_rollup` (Linux 4.14 or later).

PSS also moves with what the rest of the machine runs: a library page shared with another
helper's Python process counts half here, and whole once that process ends. USS (the pages
only this process maps: Private_Clean + Private_Dirty) does not, so it is the steadier figure
for "did the server keep memory after an extraction" on a shared machine.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

# The processes a web worker starts for a video: the probe and the extraction job's child.
EXTRACTION_MODULES = ("imageserver.jobs.child", "imageserver.video.probe")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class TreeMemory:
    """PSS in KiB of the web server (granian's master and workers) and of extraction; USS
    of the web server."""

    server_kib: int
    extraction_kib: int
    extraction_pids: list[int]
    server_uss_kib: int = 0
    server_pids: list[int] = field(default_factory=list)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:  # the process ended between the listing and the read
        return None


def rollup_kib(pid: int) -> tuple[int, int]:
    """(PSS, USS) of one process in KiB ((0, 0) when it is gone)."""
    pss = uss = 0
    for line in (_read(f"/proc/{pid}/smaps_rollup") or "").splitlines():
        if line.startswith("Pss:"):
            pss += int(line.split()[1])
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            uss += int(line.split()[1])
    return pss, uss


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far, all its threads (0 when it is gone)."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children(pid: int) -> list[int]:
    """The direct children of `pid` (all its threads')."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found += [int(child) for child in (_read(f"{task}/children") or "").split()]
    return found


def is_extraction(pid: int) -> bool:
    """Tell whether `pid` runs one of the video modules (its command line says so)."""
    command = (_read(f"/proc/{pid}/cmdline") or "").split("\0")
    return any(module in command for module in EXTRACTION_MODULES)


def tree_memory(root: int) -> TreeMemory:
    """PSS of `root` and its descendants; an extraction process counts with its own children."""
    memory = TreeMemory(0, 0, [])
    pending = [(root, False)]
    while pending:
        pid, inside = pending.pop()
        inside = inside or is_extraction(pid)
        pss, uss = rollup_kib(pid)
        if inside:
            memory.extraction_kib += pss
            memory.extraction_pids.append(pid)
        else:
            memory.server_kib += pss
            memory.server_uss_kib += uss
            memory.server_pids.append(pid)
        pending += [(child, inside) for child in children(pid)]
    return memory


class PeakSampler:
    """Samples `tree_memory(root)` in a thread until stopped; keeps the peaks, and the CPU
    seconds of every extraction process as last seen (a process's last sample interval is
    missed, a fraction of a second)."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root = root
        self.interval = interval
        self.peak_server_kib = 0
        self.peak_extraction_kib = 0
        self.samples = 0
        self.extraction_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            memory = tree_memory(self.root)
            self.peak_server_kib = max(self.peak_server_kib, memory.server_kib)
            self.peak_extraction_kib = max(self.peak_extraction_kib, memory.extraction_kib)
            for pid in memory.extraction_pids:
                self.extraction_cpu[pid] = max(self.extraction_cpu.get(pid, 0.0), cpu_seconds(pid))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
