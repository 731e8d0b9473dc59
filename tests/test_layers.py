"""The package's layers import downwards only (docs/ARCHITECTURE.md), and old paths still work.

Every import statement of every module is read with `ast` (lazy imports inside functions
included), so a rule broken anywhere fails here rather than in a reviewer's head.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imageserver"

# Layer -> the top-level modules it must never import (ours as `imageserver.<layer>`).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "settings": (
        "flask",
        "imageserver.state",
        "imageserver.hotpath",
        "imageserver.engines",
        "imageserver.web",
        "imageserver.security",
        "imageserver.observability",
        "imageserver.cli",
        "imageserver.variants",
        "imageserver.watch",
        "imageserver.publish",
        "imageserver.loader",
        "imageserver.gallery",
    ),
    "state": (
        "flask",
        "imageserver.hotpath",
        "imageserver.engines",
        "imageserver.web",
        "imageserver.cli",
        "imageserver.gallery",
        "imageserver.watch",
        "imageserver.publish",
        "imageserver.loader",
    ),
    "hotpath": (
        "flask",
        "imageserver.web",
        "imageserver.engines",
        "imageserver.cli",
        "imageserver.gallery",
    ),
    "security": (
        "flask",
        "imageserver.web",
        "imageserver.engines",
        "imageserver.cli",
        "imageserver.gallery",
    ),
    "observability": ("imageserver.web", "imageserver.engines", "imageserver.cli"),
    "variants": ("flask", "imageserver.web", "imageserver.engines", "imageserver.cli"),
    "watch": ("flask", "imageserver.web", "imageserver.engines", "imageserver.cli"),
    "publish": ("imageserver.web", "imageserver.engines", "imageserver.cli"),
    "loader": ("flask", "imageserver.web", "imageserver.engines", "imageserver.cli"),
    "uploads": ("flask", "imageserver.web", "imageserver.engines", "imageserver.cli"),
    # Video in and frame engines (#23): framework-free, reached by web/ and loader/ only.
    "video": (
        "flask",
        "imageserver.web",
        "imageserver.engines",
        "imageserver.cli",
        "imageserver.state",
        "imageserver.hotpath",
    ),
    "frames": ("flask", "imageserver.web", "imageserver.engines", "imageserver.cli"),
    # Background jobs (#29): run by web workers and their own processes, never serve HTTP.
    "jobs": (
        "flask",
        "imageserver.web",
        "imageserver.engines",
        "imageserver.cli",
        "imageserver.gallery",
        "imageserver.hotpath",
    ),
    "web": ("imageserver.engines", "imageserver.cli"),
    # The MCP tools reach the server through its HTTP API only (the same code paths).
    "mcp": (
        "flask",
        "imageserver.web",
        "imageserver.engines",
        "imageserver.state",
        "imageserver.cli",
        "imageserver.hotpath",
    ),
    "gallery": ("imageserver.engines", "imageserver.cli"),
}
# The import paths users and scripts name, kept as re-exports (docs/ARCHITECTURE.md).
OLD_PATHS = {
    "imageserver.asgi": "create_asgi_application",
    "imageserver.wsgi": "application",
    "imageserver.command": "main",
    "imageserver.settings_query": "main",
}


def imported_modules(path: Path) -> set[str]:
    """Return every module a source file imports, absolute names only."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    """Tell whether `module` is, or lies inside, one of the forbidden modules."""
    return any(module == bad or module.startswith(bad + ".") for bad in forbidden)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer: str) -> None:
    offences = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in sorted(imported_modules(path))
        if breaks(module, FORBIDDEN[layer])
    ]
    assert offences == []


def test_the_package_root_holds_only_entry_points_and_old_paths() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == {"__main__", *(name.rsplit(".", 1)[1] for name in OLD_PATHS)}


@pytest.mark.parametrize("old_path", sorted(OLD_PATHS))
def test_an_old_import_path_still_imports(
    old_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `imageserver.wsgi` builds its app at import: give it a state folder of its own.
    monkeypatch.setenv("IMAGE_SERVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("IMAGE_SERVER_ENV_FILE", str(tmp_path / "none.env"))
    module = importlib.import_module(old_path)
    assert callable(getattr(module, OLD_PATHS[old_path]))


def test_the_rule_reader_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from flask import request\n    import imageserver.web.app\n")
    assert {"flask", "flask.request", "imageserver.web.app"} <= imported_modules(source)
