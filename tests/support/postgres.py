"""A throwaway PostgreSQL with pgvector on a free loopback port, for one test session.

Debian bookworm ships no pgvector package, so the binaries come from, in order: the directory
in `IMAGESERVER_PG_BIN`, the `pgserver` wheel (PostgreSQL 16 with pgvector, from PyPI), or a
Debian `/usr/lib/postgresql/*/bin` whose share directory has `vector.control`. PostgreSQL
refuses to run as root, so under root the cluster belongs to the `postgres` user (override
with `IMAGESERVER_PG_USER`); the process is started as that user directly, so the PID we hold
is the postmaster's and teardown signals exactly it. That user may not reach the binaries (a
checkout in a private folder, mode 0700 as `mktemp -d` makes it, holds the venv's `pgserver`):
then the installation is copied into the cluster's own folder, which the user owns.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.parts import missing_part
from tests.support.server import free_port

PG_BIN_ENV = "IMAGESERVER_PG_BIN"
PG_USER_ENV = "IMAGESERVER_PG_USER"
START_DEADLINE_SECONDS = 30
# The parts of an installation PostgreSQL reads at run time (it finds lib/ and share/ relative
# to its binaries, so a copy of these runs from anywhere).
INSTALL_PARTS = ("bin", "lib", "share")


def _has_vector(bin_dir: Path) -> bool:
    try:
        share = subprocess.run(
            [str(bin_dir / "pg_config"), "--sharedir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return (Path(share) / "extension" / "vector.control").is_file()


def find_pg_bin() -> Path | None:
    """Return a PostgreSQL `bin` directory whose installation has pgvector, or None."""
    candidates = []
    if os.environ.get(PG_BIN_ENV):
        candidates.append(Path(os.environ[PG_BIN_ENV]))
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    return next((path for path in candidates if _has_vector(path)), None)


def require_pg_bin() -> Path:
    """Return a pgvector-capable `bin` directory, or stop the test (`missing_part`)."""
    found = find_pg_bin()
    if found is None:
        missing_part(f"no PostgreSQL with pgvector (pip install pgserver, or set {PG_BIN_ENV})")
    return found


def owner_kwargs() -> dict[str, Any]:
    """Popen arguments that drop root to the cluster's owner (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(os.environ.get(PG_USER_ENV, "postgres"))
    except KeyError:  # a machine without Debian's postgresql packages: any unprivileged user
        user = pwd.getpwnam("nobody")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def owner_passes(owner: dict[str, Any], flag: str, path: Path) -> bool:
    """True when the cluster's owner passes `test FLAG path` (`-x`: may run it, `-w`: write)."""
    return subprocess.run(["test", flag, str(path)], check=False, **owner).returncode == 0


def reachable_bin(owner: dict[str, Any], bin_dir: Path, root: Path) -> Path:
    """`bin_dir` when the owner can run its binaries, else that of a copy inside `root`.

    :raise RuntimeError: not even the copy runs as the owner (the message says which path).
    """
    if owner_passes(owner, "-x", bin_dir / "initdb"):
        return bin_dir
    copied = copy_installation(bin_dir.parent, root / "pginstall")
    if not owner_passes(owner, "-x", copied / "initdb"):
        raise RuntimeError(f"user {owner['user']} can run neither {bin_dir} nor its copy {copied}")
    return copied


def copy_installation(install: Path, copy: Path) -> Path:
    """Copy an installation (`INSTALL_PARTS`) into `copy`, keeping the layout; return its bin.

    pgserver's wheel is `<site>/pgserver/pginstall`, with the shared libraries auditwheel
    moved to `<site>/pgserver.libs`, which the binaries find through `$ORIGIN/../../..`:
    the copy keeps those two levels and that folder.
    """
    package = install.parent
    mirrored = copy / package.name / install.name
    for part in INSTALL_PARTS:
        if (install / part).is_dir():
            shutil.copytree(install / part, mirrored / part, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    return mirrored / "bin"


class PostgresServer:
    """One PostgreSQL cluster in a temp directory, listening on 127.0.0.1 only."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.user = "postgres"  # the database superuser initdb creates (-U), not the OS user
        self.process: subprocess.Popen[bytes] | None = None
        # Not pytest's tmp_path: /tmp/pytest-of-root is 0700, which the postgres user cannot
        # traverse.
        self.root = Path(tempfile.mkdtemp(prefix="imageserver-pg-"))
        self.log_path = self.root / "postgres.log"

    def start(self) -> PostgresServer:
        """Create the cluster, start it, and wait until it answers `SELECT 1`."""
        owner = owner_kwargs()
        if owner:
            self._hand_over(owner)
        data = self.root / "data"
        initdb = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust"]
            + ["--no-sync", "-E", "UTF8"],
            capture_output=True,
            text=True,
            **owner,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({self.bin_dir}):\n{initdb.stderr}")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process owns it until stop()
        self.process = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1"]
            + ["-p", str(self.port), "-k", str(self.root), "-c", "fsync=off"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **owner,
        )
        log.close()
        self._wait_until_ready()
        self.sql("CREATE EXTENSION IF NOT EXISTS vector")
        return self

    def _hand_over(self, owner: dict[str, Any]) -> None:
        """Give the cluster's folder to `owner`, and binaries it can run (a copy if need be).

        :raise RuntimeError: the owner cannot write the folder (a private TMPDIR).
        """
        os.chown(self.root, owner["user"], owner["group"])
        if not owner_passes(owner, "-w", self.root):
            raise RuntimeError(
                f"user {owner['user']} cannot reach {self.root}: set TMPDIR to a folder "
                "every user can enter (PostgreSQL will not run as root)"
            )
        self.bin_dir = reachable_bin(owner, self.bin_dir, self.root)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited early:\n{self.log()}")
            probe = subprocess.run(self._psql_args("SELECT 1"), capture_output=True)
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not answer in time:\n{self.log()}")

    def _psql_args(self, sql: str) -> list[str]:
        return [str(self.bin_dir / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1"] + [
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            "postgres",
            "-c",
            sql,
        ]

    def sql(self, sql: str) -> list[list[str]]:
        """Run one statement with psql; return its rows as lists of text fields."""
        result = subprocess.run(self._psql_args(sql), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return [line.split("|") for line in result.stdout.splitlines() if line]

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of our postmaster by PID, then remove the cluster."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
