"""What the repository says names what exists (issue 28). Fast, no server, no network.

- every `*.py` path named in README.md, SECURITY.md, docs/, deploy/, examples/*/README.md and
  in the docstrings and comments of `imageserver/` (and of bench/, examples/ and the top-level
  scripts) is a file of the repository;
- every `imageserver.<module>` (and `imageserver.<module>.<name>`, `<module>:<name>`) they
  name is a module of the package, and the name one that module defines;
- docs/ARCHITECTURE.md's layer table names each module in its own folder;
- README's "Layout" block names every sub-package of `imageserver/`, and no module it lists
  is missing from its sub-package;
- nothing users can read cites the specification's section numbers (`B.3`, `CONTRACT A.6`):
  users do not have it, so the code and docs cite `docs/...` instead.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imageserver"
SKIPPED_PARTS = {".git", ".venv", "node_modules", "__pycache__", "output", "dist", "build"}

# A `*.py` name, with or without folders, not inside a longer name or URL.
PY_PATH = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[A-Za-z_]\w*\.py)(?![\w/])")
# `imageserver.a.b` or `imageserver.a:b`, not a host name or a systemd unit (`.service`).
DOTTED = re.compile(r"(?<![\w./-])imageserver((?:\.[A-Za-z_]\w*)+)(?::([A-Za-z_]\w*))?")
NOT_MODULES = {"imageserver.service"}  # deploy/'s system unit
# `loader.run`, `security.confinement.is_within`: a sub-package's module or name, quoted.
QUOTED_DOTTED = re.compile(r"`([a-z_]+)(?:\.[A-Za-z_]\w*)*\.([A-Za-z_]\w*)`")
FILE_SUFFIXES = {"py", "js", "css", "html", "json", "md", "sqlite3", "toml", "txt", "sh"}
SUB_PACKAGES = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
# A section of the specification: `B.3`, `A.6`, `D.1` (a capital A-F, a dot, a number).
SECTION = re.compile(r"(?<![\w.])[A-F]\.\d+(?!\w|\.\d)")
CONTRACT = re.compile(r"\bcontract\b", re.IGNORECASE)


@cache
def repository_files() -> tuple[Path, ...]:
    """Every file of the checkout, without virtualenvs, caches and run output."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(name for name in subfolders if name not in SKIPPED_PARTS)
        found += [Path(folder, name) for name in sorted(files)]
    return tuple(found)


@cache
def python_files() -> frozenset[str]:
    """The repository's `*.py` files, as paths relative to the root."""
    return frozenset(
        path.relative_to(ROOT).as_posix() for path in repository_files() if path.suffix == ".py"
    )


def documents() -> list[Path]:
    """The prose users read: the top-level guides, docs/, deploy/, the examples' READMEs."""
    found = [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "NGROK_SETUP.md"]
    found += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "examples").glob("*/README.md"))
    found += sorted(path for path in (ROOT / "deploy").iterdir() if path.is_file())
    return found


def package_sources() -> list[Path]:
    """The package's modules, and the scripts, benchmarks and examples around it."""
    folders = ("imageserver", "bench", "examples")
    return sorted(
        path
        for path in repository_files()
        if path.suffix == ".py"
        and (path.parent == ROOT or path.relative_to(ROOT).parts[0] in folders)
    )


