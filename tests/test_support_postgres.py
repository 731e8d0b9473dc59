"""The throwaway PostgreSQL runs wherever the checkout lives (tests/support/postgres.py).

As root, PostgreSQL runs as another user, who cannot enter a checkout in a private folder
(mode 0700, as `mktemp -d` makes it, and as pytest's own temp folders are). The installation
is then copied where that user can run it; here it is put out of reach on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.postgres import copy_installation
from tests.support.postgres import owner_kwargs
from tests.support.postgres import reachable_bin
from tests.support.postgres import require_pg_bin


def private_installation(tmp_path: Path) -> Path:
    """A copy of the found installation inside a 0700 folder; return its bin folder."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    return copy_installation(require_pg_bin().parent, private / "site")


def test_binaries_the_owner_cannot_reach_are_run_from_a_copy(tmp_path: Path) -> None:
    bin_dir = private_installation(tmp_path)
    owner = owner_kwargs()
    cluster_root = Path(tempfile.mkdtemp(prefix="imageserver-pg-test-"))
    try:
        if owner:
            os.chown(cluster_root, owner["user"], owner["group"])
        runnable = reachable_bin(owner, bin_dir, cluster_root)
        if owner:  # root: the cluster's owner cannot enter `private`, so it runs a copy
            assert runnable.is_relative_to(cluster_root), runnable
        else:  # not root: the tests' own user runs PostgreSQL, and reaches its own folders
            assert runnable == bin_dir
        version = subprocess.run(
            [str(runnable / "initdb"), "--version"], capture_output=True, text=True, **owner
        )
        assert version.returncode == 0, version.stderr
        assert version.stdout.startswith("initdb (PostgreSQL)")
    finally:
        shutil.rmtree(cluster_root, ignore_errors=True)
