"""Child processes the benchmark starts: own process group, own log, always stopped.

Every server runs in a new session (`start_new_session=True`), so that (1) a Ctrl-C in the
terminal reaches only the benchmark, which then stops the servers in order, and (2) one
`killpg` reaches a server's master and all of its workers, whatever they forked.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

from bench.model import BenchError

START_DEADLINE_SECONDS = 30
STOP_GRACE_SECONDS = 10
LOG_TAIL_CHARS = 2000
SETTLE_SAMPLES = 3
SETTLE_INTERVAL_SECONDS = 0.2
RSS_NOISE_BYTES = 256 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (bind, then release)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """One long-running process (a server) in its own process group.

    :param name: shown in error messages.
    :param log_path: stdout and stderr go there, so a failing start can be explained.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The pid of the process that was started (the group leader)."""
        if self.process is None:
            raise BenchError(f"{self.name} was never started")
        return self.process.pid

    def start(self) -> None:
        """Start the process; `stop()` must follow, even when this raises."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        """Tell whether the group leader is still alive."""
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        """Return the exit status (negative: the signal that ended it), None while running."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM the whole group, SIGKILL it if it lingers; safe to call twice."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=5)
        # Workers may outlive a leader that died first: sweep the group once more.
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.pid, sig)

    def log_tail(self) -> str:
        """Return the end of the process's log, for error messages."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def wait_until_ready(self, port: int, path: str) -> None:
        """Poll `GET path` on 127.0.0.1:`port` until it answers 200.

        :raise BenchError: the process exited, or did not answer within the deadline.
        """
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if not self.running():
                raise BenchError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            if _answers_200(port, path):
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not answer {path} in time:\n{self.log_tail()}")


def _answers_200(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


def process_tree(root_pid: int) -> set[int]:
    """Return `root_pid` and the pids of all of its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _ppid(entry)
            if ppid is not None:
                parents[int(entry.name)] = ppid
    tree = {root_pid}
    grew = True
    while grew:  # a few passes: a server's tree is two or three levels deep
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def rss_bytes(pids: set[int]) -> int:
    """Sum the resident set size of `pids`, from /proc.

    Shared pages (a forked worker shares its master's) count once per process, as `ps`
    shows them: that is the figure an operator sees.
    """
    return sum(_rss_bytes(pid) for pid in pids)


def cpu_seconds(pids: set[int]) -> float:
    """Sum the user and system CPU time `pids` have used so far, from /proc."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / CLOCK_TICKS


def _ppid(proc_dir: Path) -> int | None:
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:
        return None  # the process ended while we looked
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def settled_rss(root_pid: int, timeout: float = 15.0) -> tuple[set[int], int]:
    """Wait until the process tree of `root_pid` stops changing; return its pids and RSS.

    granian's main process starts its workers, and each worker builds the app once it
    runs: read too early and a worker is missing or half-grown.
    Settled means the same pids and an RSS moving by less than `RSS_NOISE_BYTES` over
    `SETTLE_SAMPLES` samples in a row (returns the last sample at the timeout).
    """
    deadline = time.monotonic() + timeout
    previous: tuple[set[int], int] | None = None
    steady = 0
    while True:
        pids = process_tree(root_pid)
        sample = (pids, rss_bytes(pids))
        if previous and pids == previous[0] and abs(sample[1] - previous[1]) < RSS_NOISE_BYTES:
            steady += 1
        else:
            steady = 0
        if steady >= SETTLE_SAMPLES or time.monotonic() > deadline:
            return sample
        previous = sample
        time.sleep(SETTLE_INTERVAL_SECONDS)