def docstrings_and_comments(path: Path) -> str:
    """The docstrings (module, class, function) and the `#` comments of a source file."""
    source = path.read_text(encoding="utf-8")
    parts = [
        ast.get_docstring(node, clean=False) or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    parts += [token.string for token in tokens if token.type == tokenize.COMMENT]
    return "\n".join(parts)


@cache
def texts() -> list[tuple[Path, str]]:
    """Each document's text, and the docstrings and comments of our code (tests aside)."""
    found = [(path, path.read_text(encoding="utf-8")) for path in documents()]
    return found + [(path, docstrings_and_comments(path)) for path in package_sources()]


def names_a_file(name: str, where: Path) -> bool:
    """Tell whether `name` (`x.py` or `a/b/x.py`) is a file, read as `where` would mean it.

    A bare name may be any file of that name. A path counts from the root, from the package
    (docs write `engines/asgi.py`) or from any folder above the text that names it.
    """
    files = python_files()
    if "/" not in name:
        return any(file == name or file.endswith("/" + name) for file in files)
    bases = [ROOT, PACKAGE, *where.parents]
    return any((base / name).is_file() for base in bases if base == ROOT or ROOT in base.parents)


def stale_py_paths(text: str, where: Path) -> set[str]:
    return {name for name in PY_PATH.findall(text) if not names_a_file(name, where)}


@cache
def defined_names(module_file: Path) -> frozenset[str]:
    """The top-level names a module defines or imports (what `module.name` can reach)."""
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return frozenset(names)


def module_problem(dotted: str, attribute: str | None) -> str | None:
    """Tell what is wrong with `imageserver.<dotted>[:attribute]` (None: it exists)."""
    parts = dotted.strip(".").split(".")
    if attribute:
        parts.append(attribute)
    folder = PACKAGE
    for index, part in enumerate(parts):
        if (folder / part).is_dir() and (folder / part / "__init__.py").is_file():
            folder = folder / part
            continue
        module = folder / f"{part}.py" if (folder / f"{part}.py").is_file() else None
        if module is None:
            init = folder / "__init__.py"
            if index > 0 and part in defined_names(init):
                return None if index == len(parts) - 1 else "names inside a package attribute"
            return f"no module {part!r} in {folder.relative_to(ROOT).as_posix()}/"
        rest = parts[index + 1 :]
        if len(rest) > 1:
            return f"{'.'.join(rest)}: too deep for one module"
        if rest and rest[0] not in defined_names(module):
            return f"{module.relative_to(ROOT).as_posix()} defines no {rest[0]!r}"
        return None
    return None


def stale_modules(text: str) -> set[str]:
    """The `imageserver.*` names, and the quoted `<sub-package>.<name>`s, that do not exist."""
    named = [
        (match.group(0), match.group(1), match.group(2))
        for match in DOTTED.finditer(text)
        if match.group(0) not in NOT_MODULES
    ]
    for match in QUOTED_DOTTED.finditer(text):
        if match.group(1) in SUB_PACKAGES and match.group(2) not in FILE_SUFFIXES:
            named.append((match.group(0), "." + match.group(0).strip("`"), None))
    found = set()
    for shown, dotted, attribute in named:
        problem = module_problem(dotted, attribute)
        if problem:
            found.add(f"{shown} ({problem})")
    return found


def published_files() -> list[Path]:
    """Everything a user of the repository reads or runs, tests and the changelog aside."""
    top = [ROOT / name for name in ("README.md", "SECURITY.md", "NGROK_SETUP.md", ".env.example")]
    top += sorted(ROOT.glob("*.py")) + sorted(ROOT.glob("*.sh"))
    folders = ("imageserver", "deploy", "docs", "examples", "scripts")
    nested = [path for path in repository_files() if path.relative_to(ROOT).parts[0] in folders]
    return [path for path in top + sorted(nested) if path.suffix not in {".png", ".jpg"}]


def section_citations(text: str) -> list[str]:
    """The specification's section numbers and mentions of it that `text` holds."""
    return SECTION.findall(text) + CONTRACT.findall(text)


def layout_entries() -> dict[str, str]:
    """README's "Layout" block: each `imageserver/` sub-package and its text, lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("\n## Layout\n") :].split("```")[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        folder = re.match(r"^  ([a-z_]+)/\s+(.*)$", line)
        if folder:
            current = folder.group(1)
            entries[current] = folder.group(2)
        elif current and re.match(r"^\s{4,}\S", line):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def listed_modules(text: str) -> list[str]:
    """The one-word items after the first `: ` of a layout entry (`store`, `routes/`)."""
    _, _, listing = re.sub(r"\s*\([^)]*\)", "", text).partition(": ")
    items = [item.strip() for part in listing.split(",") for item in part.split("+")]
    return [item for item in items if re.fullmatch(r"[a-z_]+/?", item)]


def missing_from(package: str, names: list[str]) -> list[str]:
    """The names that are neither a module (`x.py`) nor a folder (`x/`) of the sub-package."""
    folder = PACKAGE / package
    return [
        name
        for name in names
        if not (
            (folder / name).is_dir() if name.endswith("/") else (folder / f"{name}.py").is_file()
        )
    ]


def architecture_rows() -> dict[str, str]:
    """docs/ARCHITECTURE.md's layer table: each folder and its "what it holds" cell."""
    rows: dict[str, str] = {}
    for line in (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0].strip("`/")] = cells[2]
    return rows


