"""The package's layers import only what docs/ARCHITECTURE.md allows, and old paths still work.

The rules are read from the import-rules table of docs/ARCHITECTURE.md ("may import"), so
the document and this test cannot disagree. Every import statement of every module is read
with `ast`: absolute and relative (`from .client import ...`), at the top of a module and
inside functions, so a rule broken anywhere fails here rather than in a reviewer's head.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "imageserver"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
RULES_HEADER = "| layer | may import |"
EVERY_LAYER = "every layer"
NOTHING = "nothing of ours"
# The import paths users and scripts name, kept as re-exports (docs/ARCHITECTURE.md).
OLD_PATHS = {
    "imageserver.asgi": "create_asgi_application",
    "imageserver.wsgi": "application",
    "imageserver.command": "main",
    "imageserver.settings_query": "main",
}


def sub_packages() -> set[str]:
    return {path.parent.name for path in PACKAGE.glob("*/__init__.py")}


@cache
def rules() -> dict[str, frozenset[str]]:
    """Each layer and what it may import (`flask`, or layer names), from the rules table."""
    lines = ARCHITECTURE.read_text(encoding="utf-8").splitlines()
    start = lines.index(RULES_HEADER) + 2  # after the header and its |---| line
    found: dict[str, frozenset[str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        layer_cell, allowed_cell = (cell.strip() for cell in line.strip("|").split("|"))
        layer = layer_cell.strip("`/")
        if allowed_cell == EVERY_LAYER:
            found[layer] = frozenset(sub_packages() | {"flask"})
        elif allowed_cell == NOTHING:
            found[layer] = frozenset()
        else:
            found[layer] = frozenset(re.findall(r"`([a-z_]+)`", allowed_cell))
    return found


def module_name(path: Path) -> list[str]:
    """`imageserver/mcp/stdio.py` -> ["imageserver", "mcp", "stdio"] (a package: its name)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: Path, name: list[str] | None = None) -> set[str]:
    """Return every module a source file imports, relative imports made absolute.

    :param name: the file's module name as parts (default: from its place in the package).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    """The layer an imported module belongs to: ours by sub-package, `flask` for Flask."""
    parts = module.split(".")
    if parts[0] == "flask":
        return "flask"
    if parts[0] == "imageserver" and len(parts) > 1 and parts[1] in sub_packages():
        return parts[1]
    return None


def breaches(layer: str, imported: set[str]) -> list[str]:
    """The imported modules that `layer`'s rule does not allow."""
    allowed = rules()[layer] | {layer}
    return sorted(m for m in imported if (target := layer_of(m)) and target not in allowed)


def offences(layer: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in breaches(layer, imported_modules(path))
    ]


def test_the_rules_table_has_one_row_per_sub_package():
    assert set(rules()) == sub_packages()


def test_the_rules_name_only_layers_and_flask():
    named = set().union(*rules().values())
    assert named <= sub_packages() | {"flask"}


def test_the_rules_are_read_as_written():
    assert rules()["settings"] == frozenset()
    assert rules()["state"] == {"settings", "security"}
    assert "flask" in rules()["web"] and "flask" not in rules()["hotpath"]
    assert rules()["cli"] >= sub_packages()


def test_the_gallery_sits_above_web_with_no_cycle():
    assert breaches("web", {"imageserver.gallery.views"}) == ["imageserver.gallery.views"]
    assert breaches("gallery", {"imageserver.web.session", "flask"}) == []
    assert breaches("engines", {"imageserver.gallery", "imageserver.web.app"}) == []


@pytest.mark.parametrize("layer", sorted(sub_packages()))
def test_a_layer_imports_only_what_its_rule_allows(layer: str) -> None:
    assert offences(layer) == []


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
    imported = imported_modules(source, ["imageserver", "state", "lazy"])
    assert {"flask", "flask.request", "imageserver.web.app"} <= imported


def test_the_rule_reader_makes_relative_imports_absolute() -> None:
    imported = imported_modules(PACKAGE / "mcp" / "stdio.py")
    assert "imageserver.mcp.client" in imported
    assert all(not name.startswith(".") for name in imported)


def test_a_relative_import_that_breaks_a_rule_is_caught(tmp_path: Path) -> None:
    # A module of `state/` reaching up to `web/` through `..`: resolved, then refused.
    source = tmp_path / "probe.py"
    source.write_text("from ..web import app\nfrom . import store\nfrom .. import settings\n")
    imported = imported_modules(source, ["imageserver", "state", "probe"])
    assert imported == {
        "imageserver.web",
        "imageserver.web.app",
        "imageserver.state.store",
        "imageserver.settings",
    }
    assert breaches("state", imported) == ["imageserver.web", "imageserver.web.app"]
