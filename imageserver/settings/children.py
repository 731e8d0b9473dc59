"""How the server starts its own helper processes (video probe, extraction jobs).

A child runs `python -m imageserver.<module>` with this interpreter. It must import this
very package, not another copy that happens to be on `sys.path` (a checkout run from another
folder has none; a second checkout would be the wrong code), so the folder holding the
package goes first on its `PYTHONPATH`. The rest of the environment is inherited, so the
child reads the same settings.
"""

from __future__ import annotations

import os
import sys

from imageserver.settings.places import PACKAGE_DIR


def module_command(module: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """Return the argv and environment that run `module` of this package in a new process."""
    env = dict(os.environ)
    home = str(PACKAGE_DIR.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (home, env.get("PYTHONPATH")) if p)
    return [sys.executable, "-m", module, *args], env