def label(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_texts_to_check_are_read():
    names = {label(path) for path, _ in texts()}
    assert {"README.md", "SECURITY.md", "docs/ARCHITECTURE.md", "docs/CLI.md"} <= names
    assert "deploy/imageserver.service" in names
    assert "imageserver/engines/asgi.py" in names


def test_the_path_reader_finds_paths_and_tells_stale_ones():
    text = "`engines/asgi.py` runs it; nowhere.py (never was); see load_folder_v2.py and x.pyc"
    assert set(PY_PATH.findall(text)) == {"engines/asgi.py", "nowhere.py", "load_folder_v2.py"}
    assert stale_py_paths(text, ROOT / "README.md") == {"nowhere.py"}
    assert stale_py_paths("`routes/auth.py`", PACKAGE / "web" / "app.py") == set()
    assert stale_py_paths("`routes/auth.py`", ROOT / "README.md") == {"routes/auth.py"}


def test_the_module_reader_tells_stale_modules():
    assert stale_modules("imageserver.wsgi:application and imageserver.engines.wsgi") == set()
    assert stale_modules("imageserver.service and `imageserver.settings.config.SETTINGS`") == set()
    assert stale_modules("`loader.run`, `security.confinement.is_within`, `x.y`") == set()
    assert stale_modules("`loader.cli` and `security.is_within`") == {
        "`loader.cli` (no module 'cli' in imageserver/loader/)",
        "`security.is_within` (no module 'is_within' in imageserver/security/)",
    }
    assert stale_modules("imageserver.nowhere, imageserver.wsgi:nothing") == {
        "imageserver.nowhere (no module 'nowhere' in imageserver/)",
        "imageserver.wsgi:nothing (imageserver/wsgi.py defines no 'nothing')",
    }


@pytest.mark.parametrize("path_text", texts(), ids=lambda pt: label(pt[0]))
def test_every_py_path_named_is_a_file(path_text):
    path, text = path_text
    assert stale_py_paths(text, path) == set()


@pytest.mark.parametrize("path_text", texts(), ids=lambda pt: label(pt[0]))
def test_every_module_named_is_a_module_of_the_package(path_text):
    _, text = path_text
    assert stale_modules(text) == set()


def test_the_section_reader_finds_citations_and_nothing_else():
    text = "within 5 s (CONTRACT B.3); the loader's (A.6) key; D.1 pins; E.5."
    assert section_citations(text) == ["B.3", "A.6", "D.1", "E.5", "CONTRACT"]
    assert section_citations("v1.2, 0.25 s, F.12x, a.b.C.1, granian 2.7.0, 1.5x, HTTP/1.1") == []


def test_nothing_users_read_cites_the_specification():
    cited = {
        label(path): found
        for path in published_files()
        if (found := section_citations(path.read_text(encoding="utf-8", errors="replace")))
    }
    assert "imageserver/web/app.py" in {label(path) for path in published_files()}
    assert cited == {}, "cite docs/... instead: users do not have the specification"


def test_the_readme_layout_names_every_sub_package():
    assert set(layout_entries()) == SUB_PACKAGES


@pytest.mark.parametrize("package", sorted(SUB_PACKAGES))
def test_the_readme_layout_lists_only_modules_of_each_sub_package(package):
    listed = listed_modules(layout_entries().get(package, ""))
    assert listed, f"the layout names no module of {package}/"
    assert missing_from(package, listed) == []


def test_the_layout_reader_reads_modules_and_folders():
    text = "the Flask app: app (its factory), routes/, wsgi + wsgi_fastpath, the rest of it"
    assert listed_modules(text) == ["app", "routes/", "wsgi", "wsgi_fastpath"]
    assert missing_from("web", ["app", "routes/", "media_types", "gallery/"]) == [
        "media_types",
        "gallery/",
    ]


def test_the_architecture_table_has_one_row_per_sub_package():
    assert set(architecture_rows()) == SUB_PACKAGES


@pytest.mark.parametrize("package", sorted(SUB_PACKAGES))
def test_the_architecture_table_names_modules_in_their_own_folder(package):
    # What a module is for is said in brackets (`load.py` (`load_folder_v2.py`)): not a module.
    cell = re.sub(r"\([^)]*\)", "", architecture_rows().get(package, ""))
    named = re.findall(r"`([\w/]+\.py|[\w]+/)`", cell)
    assert named, f"the table names no module of {package}/"
    # `web/video_loading.py` in the video row: a path from the package; `routes/`: a folder.
    missing = [
        name
        for name in named
        if not (PACKAGE / package / name).exists() and not (PACKAGE / name).exists()
    ]
    assert missing == []
